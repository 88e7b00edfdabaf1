using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OpenCM.Application;
using OpenCM.Authority;
using OpenCM.Authority.Scep;
using OpenCM.Storage;

namespace OpenCM.Composition;

/// <summary>
/// The SCEP RA's certificate and key (issue #24.3, docs/scep.md): an RSA-2048 key (SCEP's key
/// transport is RSA, whatever the CA's key is) with a certificate the active CA issues, kept as one
/// secret sealed under the master key like the CA's own (<see cref="SecretStore"/>). One is made per
/// CA and half-validity period (<c>scep-ra:{ca}:{period}</c>), by whichever node asks first, so a
/// client always gets one with at least half its validity left; the previous period's still opens
/// envelopes made for it. The key is in the database even when the CA key is in a PKCS#11 token:
/// opening envelopes there would need C_Decrypt behind .NET's RSA (docs/scep.md).
/// </summary>
public sealed class ScepRaKeys : IDisposable
{
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

        var packed = await _secrets.GetOrCreateAsync(name, () => Pack(active.Signer), ct).ConfigureAwait(false);
        return Keep(name, packed);
    }

    /// <summary>The RAs an envelope may be for: the current one and, when it exists, the previous period's.</summary>
    public async Task<IReadOnlyList<ScepRa>> RecipientsAsync(CancellationToken ct = default)
    {
        var current = await CurrentAsync(ct).ConfigureAwait(false);
        var previousName = Name(_authorities.Active.Id, Period(_clock.GetUtcNow()) - 1);
        if (Cached(previousName) is { } cached)
        {
            return [current, cached];
        }

        return await _secrets.FindAsync(previousName, ct).ConfigureAwait(false) is { } packed ? [current, Keep(previousName, packed)] : [current];
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

    private long Period(DateTimeOffset now) => now.UtcTicks / TimeSpan.FromDays(Math.Max(1, ValidityDays / 2)).Ticks;

    private int ValidityDays => _options.RaValidityDays is >= 2 and <= 3650 ? _options.RaValidityDays : 365;

    private static string Name(int authority, long period) => FormattableString.Invariant($"scep-ra:{authority}:{period}");

    private ScepRa? Cached(string name)
    {
        lock (_gate)
        {
            return _loaded.GetValueOrDefault(name);
        }
    }

    private ScepRa Keep(string name, byte[] packed)
    {
        var ra = Unpack(packed);
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

    // The certificate and the PKCS#8 key, as one secret: [length of the certificate, big-endian][certificate][key].
    private byte[] Pack(ICertificateSigner ca)
    {
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

    private static ScepRa Unpack(byte[] packed)
    {
        try
        {
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
