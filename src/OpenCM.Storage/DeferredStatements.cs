using System.Data.Common;
using System.Runtime.CompilerServices;

namespace OpenCM.Storage;

/// <summary>
/// Statements of a group-commit transaction whose outcome nobody reads (an audit event's insert,
/// an outbox event's, a request's reader rows), held back and sent in one round trip with the
/// next statement that is read, or before the commit (issue #25: fewer round trips on
/// PostgreSQL). Order within the transaction is unchanged: whatever is held goes first, in the
/// order it was written, in the same transaction, so what each statement sees is as before; only
/// the moment an error surfaces moves, to the statement that carried it, inside the same batch of
/// writes (<see cref="GroupCommitWriter"/> then runs the batch again, one savepoint per write, where
/// everything a write held is sent before its savepoint is released). Only a provider whose
/// connection makes batches (<see cref="DbConnection.CanCreateBatch"/>: Npgsql) defers; elsewhere
/// every statement runs at once, as before.
/// </summary>
internal static class DeferredStatements
{
    private sealed record Statement(string Sql, (string Name, object? Value)[] Args);

    private static readonly ConditionalWeakTable<DbTransaction, List<Statement>> Pending = [];

    /// <summary>Lets <paramref name="tx"/> hold statements back, when its provider makes batches; starts empty (Npgsql hands out the same transaction object again).</summary>
    public static void Begin(DbTransaction tx)
    {
        if (tx.Connection is { CanCreateBatch: true })
        {
            Pending.AddOrUpdate(tx, []);
        }
        else
        {
            Pending.Remove(tx);
        }
    }

    /// <summary>Forgets what <paramref name="tx"/> holds (before a rollback: it must not reach the database).</summary>
    public static void Discard(DbTransaction tx)
    {
        if (Pending.TryGetValue(tx, out var held))
        {
            held.Clear();
        }
    }

    /// <summary>Holds the statement back if <paramref name="tx"/> defers; false to run it now.</summary>
    public static bool TryDefer(DbTransaction tx, string sql, (string Name, object? Value)[] args)
    {
        if (!Pending.TryGetValue(tx, out var held))
        {
            return false;
        }

        held.Add(new Statement(sql, args));
        return true;
    }

    /// <summary>Whether <paramref name="tx"/> holds statements to send before the next one.</summary>
    public static bool Any(DbTransaction tx) => Pending.TryGetValue(tx, out var held) && held.Count > 0;

    /// <summary>
    /// One batch: what <paramref name="tx"/> holds, then <paramref name="sql"/> (if given) last.
    /// What was held is taken out whatever becomes of the batch: on failure the transaction is
    /// rolled back (to a savepoint or whole), never sent again.
    /// </summary>
    public static DbBatch Batch(DbTransaction tx, string? sql, (string Name, object? Value)[] args)
    {
        var batch = tx.Connection!.CreateBatch();
        batch.Transaction = tx;
        if (Pending.TryGetValue(tx, out var held))
        {
            foreach (var s in held)
            {
                Add(batch, s.Sql, s.Args);
            }

            held.Clear();
        }

        if (sql is not null)
        {
            Add(batch, sql, args);
        }

        return batch;
    }

    /// <summary>Sends what <paramref name="tx"/> holds, if anything (before a commit, or a command that bypasses <see cref="Sql"/>'s helpers).</summary>
    public static async Task FlushAsync(DbTransaction tx, CancellationToken ct)
    {
        if (!Any(tx))
        {
            return;
        }

        await using var batch = Batch(tx, null, []);
        await batch.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private static void Add(DbBatch batch, string sql, (string Name, object? Value)[] args)
    {
        var cmd = batch.CreateBatchCommand();
        cmd.CommandText = sql;
        foreach (var (name, value) in args)
        {
            var p = cmd.CreateParameter();
            p.ParameterName = name;
            p.Value = value ?? DBNull.Value;
            cmd.Parameters.Add(p);
        }

        batch.BatchCommands.Add(cmd);
    }
}
