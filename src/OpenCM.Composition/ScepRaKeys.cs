using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OpenCM.Application;
using OpenCM.Authority;
using OpenCM.Authority.Pkcs11;
using OpenCM.Authority.Scep;
using OpenCM.Storage;

namespace OpenCM.Composition;

/// <summary>
/// The SCEP RA's certificate and key (issue #24.3, docs/scep.md): an RSA-2048 key (SCEP's key
/// transport is RSA, whatever the CA's key is) with a certificate the active CA issues, in the CA's
/// key source. One is made per CA and half-validity period (<c>scep-ra:{ca}:{period}</c>), by
/// whichever node asks first, so a client always gets one with at least half its validity left;
/// the previous period's still opens envelopes made for it. With a software CA key, the RA's
/// certificate and PKCS#8 key are one secret sealed under the master key like the CA's own
/// (<see cref="SecretStore"/>). With the CA key in a PKCS#11 token, the RA key pair is made in
/// that token (sensitive, never extractable, CKA_SIGN and CKA_DECRYPT) and the secret holds only
/// the certificate and the key's label: envelopes open by C_Decrypt and CertReps are signed by
/// C_Sign through <see cref="Pkcs11Rsa"/>, on the CA signer's own session pool.
/// </summary>
public sealed class ScepRaKeys : IDisposable
{
    // The first four bytes of a packed RA whose key is in the token (a software RA's are the certificate's length).
    private const int TokenMarker = -1;

    private readonly SecretStore _secrets;
    private readonly CertificateAuthorities _authorities;
    private readonly ScepOptions _options;
    private readonly TimeProvider _clock;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, ScepRa> _loaded = new(StringComparer.Ordinal);

    public ScepRaKeys(SecretStore secrets, CertificateAuthorities authorities, ScepOptions options, TimeProvider clock)
    {
        _secrets = secrets;
        _authorities = authorities;
        _options = options;
        _clock = clock;
    }

    /// <summary>The RA GetCACert names now (made on first use).</summary>
    public async Task<ScepRa> CurrentAsync(CancellationToken ct = default)
    {
        var active = _authorities.Active;
        var name = Name(active.Id, Period(_clock.GetUtcNow()));
        if (Cached(name) is { } cached)
        {
            return cached;
        }

        string? made = null;
        var packed = await _secrets.GetOrCreateAsync(name, () => Pack(active.Signer, name, out made), ct).ConfigureAwait(false);
        if (made is not null && TokenOf(active.Signer) is { } token && TokenLabel(packed) != made)
        {
            // Another node (or request) stored its RA first: the key pair made here for nothing goes.
            token.Destroy(made);
        }

        return Keep(name, packed, active.Signer);
    }

    /// <summary>The RAs an envelope may be for: the current one and, when it exists, the previous period's.</summary>
    public async Task<IReadOnlyList<ScepRa>> RecipientsAsync(CancellationToken ct = default)
    {
        var current = await CurrentAsync(ct).ConfigureAwait(false);
        var active = _authorities.Active;
        var previousName = Name(active.Id, Period(_clock.GetUtcNow()) - 1);
        if (Cached(previousName) is { } cached)
        {
            return [current, cached];
        }

        return await _secrets.FindAsync(previousName, ct).ConfigureAwait(false) is { } packed ? [current, Keep(previousName, packed, active.Signer)] : [current];
    }

    /// <summary>
    /// Where the RA key of <paramref name="active"/> lives, for <c>opencm doctor</c>: the token (and
    /// the current RA's label there, when one has been made) or the database. Reads, never makes one.
    /// </summary>
    public static async Task<string> DescribeAsync(SecretStore secrets, StoredAuthority active, ScepOptions options, TimeProvider clock, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(secrets);
        ArgumentNullException.ThrowIfNull(active);
        ArgumentNullException.ThrowIfNull(clock);
        ArgumentNullException.ThrowIfNull(options);
        var name = Name(active.Id, Period(clock.GetUtcNow(), ValidityOf(options)));
        var inToken = active.KeyReference.StartsWith(Pkcs11CaSetup.KeyPrefix, StringComparison.Ordinal);
        var packed = await secrets.FindAsync(name, ct).ConfigureAwait(false);
        var label = packed is null ? null : TokenLabel(packed);
        if (packed is not null)
        {
            CryptographicOperations.ZeroMemory(packed);
        }

        return (inToken, packed is null, label) switch
        {
            (true, true, _) => $"the SCEP RA key is made in the CA's PKCS#11 token on first use ({name})",
            (_, false, { } l) => $"the SCEP RA key is in the CA's PKCS#11 token (label '{l}'); its certificate in the database",
            (false, true, _) => $"the SCEP RA key is made on first use as an RSA key sealed under the master key in the database ({name})",
            _ => $"the SCEP RA key is an RSA key sealed under the master key in the database ({name})",
        };
    }

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var ra in _loaded.Values)
            {
                ra.Dispose();
            }

            _loaded.Clear();
        }
    }

    private long Period(DateTimeOffset now) => Period(now, ValidityDays);

    private static long Period(DateTimeOffset now, int validityDays) => now.UtcTicks / TimeSpan.FromDays(Math.Max(1, validityDays / 2)).Ticks;

    private int ValidityDays => ValidityOf(_options);

    private static int ValidityOf(ScepOptions options) => options.RaValidityDays is >= 2 and <= 3650 ? options.RaValidityDays : 365;

    private static string Name(int authority, long period) => FormattableString.Invariant($"scep-ra:{authority}:{period}");

    private ScepRa? Cached(string name)
    {
        lock (_gate)
        {
            return _loaded.GetValueOrDefault(name);
        }
    }

    private ScepRa Keep(string name, byte[] packed, ICertificateSigner ca)
    {
        var ra = Unpack(packed, ca);
        lock (_gate)
        {
            if (_loaded.TryGetValue(name, out var first))
            {
                ra.Dispose();
                return first;
            }

            _loaded[name] = ra;
            return ra;
        }
    }

    // The token the CA key is in, when it is in one: the RA key is made and used there.
    private static Pkcs11Token? TokenOf(ICertificateSigner ca) => ca.Generator is Pkcs11SignatureGenerator hsm ? hsm.Token : null;

    // A software RA: the certificate and the PKCS#8 key, as one secret: [length of the certificate, big-endian][certificate][key].
    // An RA in the token: [FF FF FF FF][length of the certificate, big-endian][certificate][the key's CKA_LABEL, UTF-8];
    // the marker can never be a certificate's length, so secrets of both kinds read unambiguously.
    private byte[] Pack(ICertificateSigner ca, string name, out string? label)
    {
        if (TokenOf(ca) is { } token)
        {
            // A label per attempt (two nodes may make the period's RA at once; the loser's pair is destroyed),
            // and a CKA_ID derived from it, as a tool listing the token shows which RA each object is.
            label = $"{name}:{RandomNumberGenerator.GetHexString(8, lowercase: true)}";
            using var inToken = token.GenerateRsa(label, SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(label))[..16]);
            try
            {
                using var issued = ScepRa.Issue(ca, inToken, _clock.GetUtcNow(), TimeSpan.FromDays(ValidityDays));
                var labelBytes = System.Text.Encoding.UTF8.GetBytes(label);
                var result = new byte[8 + issued.RawData.Length + labelBytes.Length];
                BinaryPrimitives.WriteInt32BigEndian(result, TokenMarker);
                BinaryPrimitives.WriteInt32BigEndian(result.AsSpan(4), issued.RawData.Length);
                issued.RawData.CopyTo(result, 8);
                labelBytes.CopyTo(result, 8 + issued.RawData.Length);
                return result;
            }
            catch
            {
                token.Destroy(label);
                throw;
            }
        }

        label = null;
        using var key = RSA.Create(2048);
        using var certificate = ScepRa.Issue(ca, key, _clock.GetUtcNow(), TimeSpan.FromDays(ValidityDays));
        var pkcs8 = key.ExportPkcs8PrivateKey();
        var packed = new byte[4 + certificate.RawData.Length + pkcs8.Length];
        BinaryPrimitives.WriteInt32BigEndian(packed, certificate.RawData.Length);
        certificate.RawData.CopyTo(packed, 4);
        pkcs8.CopyTo(packed, 4 + certificate.RawData.Length);
        CryptographicOperations.ZeroMemory(pkcs8);
        return packed;
    }

    // The token key's label a packed RA names, or null for a software RA.
    private static string? TokenLabel(byte[] packed) => BinaryPrimitives.ReadInt32BigEndian(packed) == TokenMarker
        ? System.Text.Encoding.UTF8.GetString(packed.AsSpan(8 + BinaryPrimitives.ReadInt32BigEndian(packed.AsSpan(4))))
        : null;

    private static ScepRa Unpack(byte[] packed, ICertificateSigner ca)
    {
        try
        {
            if (TokenLabel(packed) is { } label)
            {
                var token = TokenOf(ca) ?? throw new InvalidOperationException($"The SCEP RA key '{label}' is in a PKCS#11 token, but the active CA's key is not: configure Ca:Pkcs11.");
                var certificate = X509CertificateLoader.LoadCertificate(packed.AsSpan(8, BinaryPrimitives.ReadInt32BigEndian(packed.AsSpan(4))));
                Pkcs11Rsa inToken;
                try
                {
                    inToken = token.OpenRsa(label);
                }
                catch
                {
                    certificate.Dispose();
                    throw;
                }

                return new ScepRa(certificate, inToken);
            }

            var length = BinaryPrimitives.ReadInt32BigEndian(packed);
            var key = RSA.Create();
            key.ImportPkcs8PrivateKey(packed.AsSpan(4 + length), out _);
            return new ScepRa(X509CertificateLoader.LoadCertificate(packed.AsSpan(4, length)), key);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(packed);
        }
    }
}
