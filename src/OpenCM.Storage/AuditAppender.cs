using System.Data.Common;
using System.Runtime.CompilerServices;
using OpenCM.Application;

namespace OpenCM.Storage;

/// <summary>
/// Appends to the hash chain inside the caller's transaction. The transaction's first append
/// takes the one-row <c>audit_head</c>'s row lock (held until commit, so appenders on several
/// PostgreSQL nodes queue there and the chain never forks) and reads it; later appends in the same
/// transaction continue from what the transaction holds in memory, and the head is written back
/// once, just before the commit (<see cref="FlushAsync"/>, called by the group-commit writer).
/// A batch of N audited writes thus costs N inserts and two head statements, not 3N (issue #11.2).
/// </summary>
internal static class AuditAppender
{
    // Where a transaction's chain stands; only the writer's own transaction ever sees it.
    private sealed class Cursor
    {
        public long Sequence;
        public string Hash = "";
        public bool Dirty;
    }

    private static readonly ConditionalWeakTable<DbTransaction, Cursor> Cursors = [];

    public static async Task AppendAsync(DbTransaction tx, AuditEvent e, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(tx);
        if (!Cursors.TryGetValue(tx, out var cursor))
        {
            // The no-op update takes the row lock on PostgreSQL; on SQLite the one writer holds everything anyway.
            var head = await tx.FirstRowAsync("UPDATE audit_head SET seq = seq WHERE id = 1 RETURNING seq, hash",
                r => (Sequence: r.GetInt64(0), Hash: r.GetString(1)), ct).ConfigureAwait(false);
            if (head.Hash is null)
            {
                throw new InvalidOperationException("The audit head row is missing; the database was not migrated.");
            }

            cursor = new Cursor { Sequence = head.Sequence, Hash = head.Hash };
            Cursors.AddOrUpdate(tx, cursor);
        }

        var sequence = cursor.Sequence + 1;
        var hash = AuditChain.Hash(sequence, cursor.Hash, e);
        await tx.ExecuteAsync(
            "INSERT INTO audit_events (seq, kind, subject, actor, old_status, new_status, time, correlation, detail, prev_hash, hash) " +
            "VALUES (@s, @k, @sub, @a, @o, @n, @t, @c, @d, @p, @h)", ct,
            ("@s", sequence), ("@k", e.Kind), ("@sub", Sql.Text(e.SubjectId)), ("@a", Sql.Text(e.Actor)), ("@o", (int)e.OldStatus),
            ("@n", (int)e.NewStatus), ("@t", Sql.Ticks(e.Time)), ("@c", e.CorrelationId), ("@d", e.Detail), ("@p", cursor.Hash), ("@h", hash)).ConfigureAwait(false);

        // Moved on only once the event is in: a failed insert leaves the cursor where the table is.
        cursor.Sequence = sequence;
        cursor.Hash = hash;
        cursor.Dirty = true;
    }

    /// <summary>Writes the transaction's chain head back, if it appended; before its commit, and before a savepoint is released.</summary>
    public static async Task FlushAsync(DbTransaction tx, CancellationToken ct)
    {
        if (Cursors.TryGetValue(tx, out var cursor) && cursor.Dirty)
        {
            await tx.ExecuteAsync("UPDATE audit_head SET seq = @s, hash = @h WHERE id = 1", ct, ("@s", cursor.Sequence), ("@h", cursor.Hash)).ConfigureAwait(false);
            cursor.Dirty = false;
        }
    }

    /// <summary>Forgets where the transaction's chain stood (after a rollback to a savepoint): the next append reads the head again.</summary>
    public static void Forget(DbTransaction tx) => Cursors.Remove(tx);
}
