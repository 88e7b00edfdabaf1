using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OpenCM.TestKit;

namespace OpenCM.Cli.Tests;

/// <summary>
/// <c>opencm serve</c> over HTTPS (issue #21.5), as a real process: with a certificate file
/// through Kestrel's own settings, and with <c>--Tls:FromOwnCa</c>; and <c>opencm --version</c>.
/// Real processes read the wall clock, so certificates here are judged at the wall clock's time.
/// </summary>
public sealed class TlsServeTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Serve_KestrelCertificateFile_HttpClientTrustingItGetsOverHttps(bool encryptedKey)
    {
        using var dir = new TempDirectory();
        using var certificate = SelfSigned();
        var password = encryptedKey ? "correct horse battery staple" : null;
        var (cert, key) = WritePem(dir, certificate, password);
        var port = LoopbackPort.Free();

        // The key's password travels in the environment (Kestrel__…__Password), never on a command line.
        var environment = password is null ? new Dictionary<string, string>() : new Dictionary<string, string> { ["Kestrel__Endpoints__Https__Certificate__Password"] = password };
        await using var server = await ServerProcess.StartAsync(environment, false, "--data", dir.File("data"),
            $"--Kestrel:Endpoints:Https:Url=https://127.0.0.1:{port}", $"--Kestrel:Endpoints:Https:Certificate:Path={cert}", $"--Kestrel:Endpoints:Https:Certificate:KeyPath={key}");

        using var client = TrustingOnly(certificate);
        var ready = await client.GetAsync($"https://127.0.0.1:{port}/health/ready");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        var api = await client.GetAsync($"https://127.0.0.1:{port}/CertificateManagement/api/v1.0/me");
        Assert.Equal(HttpStatusCode.Unauthorized, api.StatusCode);
        Assert.Contains($"OpenCM is serving https://127.0.0.1:{port}", server.Output, StringComparison.Ordinal);
        if (password is not null)
        {
            Assert.DoesNotContain(password, server.Output, StringComparison.Ordinal);
        }
    }

    [SkippableFact]
    public async Task Serve_KestrelCertificateFile_CurlWithCacertGets()
    {
        Prerequisite.SkipIfMissing(!OnPath("curl"), "curl is not installed (apt-get install curl).");
        using var dir = new TempDirectory();
        using var certificate = SelfSigned();
        var (cert, key) = WritePem(dir, certificate, null);
        var port = LoopbackPort.Free();
        await using var server = await ServerProcess.StartAsync("--data", dir.File("data"),
            $"--Kestrel:Endpoints:Https:Url=https://127.0.0.1:{port}", $"--Kestrel:Endpoints:Https:Certificate:Path={cert}", $"--Kestrel:Endpoints:Https:Certificate:KeyPath={key}");

        var (exit, output) = await RunAsync("curl", "--silent", "--show-error", "--fail", "--cacert", cert, $"https://127.0.0.1:{port}/health/ready");
        Assert.True(exit == 0, output);
        Assert.Contains("Healthy", output, StringComparison.Ordinal);
    }

    [Fact]
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA5359", Justification = "The CA's root is fetched once untrusted; everything after trusts only it.")]
    public async Task Serve_FromOwnCa_PresentsACertificateOpensslVerifiesToTheCaRoot()
    {
        using var dir = new TempDirectory();
        var port = LoopbackPort.Free();
        await using var server = await ServerProcess.StartAsync("--data", dir.File("data"),
            $"--Kestrel:Endpoints:Https:Url=https://127.0.0.1:{port}", "--Tls:FromOwnCa=localhost,127.0.0.1");

        // The CA's root as the server publishes it, fetched once without trust (the test then trusts only it).
        using (var fetch = new HttpClient(new SocketsHttpHandler { SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true } }))
        {
            var der = await fetch.GetByteArrayAsync($"https://127.0.0.1:{port}/CertificateManagement/ca/OpenCM-Root-CA.crt");
            using var root = X509CertificateLoader.LoadCertificate(der);
            await File.WriteAllTextAsync(dir.File("root.pem"), root.ExportCertificatePem());
            using var client = TrustingOnly(root);
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"https://127.0.0.1:{port}/health/ready")).StatusCode);
        }

        // openssl builds the chain from what the server sent up to root.pem, and checks the name.
        var (exit, output) = await RunAsync("openssl", "s_client", "-connect", $"127.0.0.1:{port}", "-servername", "localhost",
            "-CAfile", dir.File("root.pem"), "-verify_return_error", "-verify_hostname", "localhost");
        Assert.True(exit == 0, output);
        Assert.Contains("Verify return code: 0 (ok)", output, StringComparison.Ordinal);
        Assert.Contains("CN=OpenCM Root CA", output.Replace(" = ", "=", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.Contains($"Version: {OpenCM.Composition.OpenCmVersion.Informational}", server.Output, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Serve_FromOwnCaOnTwoPostgresNodes_EachPresentsACertificateOfItsOwn()
    {
        var postgres = await PostgresServer.Shared;
        Prerequisite.SkipIfMissing(postgres is null, PostgresServer.SkipReason);
        var connection = await postgres!.CreateDatabaseAsync("tlsnodes");
        using var dir = new TempDirectory();
        string[] stores = [dir.File("node-a"), dir.File("node-b")];
        Directory.CreateDirectory(stores[0]);
        Directory.CreateDirectory(stores[1]);
        _ = Storage.MasterKey.LoadOrCreate(Path.Combine(stores[0], "master.key"));
        File.Copy(Path.Combine(stores[0], "master.key"), Path.Combine(stores[1], "master.key"));

        var presented = new List<X509Certificate2>();
        foreach (var store in stores)
        {
            var port = LoopbackPort.Free();
            await using var node = await ServerProcess.StartAsync("--data", store, "--database", "postgres", "--connection", connection, "--Ca:PublicUrl=https://cm.contoso.test",
                $"--Kestrel:Endpoints:Https:Url=https://127.0.0.1:{port}", "--Tls:FromOwnCa=cm.contoso.test,127.0.0.1");
            presented.Add(await PresentedAsync(port));
        }

        // One CA, two certificates: each node made its own key and had it certified.
        Assert.NotEqual(presented[0].SerialNumber, presented[1].SerialNumber);
        Assert.NotEqual(presented[0].PublicKey.EncodedKeyValue.RawData, presented[1].PublicKey.EncodedKeyValue.RawData);
        Assert.Equal(presented[0].Issuer, presented[1].Issuer);
        var audit = await Cli.RunAsync(["audit", "verify", "--data", stores[0], "--database", "postgres", "--connection", connection]);
        Assert.True(audit.Exit == 0, audit.Out + audit.Err);
    }

    [Theory]
    [InlineData("--version")]
    [InlineData("version")]
    public async Task Version_AskedEitherWay_PrintsTheInformationalVersionAndExitsZero(string how)
    {
        var (exit, output, error) = await Cli.RunAsync(how);
        Assert.Equal(0, exit);
        Assert.Equal("", error);
        Assert.Equal(OpenCM.Composition.OpenCmVersion.Informational, output.Trim());
        // Directory.Build.props' version, and the commit when built from a clone.
        Assert.Matches(@"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9a-f]{7,40})?$", output.Trim());
    }

    // A self-signed certificate for localhost and 127.0.0.1, valid around the wall clock's now (a real process judges it).
    private static X509Certificate2 SelfSigned()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
    }

    private static (string Cert, string Key) WritePem(TempDirectory dir, X509Certificate2 certificate, string? password)
    {
        var cert = dir.File("tls.crt");
        var key = dir.File("tls.key");
        File.WriteAllText(cert, certificate.ExportCertificatePem());
        using var ecdsa = certificate.GetECDsaPrivateKey()!;
        File.WriteAllText(key, password is null
            ? ecdsa.ExportPkcs8PrivateKeyPem()
            : ecdsa.ExportEncryptedPkcs8PrivateKeyPem(password, new PbeParameters(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, 100_000)));
        return (cert, key);
    }

    // An HttpClient trusting only the root given (the chain built to it alone), at the wall clock's time.
    private static HttpClient TrustingOnly(X509Certificate2 root)
    {
        var trusted = X509CertificateLoader.LoadCertificate(root.RawData);
        return new HttpClient(new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
                {
                    if (certificate is null || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != SslPolicyErrors.None)
                    {
                        return false;
                    }

                    using var chain = new X509Chain();
                    chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                    chain.ChainPolicy.CustomTrustStore.Add(trusted);
                    chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                    using var presented = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
                    return chain.Build(presented) && chain.ChainElements[^1].Certificate.Thumbprint == trusted.Thumbprint;
                },
            },
        });
    }

    private static async Task<(int Exit, string Output)> RunAsync(string file, params string[] args)
    {
        // An empty, closed standard input: s_client reads stdin until EOF, then closes the connection.
        var (exit, output, error) = await ToolProcess.RunAsync(file, args, TimeSpan.FromSeconds(60), stdin: "");
        return (exit, output + error);
    }

    // The certificate the server on the port presents, captured without judging it (the test compares what nodes present).
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA5359", Justification = "Only captures the presented certificate; nothing is sent over the connection.")]
    private static async Task<X509Certificate2> PresentedAsync(int port)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port);
        X509Certificate2? presented = null;
        await using var tls = new SslStream(tcp.GetStream());
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "cm.contoso.test",
            RemoteCertificateValidationCallback = (_, certificate, _, _) =>
            {
                presented = certificate is null ? null : X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
                return true;
            },
        });
        return presented!;
    }

    private static bool OnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => File.Exists(Path.Combine(d, name)));
}
