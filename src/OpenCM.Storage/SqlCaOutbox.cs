using System.Text.Json;
using OpenCM.Application;

namespace OpenCM.Storage;

/// <summary>The CA notices outbox in SQL (table <c>ca_outbox</c>); notices are queued in a unit of work (<see cref="ICaNoticeWrites"/>).</summary>
public sealed class SqlCaOutbox : ICaOutbox
{
    /// <summary>The one kind of notice so far: a revocation, or with reason removeFromCRL a release from hold.</summary>
    internal const string RevokeKind = "revoke";

    private readonly StorageProvider _db;

    public SqlCaOutbox(StorageProvider db) => _db = db;

    public async Task<IReadOnlyList<CaNotice>> DueAsync(DateTimeOffset now, int max, CancellationToken ct = default)
    {
        // On the provider's read path, so a database that stops answering mid-read is Unavailable (503), not an untyped error.
        return await _db.ReadAsync<IReadOnlyList<CaNotice>>(async (conn, c) =>
        {
            await using var cmd = conn.Command(
                "SELECT id, serials, reason, revoked_at, attempts FROM ca_outbox WHERE delivered IS NULL AND next_attempt <= @now ORDER BY id LIMIT @max",
                ("@now", Sql.Ticks(now)), ("@max", max));
            await using var r = await cmd.ExecuteReaderAsync(c).ConfigureAwait(false);
            var due = new List<CaNotice>();
            while (await r.ReadAsync(c).ConfigureAwait(false))
            {
                var serials = JsonSerializer.Deserialize<string[]>(r.GetString(1)) ?? [];
                due.Add(new CaNotice(r.GetInt64(0), new Revocation(serials, r.GetInt32(2), Sql.Time(r.GetInt64(3))), r.GetInt32(4)));
            }

            return due;
        }, ct).ConfigureAwait(false);
    }

    public Task MarkDeliveredAsync(long id, DateTimeOffset at, CancellationToken ct = default) =>
        _db.WriteAsync((tx, c) => tx.ExecuteAsync("UPDATE ca_outbox SET delivered = @t WHERE id = @id AND delivered IS NULL", c,
            ("@t", Sql.Ticks(at)), ("@id", id)), ct);

    public Task MarkFailedAsync(long id, int attempts, DateTimeOffset retryAt, string error, CancellationToken ct = default) =>
        _db.WriteAsync((tx, c) => tx.ExecuteAsync("UPDATE ca_outbox SET attempts = @a, next_attempt = @n, last_error = @e WHERE id = @id AND delivered IS NULL", c,
            ("@a", attempts), ("@n", Sql.Ticks(retryAt)), ("@e", error), ("@id", id)), ct);
}
