using System.Data.Common;
using OpenCM.Application;
using OpenCM.Domain;

namespace OpenCM.Storage;

/// <summary>
/// The managers' reports in SQL (issue #21.3): the same statements on SQLite and PostgreSQL, each
/// list an index range (migrations SQLite 0022, PostgreSQL 0016) cut by a keyset and a limit.
/// </summary>
public sealed class SqlReportStore : IReportStore
{
    private readonly StorageProvider _db;

    public SqlReportStore(StorageProvider db) => _db = db;

    public Task<IReadOnlyList<ExpiringCertificateRow>> ExpiringAsync(
        DateTimeOffset from, DateTimeOffset until, (DateTimeOffset NotAfter, string SerialHex)? after, int limit, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);

        // In force: issued (by an open execution) or current, and not revoked; reserved serials have no notAfter.
        var inForce = $"status IN ({(int)CertificateStatus.Issued}, {(int)CertificateStatus.Current}) AND revoked_at IS NULL";
        var sql = after is null
            ? $"SELECT serial, not_after, user_uuid, template, profile_uuid, status, ca_id FROM certificates WHERE not_after >= @from AND not_after < @until AND {inForce} ORDER BY not_after, serial LIMIT @n"
            : $"SELECT serial, not_after, user_uuid, template, profile_uuid, status, ca_id FROM certificates WHERE (not_after > @k OR (not_after = @k AND serial > @s)) AND not_after >= @from AND not_after < @until AND {inForce} ORDER BY not_after, serial LIMIT @n";
        return ListAsync(sql, r => new ExpiringCertificateRow(
                r.GetString(0), Sql.Time(r.GetInt64(1)), r.Id(2), r.GetString(3), r.Id(4), (CertificateStatus)r.GetInt32(5), r.IsDBNull(6) ? null : r.GetInt32(6)),
            ct,
            ("@from", Sql.Ticks(from)), ("@until", Sql.Ticks(until)), ("@n", limit),
            ("@k", after is { } a ? Sql.Ticks(a.NotAfter) : 0L), ("@s", after?.SerialHex ?? ""));
    }

    public Task<IReadOnlyList<CardCountRow>> CardsByStatusAsync(CancellationToken ct = default) =>
        ListAsync("SELECT status, template, COUNT(*) FROM smartcards GROUP BY status, template ORDER BY status, template",
            r => new CardCountRow((SmartcardStatus)r.GetInt32(0), TemplateId(r.GetString(1)), r.GetInt64(2)), ct);

    public Task<IReadOnlyList<RequestCountRow>> RequestsByTypeAndStatusAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken ct = default) =>
        ListAsync("SELECT type, status, COUNT(*) FROM requests WHERE submitted >= @from AND submitted < @to GROUP BY type, status ORDER BY type, status",
            r => new RequestCountRow((RequestType)r.GetInt32(0), (RequestStatus)r.GetInt32(1), r.GetInt64(2)), ct,
            ("@from", Sql.Ticks(from)), ("@to", Sql.Ticks(to)));

    public Task<IReadOnlyList<ChainedAuditEvent>> AuditOfUserAsync(Guid user, long? before, int limit, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);

        // Two index ranges (actor, seq) and (subject, seq) merged: each branch takes at most a page, newest first.
        var cut = before is null ? "" : " AND seq < @before";
        var sql = $"SELECT {SqlAuditLog.Columns} FROM audit_events WHERE seq IN (" +
                  $"SELECT seq FROM (SELECT seq FROM audit_events WHERE actor = @u{cut} ORDER BY seq DESC LIMIT @n) AS by_actor " +
                  $"UNION SELECT seq FROM (SELECT seq FROM audit_events WHERE subject = @u{cut} ORDER BY seq DESC LIMIT @n) AS by_subject" +
                  ") ORDER BY seq DESC LIMIT @n";
        return ListAsync(sql, SqlAuditLog.Read, ct, ("@u", Sql.Text(user)), ("@before", before ?? 0L), ("@n", limit));
    }

    // A template column holds the template's GUID; an unreadable one (written by hand) reads as the empty GUID, not a failure.
    private static Guid TemplateId(string text) => Guid.TryParse(text, out var id) ? id : Guid.Empty;

    private Task<IReadOnlyList<T>> ListAsync<T>(string sql, Func<DbDataReader, T> map, CancellationToken ct, params (string Name, object? Value)[] args) =>
        // On the provider's read path, so a database that stops answering mid-read is Unavailable (503), not an untyped error.
        _db.ReadAsync<IReadOnlyList<T>>(async (conn, c) =>
        {
            await using var cmd = conn.Command(sql, args);
            await using var r = await cmd.ExecuteReaderAsync(c).ConfigureAwait(false);
            var list = new List<T>();
            while (await r.ReadAsync(c).ConfigureAwait(false))
            {
                list.Add(map(r));
            }

            return list;
        }, ct);
}
