using System.Buffers.Binary;
using System.Security.Cryptography;
using OpenCM.Application;
using OpenCM.Authority;
using OpenCM.Storage;

namespace OpenCM.Server.Pki;

/// <summary>Settings of the embedded CA (configuration section <c>Ca</c>).</summary>
public sealed class CaOptions
{
    /// <summary>The CA's common name; also names its CRL file.</summary>
    public string Name { get; set; } = "OpenCM Root CA";

    /// <summary>Key algorithm of a newly created CA (SPEC §7: default ECDSA P-384).</summary>
    public CaKeyAlgorithm KeyAlgorithm { get; set; } = CaKeyAlgorithm.EcdsaP384;

    /// <summary>How clients reach this server, for the CRL distribution point in certificates, e.g. https://cm.contoso.com.</summary>
    public string? PublicUrl { get; set; }

    /// <summary>How long a published CRL is valid.</summary>
    public int CrlValidityHours { get; set; } = 24;

    /// <summary>The file name the CA publishes under: its name with every other character than a letter or digit as '-'.</summary>
    public string Slug => new([.. Name.Select(c => char.IsAsciiLetterOrDigit(c) ? c : '-')]);
}

/// <summary>
/// Creates the embedded CA on first use and loads it afterwards. Certificate and private key are
/// one secret, encrypted at rest under the master key (SPEC §7), so that two processes starting
/// at once cannot pair one's certificate with the other's key.
/// </summary>
public static class CaSetup
{
    public const string SecretName = "ca";

    public static ICertificateSigner LoadOrCreate(SecretStore secrets, CaOptions options, TimeProvider clock)
    {
        ArgumentNullException.ThrowIfNull(secrets);
        ArgumentNullException.ThrowIfNull(options);
        var packed = secrets.GetOrCreateAsync(SecretName, () =>
        {
            var name = new System.Security.Cryptography.X509Certificates.X500DistinguishedNameBuilder();
            name.AddCommonName(options.Name);
            return Pack(CertificateAuthorityFactory.CreateRoot(name.Build(), options.KeyAlgorithm, clock.GetUtcNow()));
        }).GetAwaiter().GetResult();
        var certificateLength = BinaryPrimitives.ReadInt32BigEndian(packed);
        var certificate = packed.AsSpan(4, certificateLength).ToArray();
        var key = packed.AsSpan(4 + certificateLength);
        try
        {
            return LocalKeySigner.Load(certificate, key);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(packed);
        }
    }

    /// <summary>The CRL distribution point certificates carry.</summary>
    public static string CrlUrl(CaOptions options, string? urls, string pathBase)
    {
        ArgumentNullException.ThrowIfNull(options);
        var origin = options.PublicUrl ?? DefaultOrigin(urls);
        return $"{origin.TrimEnd('/')}{pathBase.TrimEnd('/')}/crl/{options.Slug}.crl";
    }

    // Without Ca:PublicUrl, the first address the server listens on, with wildcards replaced by this host's name.
    private static string DefaultOrigin(string? urls)
    {
        var first = (urls ?? "http://localhost:5000").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? "http://localhost:5000";
        foreach (var wildcard in new[] { "://*", "://+", "://0.0.0.0", "://[::]" })
        {
            first = first.Replace(wildcard, "://" + Environment.MachineName.ToLowerInvariant(), StringComparison.Ordinal);
        }

        return first;
    }

    private static byte[] Pack(NewAuthority created)
    {
        var packed = new byte[4 + created.CertificateDer.Length + created.Pkcs8PrivateKey.Length];
        BinaryPrimitives.WriteInt32BigEndian(packed, created.CertificateDer.Length);
        created.CertificateDer.CopyTo(packed, 4);
        created.Pkcs8PrivateKey.CopyTo(packed, 4 + created.CertificateDer.Length);
        CryptographicOperations.ZeroMemory(created.Pkcs8PrivateKey);
        return packed;
    }
}

/// <summary>
/// Publishes the CA's CRL (SPEC §7). A CRL is built when revocations change or half its validity
/// has passed, and served from memory otherwise, so its number grows only when it says something new.
/// </summary>
public sealed class CrlPublisher : IDisposable
{
    private readonly ICertificateSigner _ca;
    private readonly ICertificateStore _store;
    private readonly TimeProvider _clock;
    private readonly CaOptions _options;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private (string Fingerprint, byte[] Crl, DateTimeOffset BuiltAt)? _current;

    public CrlPublisher(ICertificateSigner ca, ICertificateStore store, TimeProvider clock, CaOptions options)
    {
        _ca = ca;
        _store = store;
        _clock = clock;
        _options = options;
    }

    public void Dispose() => _gate.Dispose();

    public async Task<byte[]> CurrentAsync(CancellationToken ct)
    {
        var revoked = await _store.ListRevokedAsync(ct).ConfigureAwait(false);
        var fingerprint = Convert.ToHexString(SHA256.HashData(System.Text.Encoding.ASCII.GetBytes(string.Join(',', revoked.Select(r => r.SerialHex)))));
        var validity = TimeSpan.FromHours(_options.CrlValidityHours);
        if (_current is { } c && c.Fingerprint == fingerprint && _clock.GetUtcNow() < c.BuiltAt + validity / 2)
        {
            return c.Crl;
        }

        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var now = _clock.GetUtcNow();
            if (_current is { } again && again.Fingerprint == fingerprint && now < again.BuiltAt + validity / 2)
            {
                return again.Crl;
            }

            var number = await _store.NextCrlNumberAsync(ct).ConfigureAwait(false);
            var entries = revoked.Select(r => new RevokedEntry(Convert.FromHexString(r.SerialHex), r.RevokedAt, (System.Security.Cryptography.X509Certificates.X509RevocationReason)r.Reason));
            var crl = Encodings.Crl(_ca, entries, number, now, now + validity);
            _current = (fingerprint, crl, now);
            return crl;
        }
        finally
        {
            _gate.Release();
        }
    }
}
