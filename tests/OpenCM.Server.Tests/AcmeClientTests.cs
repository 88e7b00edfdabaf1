using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.Server.Hosting;
using OpenCM.TestKit;

namespace OpenCM.Server.Tests;

/// <summary>
/// The real server on Kestrel over HTTPS (Kestrel:Certificates:Default, a self-signed certificate
/// the clients are told to trust), with the real challenge validator on Acme:Http01Port, for the
/// ACME clients Debian ships. The clock is the wall clock: lego and certbot check the server's
/// TLS certificate and the issued certificates against it.
/// </summary>
public sealed class AcmeServerFixture : IAsyncLifetime, IDisposable
{
    public static readonly Guid TlsServer = Guid.Parse("3f7c2d1e-8a4b-4c6d-9e0f-1a2b3c4d5e61");
    public static readonly Guid TlsServerApproved = Guid.Parse("3f7c2d1e-8a4b-4c6d-9e0f-1a2b3c4d5e62");
    private readonly TempDirectory _dir = new();
    private readonly CancellationTokenSource _stop = new();
    private WebApplication? _app;
    private Task _run = Task.CompletedTask;

    public int Port { get; private set; }

    /// <summary>Where the clients' standalone challenge servers listen (the validator's Acme:Http01Port).</summary>
    public int ChallengePort { get; private set; }

    /// <summary>The PEM of the server's TLS certificate, for LEGO_CA_CERTIFICATES and REQUESTS_CA_BUNDLE.</summary>
    public string TrustedPem => _dir.File("tls-ca.pem");

    public IServiceProvider Services => _app!.Services;

    public string Directory(string label) => $"https://127.0.0.1:{Port}/acme/{label}/directory";

    public async Task InitializeAsync()
    {
        using (var key = RSA.Create(2048))
        {
            var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            var san = new SubjectAlternativeNameBuilder();
            san.AddIpAddress(IPAddress.Loopback);
            san.AddDnsName("localhost");
            request.CertificateExtensions.Add(san.Build());
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
            // Valid two years either side of now: CI's second pass runs this process 400 days ahead
            // (libfaketime), and lego, a static Go binary, still reads the real clock.
            using var tls = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-730), DateTimeOffset.UtcNow.AddDays(730));
            await File.WriteAllBytesAsync(_dir.File("tls.pfx"), tls.Export(X509ContentType.Pfx, "tls-test"));
            await File.WriteAllTextAsync(TrustedPem, tls.ExportCertificatePem() + "\n");
        }

        ChallengePort = LoopbackPort.Free();
        _app = OpenCmServer.Build(["--data", _dir.Path, "--urls", "https://127.0.0.1:0",
            "--Kestrel:Certificates:Default:Path", _dir.File("tls.pfx"), "--Kestrel:Certificates:Default:Password", "tls-test",
            "--Acme:Http01Port", ChallengePort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--RateLimits:ExpensiveBurst", "1000000", "--RateLimits:WriteBurst", "1000000"]);
        var serving = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        _run = OpenCmServer.RunAsync(_app, (a, _) =>
        {
            serving.TrySetResult(a.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
            return Task.CompletedTask;
        }, _stop.Token);
        if (await Task.WhenAny(serving.Task, _run, Task.Delay(TimeSpan.FromSeconds(120))) != serving.Task)
        {
            throw new InvalidOperationException("the server did not come up", _run.Exception);
        }

        Port = new Uri(await serving.Task).Port;
    }

    /// <summary>A directory user and an EAB key for it on <paramref name="template"/>; hmac in base64url as the clients take it.</summary>
    public async Task<(Principal User, string Kid, string Hmac)> EabAsync(Guid template, params string[] groups)
    {
        var name = $"acme-{Guid.NewGuid():N}"[..20];
        var user = await Services.GetRequiredService<DirectoryAdministration>().AddUserAsync(new AuditContext(Guid.Empty, "test"), name, groups, $"{name}@contoso.test", upn: null);
        var key = await Services.GetRequiredService<IExternalAccountKeys>().CreateAsync(user.Uuid, template, TimeSpan.FromHours(1), null, CancellationToken.None);
        return (user, key.KeyId, AcmeJws.B64u(key.HmacKey));
    }

    public async Task<CertificateStatus?> StatusAsync(X509Certificate2 certificate) =>
        (await Services.GetRequiredService<ICertificateStore>().FindStatusAsync(certificate.SerialNumber.TrimStart('0')) ??
         await Services.GetRequiredService<ICertificateStore>().FindStatusAsync(certificate.SerialNumber))?.Status;

    public async Task DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _run;
        }
        catch (OperationCanceledException)
        {
        }

        if (_app is not null)
        {
            await _app.DisposeAsync();
        }

        Dispose();
    }

    public void Dispose()
    {
        _stop.Dispose();
        _dir.Dispose();
    }
}

/// <summary>A client process's outcome: exit code and what it wrote.</summary>
public sealed record ClientRun(int ExitCode, string Output)
{
    /// <summary>Runs the client to its end; after <paramref name="timeout"/> it is killed and the test failed with its output.</summary>
    public static async Task<ClientRun> StartAsync(string file, IEnumerable<string> args, IReadOnlyDictionary<string, string> environment, TimeSpan timeout)
    {
        var (exit, output, error) = await ToolProcess.RunAsync(file, args, timeout, environment: new Dictionary<string, string>(environment));
        return new ClientRun(exit, output + error);
    }

    public void AssertOk(string what, string? logs = null)
    {
        // certbot says little on its console; its log says what went wrong.
        var log = logs is not null && File.Exists(Path.Combine(logs, "letsencrypt.log")) ? File.ReadAllText(Path.Combine(logs, "letsencrypt.log")) : "";
        Assert.True(ExitCode == 0, $"{what} exited {ExitCode}:\n{Output}\n{log[^Math.Min(8000, log.Length)..]}");
    }
}

[Collection(AcmeClientCollection.Name)]
public sealed class AcmeClientTests : IClassFixture<AcmeServerFixture>
{
    private readonly AcmeServerFixture _server;

    public AcmeClientTests(AcmeServerFixture server) => _server = server;

    private static string Lego => Which("lego");

    private static string Certbot => Which("certbot");

    // The client on PATH; skipped with the reason where it is not installed (unless every test is demanded).
    private static string Which(string name)
    {
        var found = (System.Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);
        Prerequisite.SkipIfMissing(found is null, $"{name} is not installed (Debian package {name}).");
        return found!;
    }

    private Dictionary<string, string> Environment => new() { ["LEGO_CA_CERTIFICATES"] = _server.TrustedPem, ["REQUESTS_CA_BUNDLE"] = _server.TrustedPem };

    private string[] LegoArgs(string label, string path, string kid, string hmac) =>
        ["--server", _server.Directory(label), "--eab", "--kid=" + kid, "--hmac=" + hmac, "--email", "ops@example.test", "--accept-tos",
         "--domains", "localhost", "--key-type", "rsa2048", "--http", "--http.port", $":{_server.ChallengePort}", "--path", path];

    private static X509Certificate2 Leaf(string pemFile)
    {
        var certificates = new X509Certificate2Collection();
        certificates.ImportFromPemFile(pemFile);
        return certificates[0];
    }

    [SkippableFact]
    public async Task Lego_AutoApprovedTemplate_ObtainsRenewsAndRevokes()
    {
        var lego = Lego;
        using var dir = new TempDirectory();
        var (_, kid, hmac) = await _server.EabAsync(AcmeServerFixture.TlsServer);
        var args = LegoArgs("tls-server", dir.Path, kid, hmac);

        (await ClientRun.StartAsync(lego, [.. args, "run"], Environment, TimeSpan.FromMinutes(3))).AssertOk("lego run");
        using var first = Leaf(Path.Combine(dir.Path, "certificates", "localhost.crt"));
        Assert.Equal(["localhost"], first.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single().EnumerateDnsNames());
        Assert.Equal(CertificateStatus.Current, await _server.StatusAsync(first));

        // Renewal is a new order with the same account: another certificate. 1000 days: lego
        // compares the certificate with the real clock, 400 days behind it in CI's faketime pass.
        (await ClientRun.StartAsync(lego, [.. args, "renew", "--days", "1000", "--no-random-sleep"], Environment, TimeSpan.FromMinutes(3))).AssertOk("lego renew");
        using var renewed = Leaf(Path.Combine(dir.Path, "certificates", "localhost.crt"));
        Assert.NotEqual(first.SerialNumber, renewed.SerialNumber);

        // Revocation: a Revoke request on the certificate's profile, on the CRL and in OCSP like any.
        (await ClientRun.StartAsync(lego, [.. args, "revoke"], Environment, TimeSpan.FromMinutes(3))).AssertOk("lego revoke");
        Assert.Equal(CertificateStatus.Revoked, await _server.StatusAsync(renewed));
    }

    [SkippableFact]
    public async Task Certbot_AutoApprovedTemplate_ObtainsRenewsAndRevokesByCertificateKey()
    {
        var certbot = Certbot;
        using var dir = new TempDirectory();
        var (_, kid, hmac) = await _server.EabAsync(AcmeServerFixture.TlsServer);
        string[] common = ["--config-dir", dir.File("config"), "--work-dir", dir.File("work"), "--logs-dir", dir.File("logs"), "--non-interactive"];

        (await ClientRun.StartAsync(certbot, ["certonly", .. common, "--agree-tos", "--server", _server.Directory("tls-server"), "--eab-kid=" + kid, "--eab-hmac-key=" + hmac,
            "-m", "ops@example.test", "--standalone", "--http-01-port", _server.ChallengePort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "-d", "localhost", "--key-type", "rsa", "--rsa-key-size", "2048"], Environment, TimeSpan.FromMinutes(3))).AssertOk("certbot certonly", dir.File("logs"));
        var live = Path.Combine(dir.File("config"), "live", "localhost");
        using var issued = Leaf(Path.Combine(live, "cert.pem"));
        Assert.Equal(CertificateStatus.Current, await _server.StatusAsync(issued));
        Assert.True(Leaf(Path.Combine(live, "chain.pem")).Subject.Length > 0, "the chain is delivered");

        // Renewal is a new order. certbot sleeps up to 8 minutes before a non-interactive renewal
        // unless told not to (that sleep was the "hang" once seen here).
        (await ClientRun.StartAsync(certbot, ["renew", .. common, "--force-renewal", "--no-random-sleep-on-renew"], Environment, TimeSpan.FromMinutes(3)))
            .AssertOk("certbot renew", dir.File("logs"));
        using var renewed = Leaf(Path.Combine(live, "cert.pem"));
        Assert.NotEqual(issued.SerialNumber, renewed.SerialNumber);
        Assert.Equal(CertificateStatus.Current, await _server.StatusAsync(renewed));

        // Revocation signed by the certificate's own key (jwk), not the account's (lego's test revokes by account).
        (await ClientRun.StartAsync(certbot, ["revoke", .. common, "--server", _server.Directory("tls-server"), "--cert-path", Path.Combine(live, "cert.pem"),
            "--key-path", Path.Combine(live, "privkey.pem"), "--reason", "keycompromise", "--no-delete-after-revoke"], Environment, TimeSpan.FromMinutes(3)))
            .AssertOk("certbot revoke", dir.File("logs"));
        Assert.Equal(CertificateStatus.Revoked, await _server.StatusAsync(renewed));
        Assert.Equal(CertificateStatus.Current, await _server.StatusAsync(issued));
    }

    [SkippableFact]
    public async Task Lego_TemplateWithApproval_WaitsProcessingUntilAnApproverApproves()
    {
        var lego = Lego;
        using var dir = new TempDirectory();
        var (user, kid, hmac) = await _server.EabAsync(AcmeServerFixture.TlsServerApproved);
        var running = ClientRun.StartAsync(lego, [.. LegoArgs("tls-server-approved", dir.Path, kid, hmac), "run"], Environment, TimeSpan.FromMinutes(3));

        // The request waits in the approvers' queue like any Enroll request; one approval lets lego's next poll find the certificate.
        var approver = await _server.EabAsync(AcmeServerFixture.TlsServer, "CM Approvers");
        var approverCaller = (await _server.Services.GetRequiredService<DirectoryCallers>().ForUserAsync(approver.User.Uuid))!;
        CmRequest? pending = null;
        for (var i = 0; i < 600 && pending is null && !running.IsCompleted; i++)
        {
            await Task.Delay(100);
            var list = await _server.Services.GetRequiredService<IRequestStore>().ListAsync(new RequestQuery([.. approverCaller.Token], RequestStatus.Pending, user.Uuid, 0, 10));
            pending = list.Select(r => r.Request).FirstOrDefault();
        }

        Assert.True(pending is not null, running.IsCompleted ? (await running).Output : "no pending request");
        await _server.Services.GetRequiredService<RequestTransitions>().VoteAsync(approverCaller, pending!.Uuid, true, "ok", "test");

        (await running).AssertOk("lego run");
        using var issued = Leaf(Path.Combine(dir.Path, "certificates", "localhost.crt"));
        Assert.Equal(CertificateStatus.Current, await _server.StatusAsync(issued));
    }
}

/// <summary>The client tests share the challenge port's clients: one at a time.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AcmeClientCollection
{
    public const string Name = "ACME clients";
}
