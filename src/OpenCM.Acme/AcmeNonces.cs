using System.Security.Cryptography;
using OpenCM.Application;
using OpenCM.Domain;

namespace OpenCM.Acme;

/// <summary>
/// Replay nonces (RFC 8555 §6.5): 128 random bits, stored with an expiry until used. Stored rather
/// than HMAC-stamped so that two nodes on one database agree without a shared key and a replay on
/// either is caught: using one deletes its row, and only the delete that removed it succeeds.
/// </summary>
public sealed class AcmeNonces
{
    private readonly IAcmeStore _store;
    private readonly TimeProvider _clock;
    private readonly AcmeOptions _options;

    public AcmeNonces(IAcmeStore store, TimeProvider clock, AcmeOptions options) => (_store, _clock, _options) = (store, clock, options);

    public async Task<string> NewAsync(CancellationToken ct)
    {
        var nonce = Base64Url.Encode(RandomNumberGenerator.GetBytes(16));
        var now = _clock.GetUtcNow();
        await _store.AddNonceAsync(nonce, now + _options.NonceLifetime, now, ct).ConfigureAwait(false);
        return nonce;
    }

    /// <summary>Uses <paramref name="nonce"/>; badNonce when it is absent, malformed, unknown, expired or used.</summary>
    public async Task ConsumeAsync(string? nonce, CancellationToken ct)
    {
        if (nonce is null || nonce.Length is 0 or > 64 || Base64Url.TryDecode(nonce) is null
            || !await _store.TryConsumeNonceAsync(nonce, _clock.GetUtcNow(), ct).ConfigureAwait(false))
        {
            throw AcmeErrors.Problem(ErrorKind.ValidationFailed, AcmeErrors.BadNonce, "The nonce is missing, unknown, expired or used; retry with the Replay-Nonce of this answer.");
        }
    }
}
