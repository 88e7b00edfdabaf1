using System.Buffers.Binary;
using System.Security.Cryptography;
using OpenCM.Application;
using OpenCM.Domain;

namespace OpenCM.Acme;

/// <summary>
/// The key replay nonces are stamped under: derived from the installation's master key (HKDF-SHA256,
/// <see cref="Label"/>), which every node of one database holds, so any node checks any node's
/// nonce; never stored. The host derives it (<c>MasterKey.DeriveKey</c>).
/// </summary>
public sealed class AcmeNonceKey
{
    /// <summary>The HKDF info label; a new label is a new key (every nonce handed out before is then refused once, as badNonce).</summary>
    public const string Label = "opencm/acme-nonce/v1";

    internal AcmeNonceKey(byte[] key) => Key = key;

    internal byte[] Key { get; }

    /// <summary>The key from its 32 derived bytes.</summary>
    public static AcmeNonceKey FromDerived(byte[] key) =>
        key is { Length: 32 } ? new AcmeNonceKey((byte[])key.Clone()) : throw new ArgumentException("The nonce key is 32 bytes.", nameof(key));
}

/// <summary>
/// Replay nonces (RFC 8555 §6.5). A nonce is stamped, not stored: its expiry, 128 random bits and an
/// HMAC-SHA256 (truncated to 128 bits) over both under <see cref="AcmeNonceKey"/>. Handing one out
/// writes nothing (answers and an unauthenticated new-nonce cost no row: a flood of them fills no
/// table), and any node of the database can check a stamp. Using one records it in the database
/// until its expiry; only the insert that recorded it succeeds, so a replay on any node is caught.
/// </summary>
public sealed class AcmeNonces
{
    private const int ExpiryBytes = 8;
    private const int RandomBytes = 16;
    private const int MacBytes = 16;
    private const int Length = ExpiryBytes + RandomBytes + MacBytes;
    private readonly IAcmeStore _store;
    private readonly TimeProvider _clock;
    private readonly AcmeOptions _options;
    private readonly AcmeNonceKey _key;

    public AcmeNonces(IAcmeStore store, TimeProvider clock, AcmeOptions options, AcmeNonceKey key) =>
        (_store, _clock, _options, _key) = (store, clock, options, key);

    /// <summary>A fresh nonce, usable once until <see cref="AcmeOptions.NonceLifetime"/> from now. Writes nothing.</summary>
    public string New()
    {
        Span<byte> nonce = stackalloc byte[Length];
        BinaryPrimitives.WriteInt64BigEndian(nonce, (_clock.GetUtcNow() + _options.NonceLifetime).UtcTicks);
        RandomNumberGenerator.Fill(nonce.Slice(ExpiryBytes, RandomBytes));
        Stamp(nonce[..(ExpiryBytes + RandomBytes)], nonce[(ExpiryBytes + RandomBytes)..]);
        return Base64Url.Encode(nonce);
    }

    /// <summary>Uses <paramref name="nonce"/>; badNonce when it is absent, malformed, not stamped by this installation, expired or used.</summary>
    public async Task ConsumeAsync(string? nonce, CancellationToken ct)
    {
        // 1. The stamp (a constant-time compare), then the expiry it carries: neither touches the database.
        var bytes = nonce is { Length: > 0 and <= 64 } ? Base64Url.TryDecode(nonce) : null;
        var now = _clock.GetUtcNow();
        if (bytes is not { Length: Length } || !Stamped(bytes) || Expiry(bytes) is not { } expires || expires < now
            // 2. The first use on any node records it; a second finds it recorded.
            || !await _store.TryUseNonceAsync(nonce!, expires, now, ct).ConfigureAwait(false))
        {
            throw AcmeErrors.Problem(ErrorKind.ValidationFailed, AcmeErrors.BadNonce, "The nonce is missing, unknown, expired or used; retry with the Replay-Nonce of this answer.");
        }
    }

    private void Stamp(ReadOnlySpan<byte> body, Span<byte> mac)
    {
        Span<byte> full = stackalloc byte[HMACSHA256.HashSizeInBytes];
        HMACSHA256.HashData(_key.Key, body, full);
        full[..MacBytes].CopyTo(mac);
    }

    private bool Stamped(byte[] nonce)
    {
        Span<byte> expected = stackalloc byte[MacBytes];
        Stamp(nonce.AsSpan(0, ExpiryBytes + RandomBytes), expected);
        return CryptographicOperations.FixedTimeEquals(expected, nonce.AsSpan(ExpiryBytes + RandomBytes));
    }

    private static DateTimeOffset? Expiry(byte[] nonce) =>
        BinaryPrimitives.ReadInt64BigEndian(nonce) is var ticks && ticks >= DateTimeOffset.MinValue.UtcTicks && ticks <= DateTimeOffset.MaxValue.UtcTicks
            ? new DateTimeOffset(ticks, TimeSpan.Zero)
            : null;
}
