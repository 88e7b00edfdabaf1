using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using OpenCM.Application;
using OpenCM.Authority;
using OpenCM.Composition;
using OpenCM.TestKit;

namespace OpenCM.Server.Tests;

/// <summary>
/// EST over real TLS (issue #24.2) with the clients RFC 7030's users have: the server on Kestrel
/// (<c>--Tls:FromOwnCa</c>, time pinned), curl as the EST client (Basic for a first certificate,
/// <c>--cert/--key</c> for re-enrollment) and openssl making the CSRs and judging every answer
/// against the CA's root at the pinned time.
/// </summary>
public sealed class EstOverTlsTests
{
    private const string Password = "est-device-password-1";

    [Fact]
    public async Task SimpleEnroll_CurlAndOpenSsl_EnrollReenrollAndApprovedRetry()
    {
        Prerequisite.SkipIfMissing(!OnPath("curl"), "curl is not installed (apt-get install curl)");
        using var dir = new TempDirectory();
        var clock = new FakeTimeProvider(Samples.Now);
        await using var server = await TlsTests.Running.StartAsync(dir, clock, new CapturingLoggerProvider(), "--Tls:FromOwnCa=localhost,127.0.0.1", "--RateLimits:SignInPerMinute=1000");
        var services = server.Services;

        // The sample templates the first start imports: tls-server (issued at once), tls-server-approved (one approval by CM Approvers).
        var administration = services.GetRequiredService<DirectoryAdministration>();
        var device = await administration.AddUserAsync(new AuditContext(Guid.Empty, "test"), $"device-{Guid.NewGuid():N}"[..20], [], null, null);
        await services.GetRequiredService<Passwords>().SetAsync(new AuditContext(Guid.Empty, "test"), device, Password);
        await File.WriteAllBytesAsync(dir.File("root.pem"), Encoding.ASCII.GetBytes(
            services.GetRequiredService<CertificateAuthorities>().Active.Signer.Certificate.ExportCertificatePem() + "\n"));
        var url = $"https://127.0.0.1:{server.Port}/.well-known/est";

        // 1. A first certificate: openssl req makes key and CSR, curl posts its base64 DER with Basic.
        await CsrAsync(dir, "device", "/CN=localhost", "DNS:localhost,IP:127.0.0.1");
        var first = await Curl.RunAsync(dir, "--user", $"{device.Name}:{Password}", "--data-binary", "@device.b64", "-H", "Content-Type: application/pkcs10", $"{url}/tls-server/simpleenroll", "-o", "device.p7.b64");
        Assert.True(first.Status == 200, first.ToString());
        Assert.Contains("application/pkcs7-mime; smime-type=certs-only", first.Headers, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("content-transfer-encoding: base64", first.Headers, StringComparison.OrdinalIgnoreCase);
        var certificate = await CertificateOfAsync(dir, "device", clock);
        Assert.Equal("CN=localhost", certificate.Subject);
        var san = certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        Assert.Equal(["localhost"], san.EnumerateDnsNames());
        Assert.Equal([IPAddress.Loopback], san.EnumerateIPAddresses());

        // An ordinary request of the device's user, Completed, in GET /requests (the engine's; asserted once here).
        var admin = await AdminAsync(server, clock);
        var listed = await admin.GetStringAsync($"https://127.0.0.1:{server.Port}{ServerFixture.Api}/requests?top=100");
        Assert.Contains(device.Uuid.ToString("D"), listed, StringComparison.OrdinalIgnoreCase);

        // 2. Re-enrollment: the current certificate as the TLS client certificate, a new key, the same subject and names.
        await CsrAsync(dir, "renewed", "/CN=localhost", "DNS:localhost,IP:127.0.0.1");
        var again = await Curl.RunAsync(dir, "--cert", "device.pem", "--key", "device.key", "--data-binary", "@renewed.b64", "-H", "Content-Type: application/pkcs10", $"{url}/tls-server/simplereenroll", "-o", "renewed.p7.b64");
        Assert.True(again.Status == 200, again.ToString());
        var renewed = await CertificateOfAsync(dir, "renewed", clock);
        Assert.NotEqual(certificate.SerialNumber, renewed.SerialNumber);
        Assert.Equal(certificate.Subject, renewed.Subject);

        // Re-enrollment for other names is refused (RFC 7030 §4.2.2), and without a client certificate it is a 401 offering Basic.
        await CsrAsync(dir, "other", "/CN=localhost", "DNS:localhost,DNS:other.test");
        var otherNames = await Curl.RunAsync(dir, "--cert", "device.pem", "--key", "device.key", "--data-binary", "@other.b64", "-H", "Content-Type: application/pkcs10", $"{url}/tls-server/simplereenroll", "-o", "other.txt");
        Assert.True(otherNames.Status == 400, otherNames.ToString());
        Assert.Contains("current certificate's names", await File.ReadAllTextAsync(dir.File("other.txt")), StringComparison.Ordinal);
        var noCertificate = await Curl.RunAsync(dir, "--data-binary", "@renewed.b64", "-H", "Content-Type: application/pkcs10", $"{url}/tls-server/simplereenroll", "-o", "none.txt");
        Assert.Equal(401, noCertificate.Status);
        Assert.Contains("www-authenticate: Basic realm=\"OpenCM EST\"", noCertificate.Headers, StringComparison.OrdinalIgnoreCase);

        // A client certificate OpenCM did not issue is refused, not passed over.
        await OpenSsl.CheckAsync(dir.Path, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "self.key", "-subj", "/CN=localhost", "-days", "2", "-out", "self.pem");
        var stranger = await Curl.RunAsync(dir, "--cert", "self.pem", "--key", "self.key", "--data-binary", "@renewed.b64", "-H", "Content-Type: application/pkcs10", $"{url}/tls-server/simplereenroll", "-o", "self.txt");
        Assert.Equal(401, stranger.Status);
        Assert.Contains("not issued by this server", await File.ReadAllTextAsync(dir.File("self.txt")), StringComparison.Ordinal);

        // 3. A template with an approval: 202 with Retry-After; the same POST again finds the same request.
        await CsrAsync(dir, "approved", "/CN=host.test", "DNS:host.test");
        string[] enroll = ["--user", $"{device.Name}:{Password}", "--data-binary", "@approved.b64", "-H", "Content-Type: application/pkcs10", $"{url}/tls-server-approved/simpleenroll", "-o", "approved.p7.b64"];
        var waiting = await Curl.RunAsync(dir, enroll);
        Assert.True(waiting.Status == 202, waiting.ToString());
        Assert.Contains("retry-after: 60", waiting.Headers, StringComparison.OrdinalIgnoreCase);
        var id = RequestId(await File.ReadAllTextAsync(dir.File("approved.p7.b64")));
        var stillWaiting = await Curl.RunAsync(dir, enroll);
        Assert.Equal(202, stillWaiting.Status);
        Assert.Equal(id, RequestId(await File.ReadAllTextAsync(dir.File("approved.p7.b64"))));

        // An approver approves through the API; the client's retry then gets the certificate.
        var approver = await administration.AddUserAsync(new AuditContext(Guid.Empty, "test"), $"appr-{Guid.NewGuid():N}"[..20], ["CM Approvers"], null, null);
        var approving = await ClientAsync(server, clock, approver);
        var vote = await approving.PostAsync($"https://127.0.0.1:{server.Port}{ServerFixture.Api}/requests/{id}/approvals", Http.Json("""{"decision":"Approve","comment":"ok"}"""));
        Assert.True(vote.IsSuccessStatusCode, await vote.Content.ReadAsStringAsync());
        var issued = await Curl.RunAsync(dir, enroll);
        Assert.True(issued.Status == 200, issued.ToString());
        var approvedCertificate = await CertificateOfAsync(dir, "approved", clock);
        Assert.Equal("CN=host.test", approvedCertificate.Subject);

        // Asked again after that, the same certificate comes back.
        Assert.Equal(200, (await Curl.RunAsync(dir, enroll)).Status);
        Assert.Equal(approvedCertificate.SerialNumber, (await CertificateOfAsync(dir, "approved", clock)).SerialNumber);
    }

    [Fact]
    public async Task ServerKeyGen_CurlAndOpenSsl_KeyMatchesCertificateDeliveredOnce()
    {
        Prerequisite.SkipIfMissing(!OnPath("curl"), "curl is not installed (apt-get install curl)");
        using var dir = new TempDirectory();
        var clock = new FakeTimeProvider(Samples.Now);
        await using var server = await TlsTests.Running.StartAsync(dir, clock, new CapturingLoggerProvider(), "--Tls:FromOwnCa=localhost,127.0.0.1", "--RateLimits:SignInPerMinute=1000");
        var services = server.Services;
        var name = $"Keygen {Guid.NewGuid():N}"[..20];
        await services.GetRequiredService<TemplateService>().ImportAsync(DeviceEnrollmentTests.ServerKeyTemplateYaml(name), "test.yaml", Guid.Empty, "test");
        var administration = services.GetRequiredService<DirectoryAdministration>();
        var device = await administration.AddUserAsync(new AuditContext(Guid.Empty, "test"), $"device-{Guid.NewGuid():N}"[..20], [], null, null);
        await services.GetRequiredService<Passwords>().SetAsync(new AuditContext(Guid.Empty, "test"), device, Password);
        await File.WriteAllBytesAsync(dir.File("root.pem"), Encoding.ASCII.GetBytes(
            services.GetRequiredService<CertificateAuthorities>().Active.Signer.Certificate.ExportCertificatePem() + "\n"));
        var url = $"https://127.0.0.1:{server.Port}/.well-known/est";
        var label = OpenCM.Domain.TemplateLabels.Of(name);

        // 1. The CSR names what the device wants (its own key, EC here, is not the one certified); the answer is multipart/mixed (RFC 7030 §4.4.2).
        await OpenSsl.CheckAsync(dir.Path, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "csr.key",
            "-subj", "/CN=gen.test", "-addext", "subjectAltName=DNS:gen.test", "-outform", "DER", "-out", "gen.der");
        await OpenSsl.CheckAsync(dir.Path, "base64", "-in", "gen.der", "-out", "gen.b64");
        string[] keygen = ["--user", $"{device.Name}:{Password}", "--data-binary", "@gen.b64", "-H", "Content-Type: application/pkcs10", $"{url}/{label}/serverkeygen", "-o", "gen.multipart"];
        var answer = await Curl.RunAsync(dir, keygen);
        Assert.True(answer.Status == 200, answer.ToString());
        var contentType = answer.Headers.Split('\n').Single(h => h.StartsWith("content-type:", StringComparison.OrdinalIgnoreCase));
        Assert.Contains("multipart/mixed", contentType, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("cache-control: no-store", answer.Headers, StringComparison.OrdinalIgnoreCase);
        var boundary = contentType.Split("boundary=")[1].Trim().Trim('"');

        // 2. Split it as a client does: a part per boundary, headers, blank line, base64.
        var parts = (await File.ReadAllTextAsync(dir.File("gen.multipart"))).Split("--" + boundary)
            .Select(p => p.Trim()).Where(p => p.Length > 0 && p != "--").ToList();
        Assert.Equal(2, parts.Count);
        var (keyHeaders, keyBody) = Part(parts[0]);
        var (certificateHeaders, certificateBody) = Part(parts[1]);
        Assert.Contains("Content-Type: application/pkcs8", keyHeaders, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("Content-Type: application/pkcs7-mime; smime-type=certs-only", certificateHeaders, StringComparison.OrdinalIgnoreCase);
        await File.WriteAllTextAsync(dir.File("gen.key.b64"), keyBody + "\n");
        await File.WriteAllTextAsync(dir.File("gen.p7.b64"), certificateBody + "\n");

        // 3. openssl reads the unencrypted PKCS#8 key and the certificate (verified at the pinned time); the key is the certificate's.
        await OpenSsl.CheckAsync(dir.Path, "base64", "-d", "-in", "gen.key.b64", "-out", "gen.key.der");
        var keyPublic = await OpenSsl.CheckAsync(dir.Path, "pkey", "-inform", "DER", "-in", "gen.key.der", "-pubout");
        var certificate = await CertificateOfAsync(dir, "gen", clock);
        Assert.Equal("CN=gen.test", certificate.Subject);
        Assert.Equal(["gen.test"], certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single().EnumerateDnsNames());
        var certificatePublic = await OpenSsl.CheckAsync(dir.Path, "x509", "-in", "gen.pem", "-pubkey", "-noout");
        Assert.Equal(certificatePublic.Trim(), keyPublic.Trim());
        Assert.Contains("BEGIN PUBLIC KEY", keyPublic, StringComparison.Ordinal);

        // 4. The same POST again: the key is not sent twice (409, text; docs/est.md).
        var again = await Curl.RunAsync(dir, [.. keygen[..^1], "again.txt"]);
        Assert.True(again.Status == 409, again.ToString());
        Assert.Contains("key recovery", await File.ReadAllTextAsync(dir.File("again.txt")), StringComparison.Ordinal);

        // Hostile: serverkeygen on a client-key template, simpleenroll on a server-key one: 400 text, nothing issued
        // (a new CSR: the same one again would be the retry of the enrollment above).
        await CsrAsync(dir, "other", "/CN=other.test", "DNS:other.test");
        var clientKey = await Curl.RunAsync(dir, "--user", $"{device.Name}:{Password}", "--data-binary", "@other.b64", "-H", "Content-Type: application/pkcs10", $"{url}/tls-server/serverkeygen", "-o", "client.txt");
        Assert.True(clientKey.Status == 400, clientKey.ToString());
        Assert.Contains("text/plain", clientKey.Headers, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("simpleenroll", await File.ReadAllTextAsync(dir.File("client.txt")), StringComparison.Ordinal);
        var simple = await Curl.RunAsync(dir, "--user", $"{device.Name}:{Password}", "--data-binary", "@other.b64", "-H", "Content-Type: application/pkcs10", $"{url}/{label}/simpleenroll", "-o", "simple.txt");
        Assert.True(simple.Status == 400, simple.ToString());
        Assert.Contains("serverkeygen", await File.ReadAllTextAsync(dir.File("simple.txt")), StringComparison.Ordinal);
    }

    // A MIME part: its headers, and its base64 body as lines (openssl base64 -d reads lines of at most 76 characters).
    private static (string Headers, string Body) Part(string part)
    {
        var split = part.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        Assert.True(split > 0, part);
        return (part[..split], string.Join('\n', part[(split + 4)..].Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries)));
    }

    private static Guid RequestId(string text) =>
        Guid.Parse(text.Split(' ', StringSplitOptions.RemoveEmptyEntries).First(w => Guid.TryParse(w.Trim('.', ',', ';', ':'), out _)).Trim('.', ',', ';', ':'));

    // openssl req: an RSA key (the samples' algorithm) and a CSR, written as DER and then base64 (<name>.key, <name>.b64), as an EST client sends it.
    private static async Task CsrAsync(TempDirectory dir, string name, string subject, string san)
    {
        await OpenSsl.CheckAsync(dir.Path, "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key",
            "-subj", subject, "-addext", "subjectAltName=" + san, "-outform", "DER", "-out", name + ".der");
        await OpenSsl.CheckAsync(dir.Path, "base64", "-in", name + ".der", "-out", name + ".b64");
    }

    // The answer as a client reads it (base64 -d | pkcs7 -print_certs) and verified against the root at the pinned time.
    private static async Task<X509Certificate2> CertificateOfAsync(TempDirectory dir, string name, TimeProvider clock)
    {
        await OpenSsl.CheckAsync(dir.Path, "base64", "-d", "-in", name + ".p7.b64", "-out", name + ".p7");
        await OpenSsl.CheckAsync(dir.Path, "pkcs7", "-inform", "DER", "-in", name + ".p7", "-print_certs", "-out", name + ".pem");
        var verified = await OpenSsl.CheckAsync(dir.Path, ["verify", .. OpenSsl.At(clock.GetUtcNow()), "-CAfile", "root.pem", name + ".pem"]);
        Assert.Contains(": OK", verified, StringComparison.Ordinal);
        var certificates = new X509Certificate2Collection();
        certificates.ImportFromPem(await File.ReadAllTextAsync(dir.File(name + ".pem")));
        return Assert.Single(certificates);
    }

    private static async Task<HttpClient> AdminAsync(TlsTests.Running server, TimeProvider clock) =>
        await ClientAsync(server, clock, (await server.Services.GetRequiredService<IDirectory>().FindByNameAsync("admin"))!);

    private static async Task<HttpClient> ClientAsync(TlsTests.Running server, TimeProvider clock, Principal user)
    {
        var groups = await server.Services.GetRequiredService<IDirectory>().GroupsOfAsync(user.Uuid);
        var token = server.Services.GetRequiredService<TokenService>().Mint(user, groups, TimeSpan.FromMinutes(30));
        var client = Handshake.Client(server.Services.GetRequiredService<CertificateAuthorities>().Active.Signer.Certificate, clock);
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    private static bool OnPath(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => File.Exists(Path.Combine(d, tool)));

    /// <summary>curl as the EST client: the status and headers it saw (-D), the body in the file the caller names (-o).</summary>
    private static class Curl
    {
        public sealed record Result(int Status, string Headers, string Error)
        {
            public override string ToString() => $"HTTP {Status}\n{Headers}\n{Error}";
        }

        public static async Task<Result> RunAsync(TempDirectory dir, params string[] args)
        {
            // -k: the server's TLS certificate is judged by openssl elsewhere; curl would judge it by the wall clock, not the test's.
            // No timeout, as before ToolProcess.
            var (_, output, error) = await ToolProcess.RunAsync("curl", ["-sS", "-k", "-D", "headers.txt", "-w", "%{http_code}", .. args], Timeout.InfiniteTimeSpan, dir.Path);
            var headers = File.Exists(dir.File("headers.txt")) ? await File.ReadAllTextAsync(dir.File("headers.txt")) : "";
            var status = int.TryParse(output.Trim(), out var s) ? s : 0;
            return new Result(status, headers, error + (args.Contains("-o") && File.Exists(dir.File(args[Array.IndexOf(args, "-o") + 1])) && status >= 400
                ? await File.ReadAllTextAsync(dir.File(args[Array.IndexOf(args, "-o") + 1]))
                : ""));
        }
    }
}
