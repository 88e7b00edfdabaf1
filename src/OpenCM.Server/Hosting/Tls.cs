using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using OpenCM.Application;
using OpenCM.Authority;
using OpenCM.Domain;

namespace OpenCM.Server.Hosting;

/// <summary>
/// The server's own TLS certificate (configuration section <c>Tls</c>, issue #21.5; docs/operations.md "TLS").
/// A certificate file needs none of this: Kestrel's own settings (<c>Kestrel:Endpoints:…:Certificate:Path</c>) serve it.
/// </summary>
public sealed class TlsOptions
{
    public const string Section = "Tls";

    /// <summary>
    /// The host name(s) (comma-separated DNS names or IP addresses) of a certificate the server
    /// issues itself from its active CA and serves on every HTTPS address; unset: none (HTTPS then
    /// needs a certificate file, Kestrel's own settings).
    /// </summary>
    public string? FromOwnCa { get; set; }

    /// <summary>How long that certificate is valid, in days; it is renewed, without a restart, once two thirds of it have passed.</summary>
    public int LifetimeDays { get; set; } = 30;

    /// <summary>The longest a certificate may be asked to live: the CA/Browser Forum's limit for TLS server certificates.</summary>
    public const int MaxLifetimeDays = 397;

    /// <summary>
    /// Whether HTTPS addresses ask for a TLS client certificate without requiring one
    /// (<c>ClientCertificateMode.AllowCertificate</c>): EST's <c>simplereenroll</c> authenticates
    /// with it (RFC 7030 §3.3.2, issue #24.2). Any certificate is let through the handshake; only
    /// the EST routes look at it, and they accept only a valid one OpenCM issued. False: no
    /// certificate is asked for (a browser never offers one; EST re-enrollment then has no way in).
    /// </summary>
    public bool AllowClientCertificates { get; set; } = true;
}

/// <summary>
/// Serving HTTPS with a certificate from the server's own CA (<c>--Tls:FromOwnCa=HOSTNAME</c>):
/// Kestrel's HTTPS defaults take the certificate from a holder that <see cref="ServerTlsLoop"/>
/// fills before the server listens and replaces before it expires. Kestrel ignores an endpoint's
/// own certificate when a selector is set, so with this on every HTTPS address serves this
/// certificate (docs/operations.md says so).
/// </summary>
public static class Tls
{
    /// <summary>Registers the holder, the issuing loop and Kestrel's HTTPS defaults when <c>Tls:FromOwnCa</c> is set; refuses a setting it cannot serve.</summary>
    public static WebApplicationBuilder AddOpenCmTls(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var options = builder.Configuration.GetSection(TlsOptions.Section).Get<TlsOptions>() ?? new TlsOptions();
        builder.Services.AddSingleton(options);
        if (string.IsNullOrWhiteSpace(options.FromOwnCa))
        {
            // Kestrel keeps one HTTPS defaults action: the client certificate setting goes in the same one as the server certificate's.
            builder.WebHost.ConfigureKestrel(k => k.ConfigureHttpsDefaults(https => AllowClientCertificates(https, options)));
            return builder;
        }

        IReadOnlyList<string> names;
        try
        {
            names = ServerCertificatePlan.Names(options.FromOwnCa, "Tls:FromOwnCa");
        }
        catch (OpenCmException ex)
        {
            throw new ConfigurationRefusedException($"Tls:FromOwnCa: {ex.Error.Detail}");
        }

        if (options.LifetimeDays is < 1 or > TlsOptions.MaxLifetimeDays)
        {
            throw new ConfigurationRefusedException($"Tls:LifetimeDays must be from 1 to {TlsOptions.MaxLifetimeDays}, not {options.LifetimeDays}.");
        }

        if (!HasHttpsAddress(builder.Configuration))
        {
            throw new ConfigurationRefusedException(
                "Tls:FromOwnCa issues the certificate of the server's HTTPS addresses, and none is configured: listen on one, e.g. --urls https://0.0.0.0:8443 (or Kestrel:Endpoints:Https:Url).");
        }

        var holder = new ServerCertificateHolder(names);
        builder.Services.AddSingleton(_ => holder);
        builder.Services.AddSingleton<ServerCertificates>();
        builder.Services.AddHostedService<ServerTlsLoop>();
        builder.WebHost.ConfigureKestrel(k => k.ConfigureHttpsDefaults(https =>
        {
            AllowClientCertificates(https, options);

            // The selector satisfies Kestrel (an HTTPS address needs a certificate or a selector);
            // OnAuthenticate then hands the TLS stack the whole context, the CA's chain with it, so
            // that a client trusting only the root (or a subordinate CA's root) builds the path.
            // (Kestrel refuses OnAuthenticate on HTTP/3 addresses: HTTP/1.1 and HTTP/2 only.)
            https.ServerCertificateSelector = (_, _) => holder.Current?.Certificate;
            https.OnAuthenticate = (_, ssl) =>
            {
                if (holder.Current is { } current)
                {
                    ssl.ServerCertificateSelectionCallback = null;
                    ssl.ServerCertificate = null;
                    ssl.ServerCertificateContext = current.Context;
                }
            };
        }));
        return builder;
    }

    /// <summary>
    /// Asks for a client certificate on every HTTPS address without requiring one (<see cref="TlsOptions.AllowClientCertificates"/>).
    /// Kestrel's own chain check against the machine's trust store is bypassed: the EST front-end
    /// decides, by serial, status, validity and signature against OpenCM's CAs; every other route ignores the certificate.
    /// </summary>
    private static void AllowClientCertificates(Microsoft.AspNetCore.Server.Kestrel.Https.HttpsConnectionAdapterOptions https, TlsOptions options)
    {
        if (!options.AllowClientCertificates)
        {
            return;
        }

        https.ClientCertificateMode = Microsoft.AspNetCore.Server.Kestrel.Https.ClientCertificateMode.AllowCertificate;
        https.AllowAnyClientCertificate();
    }

    // An https:// address among the URLs (--urls, ASPNETCORE_URLS) or Kestrel's endpoints.
    private static bool HasHttpsAddress(ConfigurationManager configuration) =>
        (configuration["urls"] ?? "").Split(';', StringSplitOptions.TrimEntries).Any(IsHttps)
        || configuration.GetSection("Kestrel:Endpoints").GetChildren().Any(e => IsHttps(e["Url"]));

    private static bool IsHttps(string? url) => url?.StartsWith("https://", StringComparison.OrdinalIgnoreCase) == true;
}

/// <summary>
/// The TLS certificate in use, swapped whole (one volatile reference) when it is renewed:
/// a handshake reads one certificate and its chain, never a half-replaced pair. Replaced ones are
/// kept until shutdown, since a handshake may still be using one.
/// </summary>
public sealed class ServerCertificateHolder : IDisposable
{
    private readonly Lock _gate = new();
    private readonly List<InUse> _replaced = [];
    private volatile InUse? _current;

    public ServerCertificateHolder(IReadOnlyList<string> names) => Names = names;

    /// <summary>The names the certificate is for (<c>Tls:FromOwnCa</c>).</summary>
    public IReadOnlyList<string> Names { get; }

    /// <summary>The certificate served now; null until the first one is issued.</summary>
    public InUse? Current => _current;

    /// <summary>Puts <paramref name="next"/> in use.</summary>
    public void Replace(InUse next)
    {
        ArgumentNullException.ThrowIfNull(next);
        lock (_gate)
        {
            if (_current is { } previous)
            {
                _replaced.Add(previous);
            }

            _current = next;
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var certificate in _replaced.Append(_current))
            {
                certificate?.Certificate.Dispose();
            }

            _replaced.Clear();
        }
    }

    /// <summary>A certificate with its private key, the chain Kestrel sends with it, and when it is to be renewed.</summary>
    public sealed record InUse(ServerCertificate Issued, X509Certificate2 Certificate, SslStreamCertificateContext Context, DateTimeOffset RenewAt);
}

/// <summary>
/// Issues the server's TLS certificate before Kestrel listens (hosted services start first) and
/// renews it once two thirds of its validity have passed, on the server's clock (TimeProvider),
/// without a restart. The key is ECDSA P-256, made in memory and never written anywhere: a
/// restart makes a new key and certificate (one CA signature), so there is no TLS key at rest to
/// seal, back up or leak, and each node of a cluster has its own key and certificate with nothing
/// shared (docs/operations.md "TLS"). A failed renewal is retried every minute while the
/// certificate held stays valid.
/// </summary>
public sealed partial class ServerTlsLoop : BackgroundService
{
    // Long waits are cut into hours, so that a clock that jumps (a suspended VM) is noticed.
    private static readonly TimeSpan LongestWait = TimeSpan.FromHours(1);
    private static readonly TimeSpan Retry = TimeSpan.FromMinutes(1);

    private readonly ServerCertificateHolder _holder;
    private readonly ServerCertificates _certificates;
    private readonly CertificateAuthorities _authorities;
    private readonly TlsOptions _options;
    private readonly TimeProvider _clock;
    private readonly ILogger<ServerTlsLoop> _log;

    public ServerTlsLoop(ServerCertificateHolder holder, ServerCertificates certificates, CertificateAuthorities authorities, TlsOptions options, TimeProvider clock, ILogger<ServerTlsLoop> log)
    {
        _holder = holder;
        _certificates = certificates;
        _authorities = authorities;
        _options = options;
        _clock = clock;
        _log = log;
    }

    /// <summary>The first certificate, before the server listens: without it no handshake could succeed.</summary>
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        await IssueAsync(cancellationToken).ConfigureAwait(false);
        await base.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var wait = _holder.Current!.RenewAt - _clock.GetUtcNow();
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait < LongestWait ? wait : LongestWait, _clock, stoppingToken).ConfigureAwait(false);
                    continue;
                }

                await IssueAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                // The database or the CA's key is unavailable: the certificate held keeps serving until it expires.
                LogRenewalFailed(_log, ex, _holder.Current!.Certificate.NotAfter.ToUniversalTime());
                try
                {
                    await Task.Delay(Retry, _clock, stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private async Task IssueAsync(CancellationToken ct)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var now = _clock.GetUtcNow();
        var issued = await _certificates.IssueAsync(_holder.Names, key.ExportSubjectPublicKeyInfo(), _options.LifetimeDays, _holder.Current?.Issued.Id, Environment.MachineName, now, ct).ConfigureAwait(false);
        using var bare = X509CertificateLoader.LoadCertificate(issued.Certificate.Der);
        var certificate = bare.CopyWithPrivateKey(key);
        var chain = new X509Certificate2Collection();
        foreach (var der in _authorities.IssuerOf(issued.Certificate.Der)?.Chain ?? [])
        {
            chain.Add(X509CertificateLoader.LoadCertificate(der.Span));
        }

        var context = SslStreamCertificateContext.Create(certificate, chain, offline: true);
        _holder.Replace(new ServerCertificateHolder.InUse(issued, certificate, context, ServerCertificatePlan.RenewAt(issued.Certificate.NotBefore, issued.Certificate.NotAfter)));
        LogIssued(_log, issued.Certificate.SerialHex, string.Join(",", issued.Names), issued.Certificate.NotAfter);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "TLS: serving certificate {Serial} for {Names} from the server's CA, valid until {NotAfter:O}.")]
    private static partial void LogIssued(ILogger logger, string serial, string names, DateTimeOffset notAfter);

    [LoggerMessage(Level = LogLevel.Warning, Message = "TLS: renewing the server's certificate failed; the one held (valid until {NotAfter:O}) keeps serving, trying again in a minute.")]
    private static partial void LogRenewalFailed(ILogger logger, Exception exception, DateTime notAfter);
}
