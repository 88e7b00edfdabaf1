using System.Buffers.Text;
using System.Security.Cryptography;
using OpenCM.Application;

namespace OpenCM.Storage;

/// <summary>
/// ACME External Account Binding keys in the table <c>acme_eab_keys</c> (issue #24.4, RFC 8555
/// §7.3.4). The HMAC key is sealed under the master key with its key id as the context, so a row
/// cannot be read from a copy of the database nor moved to another key id. A key binds one account,
/// once: <see cref="TryBindAsync"/> is a compare-and-set on the unbound, unexpired row.
/// </summary>
public sealed class SqlExternalAccountKeys : IExternalAccountKeys
{
    /// <summary>Random bytes in a key id (base64url: 22 characters); RFC 8555 leaves its form to the server.</summary>
    public const int KeyIdBytes = 16;

    /// <summary>The HMAC key's length: 256 bits, for HS256 (RFC 8555 §7.3.4 allows any MAC algorithm; clients use HS256).</summary>
    public const int HmacKeyBytes = 32;

    // Key ids are what a client sends (the JWS kid): one that cannot be one this store issued
    // (longer, or not base64url; a NUL would even fail PostgreSQL's text) is unknown without a query.
    private const int MaxKeyIdLength = 64;

    private readonly StorageProvider _db;
    private readonly IKeySealer _sealer;
    private readonly TimeProvider _clock;

    public SqlExternalAccountKeys(StorageProvider db, IKeySealer sealer, TimeProvider clock)
    {
        _db = db;
        _sealer = sealer;
        _clock = clock;
    }

    public async Task<ExternalAccountKey> CreateAsync(Guid userUuid, Guid profileTemplateUuid, TimeSpan lifetime, Func<ExternalAccountKey, AuditEvent>? audit, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(lifetime, TimeSpan.Zero);
        var now = _clock.GetUtcNow();
        var key = new ExternalAccountKey(
            Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(KeyIdBytes)),
            RandomNumberGenerator.GetBytes(HmacKeyBytes),
            userUuid,
            profileTemplateUuid,
            now,
            now + lifetime);
        var sealedKey = _sealer.Seal(SealContext(key.KeyId), key.HmacKey);
        await _db.WriteAsync(async (tx, c) =>
        {
            // Keys that expired unbound can never be used: forgotten as new ones are made. Bound
            // ones stay, as the record of which key made which account.
            await tx.ExecuteAsync("DELETE FROM acme_eab_keys WHERE bound_thumbprint IS NULL AND expires <= @now", c, ("@now", Sql.Ticks(now))).ConfigureAwait(false);
            if (audit is not null)
            {
                await AuditAppender.AppendAsync(tx, _db.AuditKey, audit(key), c).ConfigureAwait(false);
            }

            return await tx.ExecuteAsync(
                "INSERT INTO acme_eab_keys (key_id, hmac_sealed, user_uuid, template_uuid, created, expires) VALUES (@id, @hmac, @user, @template, @created, @expires)", c,
                ("@id", key.KeyId), ("@hmac", sealedKey), ("@user", Sql.Text(userUuid)), ("@template", Sql.Text(profileTemplateUuid)),
                ("@created", Sql.Ticks(key.Created)), ("@expires", Sql.Ticks(key.Expires))).ConfigureAwait(false);
        }, ct).ConfigureAwait(false);
        return key;
    }

    public async Task<ExternalAccountKey?> FindUsableAsync(string keyId, CancellationToken ct)
    {
        if (!Plausible(keyId))
        {
            return null;
        }

        var row = await _db.ReadAsync((conn, c) => conn.FirstRowAsync(
            "SELECT hmac_sealed, user_uuid, template_uuid, created, expires FROM acme_eab_keys WHERE key_id = @id AND bound_thumbprint IS NULL AND expires > @now",
            r => new { Sealed = r.GetString(0), User = Guid.Parse(r.GetString(1)), Template = Guid.Parse(r.GetString(2)), Created = Sql.Time(r.GetInt64(3)), Expires = Sql.Time(r.GetInt64(4)) },
            c, ("@id", keyId), ("@now", Sql.Ticks(_clock.GetUtcNow()))), ct).ConfigureAwait(false);
        return row is null ? null : new ExternalAccountKey(keyId, _sealer.Open(SealContext(keyId), row.Sealed), row.User, row.Template, row.Created, row.Expires);
    }

    public async Task<bool> TryBindAsync(string keyId, string accountThumbprint, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrEmpty(accountThumbprint);
        if (!Plausible(keyId))
        {
            return false;
        }

        var now = Sql.Ticks(_clock.GetUtcNow());
        var changed = await _db.WriteAsync((tx, c) => tx.ExecuteAsync(
            "UPDATE acme_eab_keys SET bound_thumbprint = @thumbprint, bound = @now WHERE key_id = @id AND bound_thumbprint IS NULL AND expires > @now", c,
            ("@thumbprint", accountThumbprint), ("@now", now), ("@id", keyId)), ct).ConfigureAwait(false);
        return changed == 1;
    }

    private static string SealContext(string keyId) => "acme-eab:" + keyId;

    private static bool Plausible(string? keyId) =>
        !string.IsNullOrEmpty(keyId) && keyId.Length <= MaxKeyIdLength && keyId.All(ch => char.IsAsciiLetterOrDigit(ch) || ch is '-' or '_');
}
