using System.Security.Cryptography;
using OpenCM.Application;

namespace OpenCM.Authority;

/// <summary>A CRL as published: its DER, an entity tag, and when it was built (its thisUpdate).</summary>
public sealed record PublishedCrl(byte[] Der, string ETag, DateTimeOffset BuiltAt);

/// <summary>
/// Publishes the CA's CRL (SPEC §7) from memory. The CRL is rebuilt when a revocation is
/// published (<see cref="Invalidate"/>, from the CA port's RevokeAsync) or half its validity has
/// passed; otherwise the store is asked whether revocations changed (another process's) at most
/// once per <see cref="RecheckInterval"/>, so an unauthenticated flood of CRL fetches costs no
/// database work (issue #7.8). Its number grows only when it says something new.
/// </summary>
public sealed class CrlPublisher : IDisposable
{
    /// <summary>How long a published CRL is served without asking the store again.</summary>
    public static readonly TimeSpan RecheckInterval = TimeSpan.FromSeconds(1);

    private readonly ICertificateSigner _ca;
    private readonly ICertificateStore _store;
    private readonly TimeProvider _clock;
    private readonly TimeSpan _validity;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private volatile CachedCrl? _current;
    private volatile bool _stale;

    private readonly int _authorityId;

    /// <summary>The publisher of CA <paramref name="authorityId"/>'s CRL (issue #20.1: each CA publishes its own, signed by it).</summary>
    public CrlPublisher(ICertificateSigner ca, ICertificateStore store, TimeProvider clock, TimeSpan validity, int authorityId = 1)
    {
        _authorityId = authorityId;
        _ca = ca;
        _store = store;
        _clock = clock;
        _validity = validity;
    }

    /// <summary>How long a CRL is valid: its nextUpdate is its thisUpdate (<see cref="PublishedCrl.BuiltAt"/>) plus this.</summary>
    public TimeSpan Validity => _validity;

    public void Dispose() => _gate.Dispose();

    /// <summary>A revocation was recorded: the next fetch looks at the store again.</summary>
    public void Invalidate() => _stale = true;

    /// <summary>The CRL to serve now.</summary>
    public async Task<PublishedCrl> CurrentAsync(CancellationToken ct)
    {
        // 1. The CRL in memory, while nothing was revoked here, it is young, and the store was asked recently.
        if (Fresh(_current, _clock.GetUtcNow()) is { } served)
        {
            return served;
        }

        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var now = _clock.GetUtcNow();
            if (Fresh(_current, now) is { } again)
            {
                return again;
            }

            // 2. Ask the store; keep the CRL if its revocations are the same and it is young enough.
            _stale = false;
            var revoked = await _store.ListRevokedAsync(_authorityId, ct).ConfigureAwait(false);
            var fingerprint = Convert.ToHexString(SHA256.HashData(System.Text.Encoding.ASCII.GetBytes(
                string.Join(',', revoked.Select(r => $"{r.SerialHex}:{r.Reason}")))));
            if (_current is { } known && known.Fingerprint == fingerprint && now < known.Crl.BuiltAt + (_validity / 2))
            {
                _current = known with { CheckedAt = now };
                return known.Crl;
            }

            // 3. Build and sign a new one.
            var number = await _store.NextCrlNumberAsync(ct).ConfigureAwait(false);
            var entries = revoked.Select(r => new RevokedEntry(Convert.FromHexString(r.SerialHex), r.RevokedAt, (System.Security.Cryptography.X509Certificates.X509RevocationReason)r.Reason));
            var der = Encodings.Crl(_ca, entries, number, now, now + _validity);
            var published = new PublishedCrl(der, $"\"{Convert.ToHexString(SHA256.HashData(der))[..32]}\"", now);
            _current = new CachedCrl(fingerprint, published, now);
            return published;
        }
        finally
        {
            _gate.Release();
        }
    }

    private PublishedCrl? Fresh(CachedCrl? cached, DateTimeOffset now) =>
        cached is { } c && !_stale && now < c.Crl.BuiltAt + (_validity / 2) && now < c.CheckedAt + RecheckInterval ? c.Crl : null;

    private sealed record CachedCrl(string Fingerprint, PublishedCrl Crl, DateTimeOffset CheckedAt);
}
