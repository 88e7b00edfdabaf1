using System.Data.Common;
using OpenCM.Application;

namespace OpenCM.Storage;

/// <summary>
/// The event outbox (table <c>events</c>, written in a unit of work through <see cref="IEventWrites"/>)
/// and the delivery log (table <c>deliveries</c>) in SQL. Every claim is a compare-and-set on the
/// row's <c>next_attempt</c>, which the claim moves to the end of its lease: of two nodes reading
/// the same due row, one updates it and the other's update finds it changed.
/// </summary>
public sealed class SqlNotificationOutbox : INotificationOutbox, ICertificateFacts
{
    private const string DeliveryColumns = "id, event_id, event_type, channel, target, payload, status, attempts, created, next_attempt, finished, last_error";
    private const string Pending = "pending";
    private const string Delivered = "delivered";
    private const string Failed = "failed";

    private readonly StorageProvider _db;

    public SqlNotificationOutbox(StorageProvider db) => _db = db;

    public async Task<IReadOnlyList<StoredEvent>> ClaimEventsAsync(DateTimeOffset now, DateTimeOffset leaseUntil, int max, CancellationToken ct = default)
    {
        var due = await DueAsync("SELECT id, next_attempt FROM events WHERE dispatched IS NULL AND next_attempt <= @now ORDER BY id LIMIT @max", now, max, ct).ConfigureAwait(false);
        var claimed = new List<StoredEvent>(due.Count);
        foreach (var (id, seen) in due)
        {
            var e = await _db.WriteAsync((tx, c) => tx.FirstRowAsync(
                "UPDATE events SET next_attempt = @lease WHERE id = @id AND next_attempt = @seen AND dispatched IS NULL " +
                "RETURNING type, subject, from_status, to_status, detail, occurred",
                r => new OutboxEvent(r.GetString(0), r.GetString(1), Sql.Time(r.GetInt64(5)), Text(r, 2), Text(r, 3), Text(r, 4)), c,
                ("@lease", Sql.Ticks(leaseUntil)), ("@id", id), ("@seen", seen)), ct).ConfigureAwait(false);
            if (e is not null)
            {
                claimed.Add(new StoredEvent(id, e));
            }
        }

        return claimed;
    }

    public Task CompleteEventAsync(long eventId, string eventType, IReadOnlyList<NewDelivery> deliveries, DateTimeOffset at, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(deliveries);
        return _db.WriteAsync(async (tx, c) =>
        {
            foreach (var d in deliveries)
            {
                // A second dispatch of the event (its lease ran out mid-way) keeps the rows the first stored.
                await tx.ExecuteAsync(
                    $"INSERT INTO deliveries ({DeliveryColumns}) VALUES (@id, @e, @et, @ch, @t, @p, @st, 0, @at, @at, NULL, NULL) ON CONFLICT DO NOTHING", c,
                    ("@id", d.Id), ("@e", eventId), ("@et", eventType), ("@ch", d.Channel), ("@t", d.Target), ("@p", d.Payload), ("@st", Pending), ("@at", Sql.Ticks(at))).ConfigureAwait(false);
            }

            return await tx.ExecuteAsync("UPDATE events SET dispatched = @at WHERE id = @id AND dispatched IS NULL", c, ("@at", Sql.Ticks(at)), ("@id", eventId)).ConfigureAwait(false);
        }, ct);
    }

    public async Task<IReadOnlyList<Delivery>> ClaimDeliveriesAsync(DateTimeOffset now, DateTimeOffset leaseUntil, int max, CancellationToken ct = default)
    {
        var due = await _db.ReadAsync<IReadOnlyList<(string Id, long Seen)>>(async (conn, c) =>
        {
            await using var cmd = conn.Command("SELECT id, next_attempt FROM deliveries WHERE status = @p AND next_attempt <= @now ORDER BY next_attempt, id LIMIT @max",
                ("@p", Pending), ("@now", Sql.Ticks(now)), ("@max", max));
            await using var r = await cmd.ExecuteReaderAsync(c).ConfigureAwait(false);
            var rows = new List<(string, long)>();
            while (await r.ReadAsync(c).ConfigureAwait(false))
            {
                rows.Add((r.GetString(0), r.GetInt64(1)));
            }

            return rows;
        }, ct).ConfigureAwait(false);
        var claimed = new List<Delivery>(due.Count);
        foreach (var (id, seen) in due)
        {
            var d = await _db.WriteAsync((tx, c) => tx.FirstRowAsync(
                $"UPDATE deliveries SET next_attempt = @lease WHERE id = @id AND next_attempt = @seen AND status = @p RETURNING {DeliveryColumns}", Map, c,
                ("@lease", Sql.Ticks(leaseUntil)), ("@id", id), ("@seen", seen), ("@p", Pending)), ct).ConfigureAwait(false);
            if (d is not null)
            {
                claimed.Add(d);
            }
        }

        return claimed;
    }

    public Task MarkDeliveredAsync(string id, int attempts, DateTimeOffset at, CancellationToken ct = default) =>
        _db.WriteAsync((tx, c) => tx.ExecuteAsync(
            "UPDATE deliveries SET status = @d, attempts = @a, finished = @t, last_error = NULL WHERE id = @id AND status = @p", c,
            ("@d", Delivered), ("@a", attempts), ("@t", Sql.Ticks(at)), ("@id", id), ("@p", Pending)), ct);

    public Task MarkFailedAsync(string id, int attempts, DateTimeOffset? retryAt, string error, DateTimeOffset at, CancellationToken ct = default) =>
        _db.WriteAsync((tx, c) => retryAt is { } next
            ? tx.ExecuteAsync("UPDATE deliveries SET attempts = @a, next_attempt = @n, last_error = @e WHERE id = @id AND status = @p", c,
                ("@a", attempts), ("@n", Sql.Ticks(next)), ("@e", error), ("@id", id), ("@p", Pending))
            : tx.ExecuteAsync("UPDATE deliveries SET status = @f, attempts = @a, finished = @t, last_error = @e WHERE id = @id AND status = @p", c,
                ("@f", Failed), ("@a", attempts), ("@t", Sql.Ticks(at)), ("@e", error), ("@id", id), ("@p", Pending)), ct);

    public Task<IReadOnlyList<Delivery>> ListAsync(bool failedOnly, int max, CancellationToken ct = default) =>
        _db.ReadAsync<IReadOnlyList<Delivery>>(async (conn, c) =>
        {
            await using var cmd = failedOnly
                ? conn.Command($"SELECT {DeliveryColumns} FROM deliveries WHERE status = @f ORDER BY created DESC, id LIMIT @max", ("@f", Failed), ("@max", max))
                : conn.Command($"SELECT {DeliveryColumns} FROM deliveries ORDER BY created DESC, id LIMIT @max", ("@max", max));
            await using var r = await cmd.ExecuteReaderAsync(c).ConfigureAwait(false);
            var rows = new List<Delivery>();
            while (await r.ReadAsync(c).ConfigureAwait(false))
            {
                rows.Add(Map(r));
            }

            return rows;
        }, ct);

    private const string FactColumns = "serial, template, user_uuid, request_uuid, status, not_after, der";

    public Task<CertificateFacts?> FindAsync(string serialHex, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(serialHex);
        return _db.ReadAsync((conn, c) => conn.FirstRowAsync($"SELECT {FactColumns} FROM certificates WHERE serial = @s AND der IS NOT NULL", Fact, c,
            ("@s", serialHex.ToUpperInvariant())), ct);
    }

    public Task<IReadOnlyList<CertificateFacts>> ExpiringAsync(DateTimeOffset now, DateTimeOffset before, int max, CancellationToken ct = default) =>
        _db.ReadAsync<IReadOnlyList<CertificateFacts>>(async (conn, c) =>
        {
            await using var cmd = conn.Command(
                $"SELECT {FactColumns} FROM certificates WHERE der IS NOT NULL AND status IN (@issued, @current) AND revoked_at IS NULL AND not_after > @now AND not_after <= @before " +
                "ORDER BY not_after, serial LIMIT @max",
                ("@issued", (int)CertificateStatus.Issued), ("@current", (int)CertificateStatus.Current), ("@now", Sql.Ticks(now)), ("@before", Sql.Ticks(before)), ("@max", max));
            await using var r = await cmd.ExecuteReaderAsync(c).ConfigureAwait(false);
            var rows = new List<CertificateFacts>();
            while (await r.ReadAsync(c).ConfigureAwait(false))
            {
                rows.Add(Fact(r));
            }

            return rows;
        }, ct);

    private static CertificateFacts Fact(DbDataReader r) =>
        new(r.GetString(0), r.GetString(1), r.Id(2), r.Id(3), (CertificateStatus)r.GetInt32(4), Sql.Time(r.GetInt64(5)), (byte[])r.GetValue(6));

    private Task<IReadOnlyList<(long Id, long Seen)>> DueAsync(string sql, DateTimeOffset now, int max, CancellationToken ct) =>
        _db.ReadAsync<IReadOnlyList<(long, long)>>(async (conn, c) =>
        {
            await using var cmd = conn.Command(sql, ("@now", Sql.Ticks(now)), ("@max", max));
            await using var r = await cmd.ExecuteReaderAsync(c).ConfigureAwait(false);
            var rows = new List<(long, long)>();
            while (await r.ReadAsync(c).ConfigureAwait(false))
            {
                rows.Add((r.GetInt64(0), r.GetInt64(1)));
            }

            return rows;
        }, ct);

    private static Delivery Map(DbDataReader r) => new(
        r.GetString(0), r.GetInt64(1), r.GetString(2), r.GetString(3), r.GetString(4), r.GetString(5),
        r.GetString(6) switch { Delivered => DeliveryStatus.Delivered, Failed => DeliveryStatus.Failed, _ => DeliveryStatus.Pending },
        r.GetInt32(7), Sql.Time(r.GetInt64(8)), Sql.Time(r.GetInt64(9)), r.IsDBNull(10) ? null : Sql.Time(r.GetInt64(10)), Text(r, 11));

    private static string? Text(DbDataReader r, int i) => r.IsDBNull(i) ? null : r.GetString(i);
}
