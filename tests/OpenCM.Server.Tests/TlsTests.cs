using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using OpenCM.Application;
using OpenCM.Authority;
using OpenCM.Server.Hosting;
using OpenCM.TestKit;

namespace OpenCM.Server.Tests;

/// <summary>
/// <c>--Tls:FromOwnCa</c> (issue #21.5): the real server on Kestrel over HTTPS on loopback, time
/// pinned, presenting a certificate from its own CA, recorded and audited, and renewed once two
/// thirds of its lifetime have passed, without a restart.
/// </summary>
public sealed class TlsTests
{
    [Fact]
    public async Task FromOwnCa_Serving_PresentsCertificateChainingToTheRootAndRenewsItWithoutRestart()
    {
        using var dir = new TempDirectory();
        var clock = new FakeTimeProvider(Samples.Now);
        var logs = new CapturingLoggerProvider();
        await using var server = await Running.StartAsync(dir, clock, logs, "--Tls:FromOwnCa=localhost,127.0.0.1");
        var root = server.Services.GetRequiredService<CertificateAuthorities>().Active.Signer.Certificate;

        // The certificate: localhost (and 127.0.0.1) as SANs, serverAuth, a chain to the CA's root at the pinned time.
        var first = await Handshake.WithAsync(server.Port);
        Assert.True(Handshake.ChainsTo(first, root, clock.GetUtcNow()), "the server's certificate does not chain to the CA root");
        var san = first.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        Assert.Equal(["localhost"], san.EnumerateDnsNames());
        Assert.Equal([IPAddress.Loopback], san.EnumerateIPAddresses());
        Assert.Contains(first.Extensions.OfType<X509EnhancedKeyUsageExtension>().Single().EnhancedKeyUsages.Cast<System.Security.Cryptography.Oid>(), o => o.Value == "1.3.6.1.5.5.7.3.1");
        Assert.Equal(Samples.Now.AddDays(30), new DateTimeOffset(first.NotAfter.ToUniversalTime(), TimeSpan.Zero));

        // An HttpClient that trusts only the CA's root gets answers over it.
        using (var client = Handshake.Client(root, clock))
        {
            var ready = await client.GetAsync($"https://127.0.0.1:{server.Port}/health/ready");
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
            var published = await client.GetAsync($"https://127.0.0.1:{server.Port}/CertificateManagement/ca/OpenCM-Root-CA.crt");
            Assert.Equal(HttpStatusCode.OK, published.StatusCode);
        }

        // Recorded like any certificate the CA signed, and audited.
        var store = server.Services.GetRequiredService<ICertificateStore>();
        Assert.Equal(CertificateStatus.Issued, (await store.FindStatusAsync(first.SerialNumber))!.Status);
        var audit = await server.Services.GetRequiredService<IAuditLog>().ReadAllAsync().Select(e => e.Event).ToListAsync();
        Assert.Contains(audit, e => e.Kind == "TlsCertificateIssued" && e.Detail.Contains($"serial={first.SerialNumber}", StringComparison.Ordinal));

        // Two thirds of 30 days later the same process presents a new certificate; the old one is superseded.
        clock.Advance(TimeSpan.FromDays(20) + TimeSpan.FromMinutes(5));
        var renewed = await Handshake.UntilAsync(server.Port, c => c.SerialNumber != first.SerialNumber);
        Assert.True(Handshake.ChainsTo(renewed, root, clock.GetUtcNow()), "the renewed certificate does not chain to the CA root");
        Assert.Equal(CertificateStatus.Superseded, (await store.FindStatusAsync(first.SerialNumber))!.Status);
        Assert.Equal(CertificateStatus.Issued, (await store.FindStatusAsync(renewed.SerialNumber))!.Status);
        audit = await server.Services.GetRequiredService<IAuditLog>().ReadAllAsync().Select(e => e.Event).ToListAsync();
        Assert.Contains(audit, e => e.Kind == "TlsCertificateIssued" && e.Detail.Contains($"serial={renewed.SerialNumber}", StringComparison.Ordinal) && e.Detail.Contains("replaces=", StringComparison.Ordinal));
        Assert.True((await AuditChain.VerifyAsync(server.Services.GetRequiredService<IAuditLog>(), server.Services.GetRequiredService<AuditChainKey>())).IsIntact);

        // The server logged its version at start, and nothing that looks like a key.
        Assert.Contains(logs.Lines, l => l.Text.Contains($"OpenCM {OpenCmVersion.Informational} starting", StringComparison.Ordinal));
        Assert.DoesNotContain(logs.Lines, l => l.Text.Contains("PRIVATE KEY", StringComparison.Ordinal));
    }

    [Fact]
    public async Task FromOwnCa_SubordinateCaActive_SendsItsCertificateWithTheServers()
    {
        using var dir = new TempDirectory();
        var clock = new FakeTimeProvider(Samples.Now);
        await using var server = await Running.StartAsync(dir, clock, new CapturingLoggerProvider(), "--Tls:FromOwnCa=localhost");

        // A subordinate CA under an enterprise root (played by .NET) becomes the active one.
        using var rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var rootRequest = new CertificateRequest("CN=Contoso Enterprise Root", rootKey, HashAlgorithmName.SHA256);
        rootRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        rootRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        rootRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(rootRequest.PublicKey, false));
        using var root = rootRequest.CreateSelfSigned(Samples.Now.AddYears(-1), Samples.Now.AddYears(10));
        var administration = server.Services.GetRequiredService<CaAdministration>();
        var requested = await administration.RequestAsync(AuditContext.Bootstrap, "CN=Contoso Issuing CA 2,O=Contoso", CaKeyAlgorithm.EcdsaP256);
        var csr = CertificateRequest.LoadSigningRequestPem(requested.CertificateRequestPem, HashAlgorithmName.SHA256, CertificateRequestLoadOptions.UnsafeLoadCertificateExtensions);
        csr.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(root, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        using var issuing = csr.Create(root, Samples.Now.AddDays(-1), Samples.Now.AddYears(5), [0x42, 0x01]);
        await administration.InstallAsync(AuditContext.Bootstrap, issuing, [root]);
        Assert.True(await CaSetup.ReloadAsync(server.Services.GetRequiredService<CaContext>(), server.Services.GetRequiredService<CertificateAuthorities>()));

        // The renewal comes from it, and the handshake carries its certificate: a client trusting only the enterprise root builds the path.
        clock.Advance(TimeSpan.FromDays(20) + TimeSpan.FromMinutes(5));
        var renewed = await Handshake.UntilAsync(server.Port, c => c.Issuer == issuing.Subject);
        var (_, sent) = await Handshake.SentAsync(server.Port);
        Assert.Contains(sent, c => c.Thumbprint == issuing.Thumbprint);
        Assert.True(Handshake.ChainsTo(renewed, root, clock.GetUtcNow(), sent), "the renewed certificate does not chain to the enterprise root with what the server sent");
        Assert.False(Handshake.ChainsTo(renewed, root, clock.GetUtcNow()), "without what the server sent the path cannot be built (no downloads): the check would prove nothing");
    }

    [Theory]
    [InlineData("--Tls:FromOwnCa=not a host!", "--urls", "https://127.0.0.1:0", "Tls:FromOwnCa")]
    [InlineData("--Tls:FromOwnCa=*.contoso.com", "--urls", "https://127.0.0.1:0", "Tls:FromOwnCa")]
    [InlineData("--Tls:FromOwnCa=localhost", "--urls", "http://127.0.0.1:0", "no HTTPS address")]
    [InlineData("--Tls:FromOwnCa=localhost", "--Tls:LifetimeDays=0", "--urls=https://127.0.0.1:0", "Tls:LifetimeDays")]
    [InlineData("--Tls:FromOwnCa=localhost", "--Tls:LifetimeDays=398", "--urls=https://127.0.0.1:0", "Tls:LifetimeDays")]
    public void FromOwnCa_SettingItCannotServe_IsRefusedInOneLine(string a, string b, string c, string named)
    {
        using var dir = new TempDirectory();
        var refused = Assert.Throws<ConfigurationRefusedException>(() => OpenCmServer.Build(["--data", dir.Path, a, b, c]));
        Assert.Contains(named.Replace("no HTTPS address", "none is configured", StringComparison.Ordinal), refused.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', refused.Message);
    }

    /// <summary>The server from <see cref="OpenCmServer.RunAsync"/> (as <c>opencm serve</c> runs it) on a free HTTPS port.</summary>
    internal sealed class Running : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly CancellationTokenSource _stop = new();
        private Task _run = Task.CompletedTask;

        private Running(WebApplication app) => _app = app;

        public int Port { get; private set; }

        public IServiceProvider Services => _app.Services;

        public static async Task<Running> StartAsync(TempDirectory dir, TimeProvider clock, ILoggerProvider logs, params string[] args)
        {
            var app = OpenCmServer.Build(["--data", dir.Path, "--urls", "https://127.0.0.1:0", .. args], b =>
            {
                b.Services.AddSingleton(clock);
                b.Logging.AddProvider(logs);
            });
            var running = new Running(app);
            var serving = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            running._run = OpenCmServer.RunAsync(app, (a, _) =>
            {
                serving.TrySetResult(a.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
                return Task.CompletedTask;
            }, running._stop.Token);
            var done = await Task.WhenAny(serving.Task, running._run, Task.Delay(TimeSpan.FromSeconds(60)));
            if (done != serving.Task)
            {
                await running.DisposeAsync();
                throw new InvalidOperationException("the server did not come up", running._run.Exception);
            }

            running.Port = new Uri(await serving.Task).Port;
            return running;
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            try
            {
                await _run;
            }
            catch (OperationCanceledException)
            {
            }

            await _app.DisposeAsync();
            _stop.Dispose();
        }
    }
}

/// <summary>TLS handshakes with a server on loopback, and checks of what it presents.</summary>
internal static class Handshake
{
    /// <summary>The certificate the server on <paramref name="port"/> presents (for SNI "localhost"), with nothing trusted yet.</summary>
    public static async Task<X509Certificate2> WithAsync(int port) => (await SentAsync(port)).Certificate;

    /// <summary>The certificate the server presents and the other certificates it sends with it, captured without judging them.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA5359", Justification = "The handshake only captures what the server presents; the test then checks it against the CA root.")]
    public static async Task<(X509Certificate2 Certificate, IReadOnlyList<X509Certificate2> Sent)> SentAsync(int port)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port);
        X509Certificate2? presented = null;
        var sent = new List<X509Certificate2>();
        await using var tls = new SslStream(tcp.GetStream());
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            RemoteCertificateValidationCallback = (_, certificate, chain, _) =>
            {
                presented = certificate is null ? null : X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());

                // What the server sent besides its own certificate is the chain's extra store.
                sent.AddRange((chain?.ChainPolicy.ExtraStore ?? []).Select(c => X509CertificateLoader.LoadCertificate(c.RawData)));
                return true;
            },
        });
        return (presented ?? throw new InvalidOperationException("the server presented no certificate"), sent);
    }

    /// <summary>Handshakes until the certificate satisfies <paramref name="wanted"/> (a renewal happens on the server's loop), for up to a minute.</summary>
    public static async Task<X509Certificate2> UntilAsync(int port, Func<X509Certificate2, bool> wanted)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            var certificate = await WithAsync(port);
            if (wanted(certificate))
            {
                return certificate;
            }

            if (watch.Elapsed > TimeSpan.FromMinutes(1))
            {
                throw new TimeoutException($"the server still presents {certificate.SerialNumber}");
            }

            await Task.Delay(100);
        }
    }

    /// <summary>Whether <paramref name="certificate"/> chains to <paramref name="root"/> alone, at <paramref name="at"/> (the test's time, never the wall clock).</summary>
    public static bool ChainsTo(X509Certificate2 certificate, X509Certificate2 root, DateTimeOffset at, IEnumerable<X509Certificate2>? sent = null)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(root);
        chain.ChainPolicy.ExtraStore.AddRange((sent ?? []).ToArray());

        // Only what the server sent: no fetching of a CA certificate from an AIA address.
        chain.ChainPolicy.DisableCertificateDownloads = true;
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = at.UtcDateTime;
        chain.ChainPolicy.VerificationTimeIgnored = false;
        return chain.Build(certificate) && chain.ChainElements[^1].Certificate.Thumbprint == root.Thumbprint;
    }

    /// <summary>An HttpClient that trusts <paramref name="root"/> only, judged at the clock's time.</summary>
    public static HttpClient Client(X509Certificate2 root, TimeProvider clock) => new(new SocketsHttpHandler
    {
        SslOptions = new SslClientAuthenticationOptions
        {
            RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
                certificate is not null
                && (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) == SslPolicyErrors.None
                && ChainsTo(X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()), root, clock.GetUtcNow()),
        },
    });
}
