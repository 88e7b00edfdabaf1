using System.Data.Common;
using System.Text.Json;
using System.Text.Json.Serialization;
using OpenCM.Application;

namespace OpenCM.Storage;

/// <summary>
/// ACME's used nonces, accounts, orders and authorizations (issue #24.4) in the tables of migration 0026
/// (SQLite) / 0020 (PostgreSQL): each object a JSON body beside the columns it is found by, and a
/// version that every update compares and sets.
/// </summary>
public sealed class SqlAcmeStore : IAcmeStore
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.General) { Converters = { new JsonStringEnumConverter() } };
    private readonly StorageProvider _db;

    public SqlAcmeStore(StorageProvider db) => _db = db;

    // acme_nonces (migration 0026/0020) holds the nonces USED and not yet expired (since 0.25.0;
    // before, the ones handed out): a nonce is a stamp the service checks (AcmeNonces), and this
    // table is what catches its second use on any node. Rows left from before are harmless: their
    // nonces carry no stamp, and they go as they expire.
    public async Task<bool> TryUseNonceAsync(string nonce, DateTimeOffset expires, DateTimeOffset now, CancellationToken ct = default) =>
        await _db.WriteAsync(async (tx, c) =>
        {
            await tx.ExecuteAsync("DELETE FROM acme_nonces WHERE expires < @now", c, ("@now", Sql.Ticks(now))).ConfigureAwait(false);
            return await tx.ExecuteAsync("INSERT INTO acme_nonces (nonce, expires) VALUES (@n, @e) ON CONFLICT DO NOTHING", c, ("@n", nonce), ("@e", Sql.Ticks(expires))).ConfigureAwait(false);
        }, ct).ConfigureAwait(false) == 1;

    public async Task<bool> TryAddAccountAsync(AcmeAccount account, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(account);
        return await _db.WriteAsync((tx, c) => tx.ExecuteAsync(
            "INSERT INTO acme_accounts (id, thumbprint, version, body) VALUES (@id, @t, @v, @b) ON CONFLICT DO NOTHING", c,
            ("@id", account.Id), ("@t", account.KeyThumbprint), ("@v", account.Version), ("@b", Body(account))), ct).ConfigureAwait(false) == 1;
    }

    public Task<AcmeAccount?> FindAccountAsync(string id, CancellationToken ct = default) =>
        _db.ReadAsync((conn, c) => conn.FirstRowAsync("SELECT body, version FROM acme_accounts WHERE id = @id", Read<AcmeAccount>, c, ("@id", id)), ct);

    public Task<AcmeAccount?> FindAccountByKeyAsync(string keyThumbprint, CancellationToken ct = default) =>
        _db.ReadAsync((conn, c) => conn.FirstRowAsync("SELECT body, version FROM acme_accounts WHERE thumbprint = @t", Read<AcmeAccount>, c, ("@t", keyThumbprint)), ct);

    public async Task<bool> TryUpdateAccountAsync(AcmeAccount account, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(account);

        // A key change (RFC 8555 §7.3.5) to a key another account holds changes nothing (the caller answers 409).
        return await _db.WriteAsync((tx, c) => tx.ExecuteAsync(
            "UPDATE acme_accounts SET thumbprint = @t, body = @b, version = version + 1 WHERE id = @id AND version = @v " +
            "AND NOT EXISTS (SELECT 1 FROM acme_accounts o WHERE o.thumbprint = @t AND o.id <> @id)", c,
            ("@id", account.Id), ("@t", account.KeyThumbprint), ("@v", account.Version), ("@b", Body(account))), ct).ConfigureAwait(false) == 1;
    }

    public Task AddOrderAsync(AcmeOrder order, IReadOnlyList<AcmeAuthorization> authorizations, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(order);
        ArgumentNullException.ThrowIfNull(authorizations);
        return _db.WriteAsync(async (tx, c) =>
        {
            await tx.ExecuteAsync("INSERT INTO acme_orders (id, account_id, created, certificate_serial, version, body) VALUES (@id, @a, @cr, @s, @v, @b)", c,
                ("@id", order.Id), ("@a", order.AccountId), ("@cr", Sql.Ticks(order.Created)), ("@s", order.CertificateSerial), ("@v", order.Version), ("@b", Body(order))).ConfigureAwait(false);
            foreach (var authorization in authorizations)
            {
                await tx.ExecuteAsync("INSERT INTO acme_authorizations (id, order_id, version, body) VALUES (@id, @o, @v, @b)", c,
                    ("@id", authorization.Id), ("@o", authorization.OrderId), ("@v", authorization.Version), ("@b", Body(authorization))).ConfigureAwait(false);
            }

            return 0;
        }, ct);
    }

    public Task<AcmeOrder?> FindOrderAsync(string id, CancellationToken ct = default) =>
        _db.ReadAsync((conn, c) => conn.FirstRowAsync("SELECT body, version FROM acme_orders WHERE id = @id", Read<AcmeOrder>, c, ("@id", id)), ct);

    public Task<IReadOnlyList<AcmeOrder>> OrdersOfAccountAsync(string accountId, int limit, CancellationToken ct = default) =>
        ListAsync<AcmeOrder>("SELECT body, version FROM acme_orders WHERE account_id = @a ORDER BY created DESC, id LIMIT @l", ct, ("@a", accountId), ("@l", limit));

    public Task<AcmeOrder?> FindOrderByCertificateAsync(string serialHex, CancellationToken ct = default) =>
        _db.ReadAsync((conn, c) => conn.FirstRowAsync("SELECT body, version FROM acme_orders WHERE certificate_serial = @s", Read<AcmeOrder>, c, ("@s", serialHex)), ct);

    public async Task<bool> TryUpdateOrderAsync(AcmeOrder order, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(order);
        return await _db.WriteAsync((tx, c) => tx.ExecuteAsync(
            "UPDATE acme_orders SET certificate_serial = @s, body = @b, version = version + 1 WHERE id = @id AND version = @v", c,
            ("@id", order.Id), ("@s", order.CertificateSerial), ("@v", order.Version), ("@b", Body(order))), ct).ConfigureAwait(false) == 1;
    }

    public Task<AcmeAuthorization?> FindAuthorizationAsync(string id, CancellationToken ct = default) =>
        _db.ReadAsync((conn, c) => conn.FirstRowAsync("SELECT body, version FROM acme_authorizations WHERE id = @id", Read<AcmeAuthorization>, c, ("@id", id)), ct);

    public Task<IReadOnlyList<AcmeAuthorization>> AuthorizationsOfOrderAsync(string orderId, CancellationToken ct = default) =>
        ListAsync<AcmeAuthorization>("SELECT body, version FROM acme_authorizations WHERE order_id = @o ORDER BY id", ct, ("@o", orderId));

    public async Task<bool> TryUpdateAuthorizationAsync(AcmeAuthorization authorization, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(authorization);
        return await _db.WriteAsync((tx, c) => tx.ExecuteAsync(
            "UPDATE acme_authorizations SET body = @b, version = version + 1 WHERE id = @id AND version = @v", c,
            ("@id", authorization.Id), ("@v", authorization.Version), ("@b", Body(authorization))), ct).ConfigureAwait(false) == 1;
    }

    private Task<IReadOnlyList<T>> ListAsync<T>(string sql, CancellationToken ct, params (string Name, object? Value)[] args) =>
        _db.ReadAsync<IReadOnlyList<T>>(async (conn, c) =>
        {
            await using var cmd = conn.Command(sql, args);
            await using var r = await cmd.ExecuteReaderAsync(c).ConfigureAwait(false);
            var list = new List<T>();
            while (await r.ReadAsync(c).ConfigureAwait(false))
            {
                list.Add(Read<T>(r));
            }

            return list;
        }, ct);

    private static string Body<T>(T value) => JsonSerializer.Serialize(value, Json);

    // The version is the column's (the body's copy is whatever it was when written).
    private static T Read<T>(DbDataReader r)
    {
        var value = JsonSerializer.Deserialize<T>(r.GetString(0), Json) ?? throw new InvalidDataException("A stored ACME object is empty.");
        var version = r.GetInt32(1);
        return value switch
        {
            AcmeAccount a => (T)(object)(a with { Version = version }),
            AcmeOrder o => (T)(object)(o with { Version = version }),
            AcmeAuthorization z => (T)(object)(z with { Version = version }),
            _ => value,
        };
    }
}
