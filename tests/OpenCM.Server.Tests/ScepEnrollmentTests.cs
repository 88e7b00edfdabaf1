using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using OpenCM.Application;
using OpenCM.Composition;
using OpenCM.Domain;
using OpenCM.TestKit;

namespace OpenCM.Server.Tests;

/// <summary>SCEP enrollments through the device enrollment engine (issue #24.3): real requests, real certificates, approvals.</summary>
public class ScepEnrollmentTests : IClassFixture<ScepFixture>
{
    private const string Route = "/CertificateManagement/scep";
    private readonly ScepFixture _server;

    public ScepEnrollmentTests(ScepFixture server) => _server = server;

    // Debian's scepclient enrolls on the auto-approved sample; openssl verifies what it got; the request is an ordinary, completed one of the challenge's user.
    // Then it renews: run again with that certificate, it sends a RenewalReq signed by it and gets a new one.
    [SkippableFact]
    public async Task ScepClient_AutoApproved_IssuedVerifiedRenewed()
    {
        ScepClientTool.SkipIfMissing();
        var (secret, user) = await _server.ChallengeAsync("tls-server");
        using var dir = new TempDirectory();
        string[] args = ["-server-url", _server.ScepUrl, "-private-key", dir.File("key.pem"), "-challenge", secret, "-cn", "device0.test", "-ca-fingerprint", await _server.RaFingerprintAsync()];
        var (exit, output) = await ScepClientTool.RunAsync(dir.Path, TimeSpan.FromMinutes(2), args);
        Assert.True(exit == 0, output);
        Assert.Contains("pkiStatus=SUCCESS", output, StringComparison.Ordinal);

        await File.WriteAllTextAsync(dir.File("chain.pem"), await _server.CreateClient().GetStringAsync("/CertificateManagement/ca/chain.pem"));
        Assert.Contains("client.pem: OK", await OpenSsl.CheckAsync(dir.Path, ["verify", .. OpenSsl.At(_server.Clock.GetUtcNow()), "-CAfile", "chain.pem", "-purpose", "sslserver", "client.pem"]), StringComparison.Ordinal);
        var text = await OpenSsl.CheckAsync(dir.Path, "x509", "-in", "client.pem", "-noout", "-subject", "-ext", "subjectAltName");
        Assert.Contains("CN = device0.test", text, StringComparison.Ordinal);
        Assert.Contains("DNS:device0.test", text, StringComparison.Ordinal);
        using var first = X509Certificate2.CreateFromPem(await File.ReadAllTextAsync(dir.File("client.pem")));

        var request = Assert.Single(await RequestsOfAsync(user));
        Assert.Equal(RequestStatus.Completed, (RequestStatus)request.GetProperty("Status").GetInt32());
        Assert.StartsWith("SCEP PKCSReq from ", request.GetProperty("Comment").GetString(), StringComparison.Ordinal);

        // The renewal: scepclient finds client.pem and signs a RenewalReq with it (no challenge).
        (exit, output) = await ScepClientTool.RunAsync(dir.Path, TimeSpan.FromMinutes(2), args);
        Assert.True(exit == 0, output);
        using var renewed = X509Certificate2.CreateFromPem(await File.ReadAllTextAsync(dir.File("client.pem")));
        Assert.NotEqual(first.SerialNumber, renewed.SerialNumber);
        Assert.Equal(first.PublicKey.ExportSubjectPublicKeyInfo(), renewed.PublicKey.ExportSubjectPublicKeyInfo());
        Assert.Equal(2, (await RequestsOfAsync(user)).Count);
    }

    // A template with two approvals: scepclient waits PENDING (resending every 30 s) until two
    // approvers approve in the portal (issue #24, "Done means": signed in with a password, the
    // request page's Approve), then gets its certificate.
    [SkippableFact]
    public async Task ScepClient_TwoApprovals_PendingUntilApproved()
    {
        ScepClientTool.SkipIfMissing();
        var (secret, user) = await _server.ChallengeAsync("scep-approved-device");
        using var dir = new TempDirectory();
        var run = ScepClientTool.RunAsync(dir.Path, TimeSpan.FromMinutes(4), "-server-url", _server.ScepUrl, "-private-key", dir.File("key.pem"), "-challenge", secret,
            "-cn", "device1.test", "-ca-fingerprint", await _server.RaFingerprintAsync());

        var id = await WaitForRequestAsync(user, run);
        Assert.Equal(RequestStatus.Pending, await StatusAsync(id));
        Assert.False(run.IsCompleted);
        foreach (var approver in new[] { await _server.UserAsync("appr", "CM Approvers"), await _server.UserAsync("appr", "CM Approvers") })
        {
            var voted = await ApproveInThePortalAsync(approver, id);
            Assert.True(voted.StatusCode is HttpStatusCode.Redirect or HttpStatusCode.OK, $"{voted.StatusCode}");
        }

        var (exit, output) = await run;
        Assert.True(exit == 0, output);
        Assert.Contains("pkiStatus=PENDING", output, StringComparison.Ordinal);
        Assert.Contains("pkiStatus=SUCCESS", output, StringComparison.Ordinal);
        Assert.Equal(RequestStatus.Completed, await StatusAsync(id));
        await File.WriteAllTextAsync(dir.File("chain.pem"), await _server.CreateClient().GetStringAsync("/CertificateManagement/ca/chain.pem"));
        Assert.Contains("client.pem: OK", await OpenSsl.CheckAsync(dir.Path, ["verify", .. OpenSsl.At(_server.Clock.GetUtcNow()), "-CAfile", "chain.pem", "client.pem"]), StringComparison.Ordinal);
        Assert.Contains("DNS:device1.test", await OpenSsl.CheckAsync(dir.Path, "x509", "-in", "client.pem", "-noout", "-ext", "subjectAltName"), StringComparison.Ordinal);
    }

    // The portal as a browser uses it: a password sign-in, then the request page's vote form (antiforgery token and all).
    private async Task<HttpResponseMessage> ApproveInThePortalAsync(Principal approver, Guid id)
    {
        const string Password = "an approver's portal password";
        await _server.Services.GetRequiredService<Passwords>().SetAsync(new AuditContext(Guid.Empty, "test"), approver, Password);
        var browser = _server.CreateClient(new Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true, BaseAddress = _server.CreateClient().BaseAddress! });
        async Task<HttpResponseMessage> PostAsync(string page, string target, params (string Name, string Value)[] fields)
        {
            var token = System.Text.RegularExpressions.Regex.Match(await browser.GetStringAsync(page), "name=\"__RequestVerificationToken\" type=\"hidden\" value=\"([^\"]+)\"").Groups[1].Value;
            return await browser.PostAsync(target, new FormUrlEncodedContent([KeyValuePair.Create("__RequestVerificationToken", token), .. fields.Select(f => KeyValuePair.Create(f.Name, f.Value))]));
        }

        // Over Kestrel the client follows the sign-in's redirect to the home page, which greets the approver.
        var signedIn = await PostAsync("/CertificateManagement/signin", "/CertificateManagement/signin", ("name", approver.Name), ("password", Password));
        Assert.True(signedIn.StatusCode == HttpStatusCode.Redirect || (await signedIn.Content.ReadAsStringAsync()).Contains($"Hello, {approver.Name}", StringComparison.Ordinal));
        var page = $"/CertificateManagement/requests/{id}";
        return await PostAsync(page, page + "?handler=Vote", ("decision", "approve"), ("comment", "approved in the portal"));
    }

    // The same PKCSReq again is its transaction's resend: the same certificate, no second request. Another transaction with the challenge is refused.
    [Fact]
    public async Task PkcsReq_Resent_SameCertificateOneRequest()
    {
        var (secret, user) = await _server.ChallengeAsync("tls-server");
        using var client = new TestScepClient();
        var ra = (await _server.Services.GetRequiredService<ScepRaKeys>().CurrentAsync()).Certificate;
        var message = client.Message(ScepMessageTypes.PKCSReq, client.Csr("host1.test", secret), ra);

        var first = TestScepClient.Read(await TestScepClient.PostAsync(_server.CreateClient(), Route, message), ra);
        var again = TestScepClient.Read(await TestScepClient.PostAsync(_server.CreateClient(), Route, message), ra);
        Assert.Equal(("0", "0"), (first.Status, again.Status));
        Assert.Equal(Issued(first, client.Key).RawData, Issued(again, client.Key).RawData);
        Assert.Single(await RequestsOfAsync(user));

        using var other = new TestScepClient();
        var refused = TestScepClient.Read(await TestScepClient.PostAsync(_server.CreateClient(), Route, other.Message(ScepMessageTypes.PKCSReq, other.Csr("host2.test", secret), ra)), ra);
        Assert.Equal(("2", "2"), (refused.Status, refused.FailInfo));
        Assert.Single(await RequestsOfAsync(user));
    }

    // RFC 8894 §3.3.3: PENDING, then CertPoll (GetCertInitial) with the same transactionID until approvers decide; approved: SUCCESS; denied: FAILURE.
    [Theory]
    [InlineData("Approve", "0")]
    [InlineData("Deny", "2")]
    public async Task CertPoll_Pending_ThenTheDecision(string decision, string finalStatus)
    {
        var (secret, user) = await _server.ChallengeAsync("scep-approved-device");
        using var client = new TestScepClient();
        var ra = (await _server.Services.GetRequiredService<ScepRaKeys>().CurrentAsync()).Certificate;
        var http = _server.CreateClient();
        var pending = TestScepClient.Read(await TestScepClient.PostAsync(http, Route, client.Message(ScepMessageTypes.PKCSReq, client.Csr("poll.test", secret), ra)), ra);
        Assert.Equal("3", pending.Status);
        var poll = client.Message(ScepMessageTypes.CertPoll, TestScepClient.IssuerAndSubject(ra), ra);
        Assert.Equal("3", TestScepClient.Read(await TestScepClient.PostAsync(http, Route, poll), ra).Status);

        var id = Assert.Single(await RequestsOfAsync(user)).GetProperty("Uuid").GetGuid();
        var votes = decision == "Approve" ? 2 : 1;
        for (var i = 0; i < votes; i++)
        {
            var approver = await (await _server.ClientAsync(await _server.UserAsync("appr", "CM Approvers"))).VoteAsync(id, decision);
            Assert.Equal(HttpStatusCode.OK, approver.StatusCode);
        }

        var answer = TestScepClient.Read(await TestScepClient.PostAsync(http, Route, poll), ra);
        Assert.Equal(finalStatus, answer.Status);
        if (finalStatus == "0")
        {
            Assert.Equal(["poll.test"], Issued(answer, client.Key).Extensions.OfType<X509SubjectAlternativeNameExtension>().Single().EnumerateDnsNames());
        }
        else
        {
            Assert.Equal("2", answer.FailInfo);
        }
    }

    // The certificate in a SUCCESS: the envelope opens with the requester's key, the first certificate of the certs-only PKCS#7.
    private static X509Certificate2 Issued(TestScepClient.Reply reply, RSA key)
    {
        var envelope = new EnvelopedCms();
        envelope.Decode(reply.Content);
        envelope.Decrypt(envelope.RecipientInfos[0], key);
        var certsOnly = new SignedCms();
        certsOnly.Decode(envelope.ContentInfo.Content);
        return certsOnly.Certificates[0];
    }

    private async Task<List<JsonElement>> RequestsOfAsync(Principal user)
    {
        var admin = await _server.AdminAsync();
        var list = await (await admin.GetAsync(ServerFixture.Api + "/requests?top=1000")).JsonAsync();
        return [.. list.EnumerateArray().Where(r => r.GetProperty("TargetUserUuid").GetGuid() == user.Uuid)];
    }

    private async Task<RequestStatus> StatusAsync(Guid id)
    {
        var admin = await _server.AdminAsync();
        return (RequestStatus)(await (await admin.GetAsync($"{ServerFixture.Api}/requests/{id}")).JsonAsync()).GetProperty("Status").GetInt32();
    }

    private async Task<Guid> WaitForRequestAsync(Principal user, Task<(int ExitCode, string Output)> run)
    {
        for (var i = 0; i < 600; i++)
        {
            if (run.IsCompleted)
            {
                Assert.Fail("scepclient ended before its request was filed: " + (await run).Output);
            }

            if ((await RequestsOfAsync(user)).FirstOrDefault() is { ValueKind: JsonValueKind.Object } found)
            {
                return found.GetProperty("Uuid").GetGuid();
            }

            await Task.Delay(100);
        }

        throw new TimeoutException("scepclient's request did not appear within a minute.");
    }
}
