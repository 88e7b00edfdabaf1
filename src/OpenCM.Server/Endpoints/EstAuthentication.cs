using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Authentication;
using OpenCM.Application;
using OpenCM.Authority;
using OpenCM.Composition;
using OpenCM.Domain;
using OpenCM.Server.Auth;
using OpenCM.Server.Hosting;

namespace OpenCM.Server.Endpoints;

/// <summary>EST settings (configuration section <c>Est</c>, issue #24.2; docs/est.md).</summary>
public sealed class EstOptions
{
    /// <summary>The configuration section it is bound from (docs/configuration.md lists its keys).</summary>
    public const string Section = "Est";

    /// <summary>The largest request body an EST operation reads (a base64 PKCS#10 is a few KiB); more is a 413.</summary>
    public int MaxRequestBytes { get; set; } = 64 * 1024;

    /// <summary>The Retry-After of a 202 (RFC 7030 §4.2.3): how long a client waits before it asks again for a request that awaits approval.</summary>
    public int RetryAfterSeconds { get; set; } = 60;

    /// <summary>The realm of <c>WWW-Authenticate: Basic</c> (RFC 7617).</summary>
    public string Realm { get; set; } = "OpenCM EST";
}

/// <summary>Registers EST's settings and authentication (issue #24.2).</summary>
internal static class EstServices
{
    /// <summary>Registers them; settings out of range refuse the start in one line, naming the key.</summary>
    public static IServiceCollection AddOpenCmEst(this IServiceCollection services, IConfiguration configuration)
    {
        var options = configuration.GetSection(EstOptions.Section).Get<EstOptions>() ?? new EstOptions();
        if (options.MaxRequestBytes is < 1024 or > Wire.WireBody.MaxBytes)
        {
            throw new ConfigurationRefusedException($"Est:MaxRequestBytes must be from 1024 to {Wire.WireBody.MaxBytes}, not {options.MaxRequestBytes}.");
        }

        if (options.RetryAfterSeconds is < 1 or > 86_400)
        {
            throw new ConfigurationRefusedException($"Est:RetryAfterSeconds must be from 1 to 86400, not {options.RetryAfterSeconds}.");
        }

        services.AddSingleton(options);
        services.AddSingleton<EstAuthentication>();
        return services;
    }
}

/// <summary>How an EST client proved who it is (docs/est.md "Authentication").</summary>
internal enum EstCredential
{
    Password,
    Negotiate,
    ClientCertificate,
}

/// <summary>The caller of an EST operation and how it authenticated; <see cref="Current"/> is the TLS client certificate it presented, when that is how.</summary>
internal sealed record EstCaller(Caller Caller, EstCredential Credential, StoredCertificate? Current = null);

/// <summary>
/// EST's ways in (RFC 7030 §3.2.3, §3.3): a TLS client certificate OpenCM issued (its owner is the
/// caller), HTTP Basic with a directory user's password (the portal's password check, rate-limited
/// per address like the portal's sign-in), and Negotiate where the server accepts it
/// (<c>Auth:Negotiate:Enabled</c>). Nothing presented, or anything refused, is Unauthenticated: a
/// 401 whose <c>WWW-Authenticate</c> offers Basic (<see cref="EstProblems"/>). No password or
/// credential is ever logged or kept.
/// </summary>
internal sealed class EstAuthentication : IDisposable
{
    private const string BasicPrefix = "Basic ";
    private readonly PartitionedRateLimiter<string> _attempts;

    public EstAuthentication(RateLimitOptions limits)
    {
        // The portal's sign-in limit (RateLimits:SignInPerMinute), per client address: guessing a password costs the same here.
        _attempts = PartitionedRateLimiter.Create<string, string>(address => !limits.Enabled
            ? RateLimitPartition.GetNoLimiter(address)
            : RateLimitPartition.GetFixedWindowLimiter(address, _ => new FixedWindowRateLimiterOptions
            {
                PermitLimit = Math.Max(1, limits.SignInPerMinute),
                Window = TimeSpan.FromMinutes(1),
                QueueLimit = 0,
            }));
    }

    /// <summary>
    /// The caller of <paramref name="http"/>: the TLS client certificate when one is presented
    /// (and then only it: a certificate that is not a valid one of OpenCM's is refused, not passed
    /// over for a password), else the Authorization header's Basic or Negotiate credentials.
    /// </summary>
    public async Task<EstCaller> AuthenticateAsync(HttpContext http, CancellationToken ct)
    {
        using var presented = await http.Connection.GetClientCertificateAsync(ct).ConfigureAwait(false) is { } c
            ? X509CertificateLoader.LoadCertificate(c.RawData)
            : null;
        if (presented is not null)
        {
            var (caller, current) = await CertificateOwnerAsync(http.RequestServices, presented, ct).ConfigureAwait(false);
            return new EstCaller(caller, EstCredential.ClientCertificate, current);
        }

        var header = http.Request.Headers.Authorization.ToString();
        if (header.StartsWith(BasicPrefix, StringComparison.OrdinalIgnoreCase))
        {
            return new EstCaller(await PasswordAsync(http, header[BasicPrefix.Length..].Trim(), ct).ConfigureAwait(false), EstCredential.Password);
        }

        if (NegotiateHandler.Carries(http) && http.RequestServices.GetRequiredService<NegotiateOptions>().Enabled)
        {
            var result = await http.AuthenticateAsync(NegotiateHandler.SchemeName).ConfigureAwait(false);
            if (result.Succeeded && CallerResolver.UserUuid(result.Principal) is { } uuid)
            {
                return new EstCaller(await UserAsync(http.RequestServices, uuid, ct).ConfigureAwait(false), EstCredential.Negotiate);
            }

            throw Refused("Negotiate (Kerberos) authentication did not succeed.");
        }

        throw Refused("Authentication is required: HTTP Basic with a directory user's password, Negotiate, or a TLS client certificate OpenCM issued.");
    }

    // RFC 7617: base64 of "name:password" in UTF-8; the name has no colon, the password may.
    private async Task<Caller> PasswordAsync(HttpContext http, string encoded, CancellationToken ct)
    {
        using (var lease = _attempts.AttemptAcquire("address:" + http.Connection.RemoteIpAddress))
        {
            if (!lease.IsAcquired)
            {
                http.RequestServices.GetService<Application.Telemetry.OpenCmMetrics>()?.RateLimited(RateLimits.SignIn);
                throw new OpenCmException(new DomainError(ErrorKind.RateLimited, "Too many password attempts from this address; wait before trying again.")
                {
                    RetryAfter = lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? retryAfter : null,
                });
            }
        }

        var bytes = new byte[encoded.Length];
        string pair;
        try
        {
            pair = Convert.TryFromBase64String(encoded, bytes, out var written)
                ? new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes, 0, written)
                : throw new FormatException();
        }
        catch (Exception e) when (e is FormatException or DecoderFallbackException)
        {
            throw new OpenCmException(DomainError.Validation("Authorization", "The Basic credentials are not base64 of name:password in UTF-8."));
        }
        finally
        {
            Array.Clear(bytes);
        }

        var colon = pair.IndexOf(':', StringComparison.Ordinal);
        var user = colon <= 0
            ? null
            : await http.RequestServices.GetRequiredService<Passwords>().VerifyAsync(pair[..colon], pair[(colon + 1)..], Errors.Correlation.ForAudit(http), ct).ConfigureAwait(false);

        // An unknown name, a user without a password and a wrong password answer alike (Passwords.VerifyAsync).
        return user is null
            ? throw Refused("The name or password is wrong.")
            : await UserAsync(http.RequestServices, user.Uuid, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// The owner of a client certificate: it must be one OpenCM recorded (by serial, byte for byte
    /// the same), Issued or Current (not revoked, not superseded), valid now on the server's clock,
    /// and it must chain to the CA that signed it (RFC 7030 §3.3.2). The TLS handshake proved the
    /// client holds its key.
    /// </summary>
    private static async Task<(Caller Caller, StoredCertificate Current)> CertificateOwnerAsync(IServiceProvider services, X509Certificate2 presented, CancellationToken ct)
    {
        var stored = await services.GetRequiredService<IProfileStore>().CertificateBySerialAsync(presented.SerialNumber, ct).ConfigureAwait(false);
        if (stored is null || !presented.RawData.AsSpan().SequenceEqual(stored.Certificate.Der))
        {
            throw Refused("The TLS client certificate was not issued by this server.");
        }

        if (stored.Status is not (CertificateStatus.Issued or CertificateStatus.Current))
        {
            throw Refused($"The TLS client certificate is {stored.Status.ToString().ToLowerInvariant()}.");
        }

        var now = services.GetRequiredService<TimeProvider>().GetUtcNow();
        if (now < stored.Certificate.NotBefore || now > stored.Certificate.NotAfter)
        {
            throw Refused("The TLS client certificate is not valid now (expired or not yet valid).");
        }

        if (!ChainsToIssuer(services.GetRequiredService<CertificateAuthorities>(), presented, now))
        {
            throw Refused("The TLS client certificate does not chain to this server's CA.");
        }

        return (await UserAsync(services, stored.UserUuid, ct).ConfigureAwait(false), stored);
    }

    private static bool ChainsToIssuer(CertificateAuthorities authorities, X509Certificate2 presented, DateTimeOffset now)
    {
        if (authorities.IssuerOf(presented.RawData) is not { } issuer || issuer.Chain.Count == 0)
        {
            return false;
        }

        using var chain = new X509Chain();
        var certificates = issuer.Chain.Select(der => X509CertificateLoader.LoadCertificate(der.Span)).ToList();
        try
        {
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(certificates[^1]);
            chain.ChainPolicy.ExtraStore.AddRange(certificates.ToArray());
            chain.ChainPolicy.DisableCertificateDownloads = true;
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            chain.ChainPolicy.VerificationTime = now.UtcDateTime;
            chain.ChainPolicy.VerificationTimeIgnored = false;
            return chain.Build(presented);
        }
        finally
        {
            foreach (var certificate in certificates)
            {
                certificate.Dispose();
            }
        }
    }

    // The directory's user as a caller (SID and groups now); a principal that is no user any more is refused.
    private static async Task<Caller> UserAsync(IServiceProvider services, Guid userUuid, CancellationToken ct) =>
        await services.GetRequiredService<DirectoryCallers>().ForUserAsync(userUuid, ct).ConfigureAwait(false)
            ?? throw Refused("The authenticated principal is not a user of the directory.");

    private static OpenCmException Refused(string detail) => new(new DomainError(ErrorKind.Unauthenticated, detail));

    public void Dispose() => _attempts.Dispose();
}
