using System.Data.Common;
using System.Runtime.CompilerServices;
using OpenCM.Application;
using OpenCM.Domain;

namespace OpenCM.Storage;

/// <summary>Reads the hash-chained audit log.</summary>
public sealed class SqlAuditLog : IAuditLog
{
    internal const string Columns = "seq, kind, subject, actor, old_status, new_status, time, correlation, detail, prev_hash, hash, client_correlation";
    private readonly StorageProvider _db;

    public SqlAuditLog(StorageProvider db) => _db = db;

    public async IAsyncEnumerable<ChainedAuditEvent> ReadAllAsync([EnumeratorCancellation] CancellationToken ct = default)
    {
        await using var conn = await _db.OpenReadAsync(ct).ConfigureAwait(false);
        await using var cmd = conn.Command($"SELECT {Columns} FROM audit_events ORDER BY seq");
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
        {
            yield return Read(r);
        }
    }

    public Task<AuditHead?> ReadHeadAsync(CancellationToken ct = default) => _db.ReadAsync(
        (conn, c) => conn.FirstRowAsync<AuditHead?>("SELECT seq, hash, keyed_from FROM audit_head WHERE id = 1",
            r => new AuditHead(r.GetInt64(0), r.GetString(1), r.IsDBNull(2) ? null : r.GetInt64(2)), c), ct);

    public async Task<IReadOnlyList<ChainedAuditEvent>> ForSubjectAsync(Guid subjectId, CancellationToken ct = default)
    {
        // On the provider's read path, so a database that stops answering mid-read is Unavailable (503), not an untyped error.
        return await _db.ReadAsync<IReadOnlyList<ChainedAuditEvent>>(async (conn, c) =>
        {
            await using var cmd = conn.Command($"SELECT {Columns} FROM audit_events WHERE subject = @s ORDER BY seq", ("@s", Sql.Text(subjectId)));
            await using var r = await cmd.ExecuteReaderAsync(c).ConfigureAwait(false);
            var list = new List<ChainedAuditEvent>();
            while (await r.ReadAsync(c).ConfigureAwait(false))
            {
                list.Add(Read(r));
            }

            return list;
        }, ct).ConfigureAwait(false);
    }

    internal static ChainedAuditEvent Read(DbDataReader r) => new(
        r.GetInt64(0),
        new AuditEvent(r.GetString(1), r.Id(2), r.Id(3), (RequestStatus)r.GetInt32(4), (RequestStatus)r.GetInt32(5),
            Sql.Time(r.GetInt64(6)), CorrelationIds.WithClient(r.GetString(7), r.GetString(11)), r.GetString(8)),
        r.GetString(9),
        r.GetString(10));
}
