using System.Security.Cryptography;
using OpenCM.Application;

namespace OpenCM.Authority;

/// <summary>
/// Publishes the CA's CRL (SPEC §7). A CRL is built when revocations change or half its validity
/// has passed, and served from memory otherwise, so its number grows only when it says something new.
/// </summary>
public sealed class CrlPublisher : IDisposable
{
    private readonly ICertificateSigner _ca;
    private readonly ICertificateStore _store;
    private readonly TimeProvider _clock;
    private readonly TimeSpan _validity;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private volatile CachedCrl? _current;

    public CrlPublisher(ICertificateSigner ca, ICertificateStore store, TimeProvider clock, TimeSpan validity)
    {
        _ca = ca;
        _store = store;
        _clock = clock;
        _validity = validity;
    }

    public void Dispose() => _gate.Dispose();

    /// <summary>Drops the CRL held in memory: the next fetch builds one from the store.</summary>
    public void Invalidate() => _current = null;

    public async Task<byte[]> CurrentAsync(CancellationToken ct)
    {
        var revoked = await _store.ListRevokedAsync(ct).ConfigureAwait(false);
        var fingerprint = Convert.ToHexString(SHA256.HashData(System.Text.Encoding.ASCII.GetBytes(string.Join(',', revoked.Select(r => r.SerialHex)))));
        var validity = _validity;
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
            _current = new CachedCrl(fingerprint, crl, now);
            return crl;
        }
        finally
        {
            _gate.Release();
        }
    }

    private sealed record CachedCrl(string Fingerprint, byte[] Crl, DateTimeOffset BuiltAt);
}
