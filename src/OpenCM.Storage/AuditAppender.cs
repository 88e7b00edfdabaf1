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
/// Every link is an HMAC under the chain key (decision 0010); a chain that is not keyed yet gets
/// its checkpoint first, so no unkeyed link is ever written again.
/// </summary>
internal static class AuditAppender
{
    // Where a transaction's chain stands; only the writer's own transaction ever sees it.
    private sealed class Cursor
    {
        public long Sequence;
        public string Hash = "";
        public long? KeyedFrom;
        public bool Dirty;
    }

    private static readonly ConditionalWeakTable<DbTransaction, Cursor> Cursors = [];

    public static async Task AppendAsync(DbTransaction tx, AuditChainKey? key, AuditEvent e, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(tx);
        ArgumentNullException.ThrowIfNull(e);
        if (key is null)
        {
            throw new InvalidOperationException("The audit chain's key is not set (StorageProvider.AuditKey); no event is appended unkeyed.");
        }

        var cursor = await CursorAsync(tx, ct).ConfigureAwait(false);
        if (cursor.KeyedFrom is null)
        {
            await InsertAsync(tx, key, cursor, AuditChain.Checkpoint(cursor.Sequence + 1, cursor.Hash, e.Time), ct).ConfigureAwait(false);
        }

        await InsertAsync(tx, key, cursor, e, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Appends the keyed checkpoint if the chain holds unkeyed events and no checkpoint yet (at
    /// start-up, after migrating); otherwise nothing. An empty chain gets its checkpoint with its
    /// first event, so that a database migrated before <c>opencm db copy</c> fills it stays empty.
    /// </summary>
    public static async Task<int> CheckpointAsync(DbTransaction tx, AuditChainKey key, DateTimeOffset at, CancellationToken ct)
    {
        var cursor = await CursorAsync(tx, ct).ConfigureAwait(false);
        if (cursor.KeyedFrom is not null || cursor.Sequence == 0)
        {
            return 0;
        }

        await InsertAsync(tx, key, cursor, AuditChain.Checkpoint(cursor.Sequence + 1, cursor.Hash, at), ct).ConfigureAwait(false);
        await FlushAsync(tx, ct).ConfigureAwait(false);
        return 1;
    }

    private static async Task<Cursor> CursorAsync(DbTransaction tx, CancellationToken ct)
    {
        if (Cursors.TryGetValue(tx, out var cursor))
        {
            return cursor;
        }

        // The no-op update takes the row lock on PostgreSQL; on SQLite the one writer holds everything anyway.
        var head = await tx.FirstRowAsync("UPDATE audit_head SET seq = seq WHERE id = 1 RETURNING seq, hash, keyed_from",
            r => (Sequence: r.GetInt64(0), Hash: r.GetString(1), KeyedFrom: r.IsDBNull(2) ? (long?)null : r.GetInt64(2)), ct).ConfigureAwait(false);
        if (head.Hash is null)
        {
            throw new InvalidOperationException("The audit head row is missing; the database was not migrated.");
        }

        cursor = new Cursor { Sequence = head.Sequence, Hash = head.Hash, KeyedFrom = head.KeyedFrom };
        Cursors.AddOrUpdate(tx, cursor);
        return cursor;
    }

    private static async Task InsertAsync(DbTransaction tx, AuditChainKey key, Cursor cursor, AuditEvent e, CancellationToken ct)
    {
        var sequence = cursor.Sequence + 1;
        var hash = AuditChain.KeyedHash(key, sequence, cursor.Hash, e);

        // The server's correlation id and the client's (if any) in columns of their own; the link covers both.
        var (correlation, client) = CorrelationIds.Split(e.CorrelationId);
        // Nobody reads the insert's outcome: on PostgreSQL it goes with the next statement (DeferredStatements).
        await tx.DeferAsync(
            "INSERT INTO audit_events (seq, kind, subject, actor, old_status, new_status, time, correlation, client_correlation, detail, prev_hash, hash) " +
            "VALUES (@s, @k, @sub, @a, @o, @n, @t, @c, @cc, @d, @p, @h)", ct,
            ("@s", sequence), ("@k", e.Kind), ("@sub", Sql.Text(e.SubjectId)), ("@a", Sql.Text(e.Actor)), ("@o", (int)e.OldStatus),
            ("@n", (int)e.NewStatus), ("@t", Sql.Ticks(e.Time)), ("@c", correlation), ("@cc", client), ("@d", e.Detail), ("@p", cursor.Hash), ("@h", hash)).ConfigureAwait(false);

        // Moved on once the event is in, or held back to go with the next statement: a failed
        // insert fails its transaction or savepoint, after which the cursor is forgotten (Forget).
        cursor.Sequence = sequence;
        cursor.Hash = hash;
        cursor.KeyedFrom ??= string.Equals(e.Kind, AuditChain.CheckpointKind, StringComparison.Ordinal) ? sequence : null;
        cursor.Dirty = true;
    }

    /// <summary>Writes the transaction's chain head back, if it appended; before its commit, and before a savepoint is released.</summary>
    public static async Task FlushAsync(DbTransaction tx, CancellationToken ct)
    {
        if (Cursors.TryGetValue(tx, out var cursor) && cursor.Dirty)
        {
            await tx.ExecuteAsync("UPDATE audit_head SET seq = @s, hash = @h, keyed_from = @kf WHERE id = 1", ct,
                ("@s", cursor.Sequence), ("@h", cursor.Hash), ("@kf", cursor.KeyedFrom)).ConfigureAwait(false);
            cursor.Dirty = false;
        }
    }

    /// <summary>Forgets where the transaction's chain stood (after a rollback to a savepoint): the next append reads the head again.</summary>
    public static void Forget(DbTransaction tx) => Cursors.Remove(tx);
}
