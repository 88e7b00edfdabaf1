using System.Data.Common;
using OpenCM.Application;

namespace OpenCM.Storage;

/// <summary>
/// Appends to the hash chain inside the caller's transaction. The one-row <c>audit_head</c> is
/// updated first, so concurrent appenders (several nodes on PostgreSQL) queue on its row lock and
/// the chain never forks.
/// </summary>
internal static class AuditAppender
{
    public static async Task AppendAsync(DbTransaction tx, AuditEvent e, CancellationToken ct)
    {
        var head = await tx.FirstRowAsync("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash",
            r => (Sequence: r.GetInt64(0), Previous: r.GetString(1)), ct).ConfigureAwait(false);
        if (head.Previous is null)
        {
            throw new InvalidOperationException("The audit head row is missing; the database was not migrated.");
        }

        var (sequence, previous) = head;
        var hash = AuditChain.Hash(sequence, previous, e);
        await tx.ExecuteAsync("UPDATE audit_head SET hash = @h WHERE id = 1", ct, ("@h", hash)).ConfigureAwait(false);
        await tx.ExecuteAsync(
            "INSERT INTO audit_events (seq, kind, subject, actor, old_status, new_status, time, correlation, detail, prev_hash, hash) " +
            "VALUES (@s, @k, @sub, @a, @o, @n, @t, @c, @d, @p, @h)", ct,
            ("@s", sequence), ("@k", e.Kind), ("@sub", Sql.Text(e.SubjectId)), ("@a", Sql.Text(e.Actor)), ("@o", (int)e.OldStatus),
            ("@n", (int)e.NewStatus), ("@t", Sql.Ticks(e.Time)), ("@c", e.CorrelationId), ("@d", e.Detail), ("@p", previous), ("@h", hash)).ConfigureAwait(false);
    }
}
