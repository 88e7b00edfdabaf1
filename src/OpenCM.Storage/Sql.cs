using System.Data.Common;
using System.Globalization;
using System.Runtime.CompilerServices;

namespace OpenCM.Storage;

/// <summary>Small helpers that keep the SQL stores free of ADO.NET ceremony. Parameters are always bound, never spliced.</summary>
internal static class Sql
{
    public static DbCommand Command(this DbTransaction tx, string sql, params (string Name, object? Value)[] args)
    {
        var cmd = tx.Connection!.CreateCommand();
        cmd.Transaction = tx;
        return cmd.Fill(sql, args);
    }

    public static DbCommand Command(this DbConnection connection, string sql, params (string Name, object? Value)[] args) =>
        connection.CreateCommand().Fill(sql, args);

    // Connections whose commands stay prepared between uses: only a connection that a single
    // thread owns (the SQLite group-commit writer) may be registered here.
    private static readonly ConditionalWeakTable<DbConnection, Dictionary<string, DbCommand>> Prepared = [];

    public static void KeepCommandsPrepared(DbConnection connection) => Prepared.AddOrUpdate(connection, new Dictionary<string, DbCommand>(StringComparer.Ordinal));

    // Connections whose statements a provider's runner takes first (SQLite's writer on raw
    // SQLitePCL: positional binding, statements prepared once); what it declines runs as below.
    private static readonly ConditionalWeakTable<DbConnection, IStatementRunner> Runners = [];

    /// <summary>Offers every statement run on <paramref name="connection"/> to <paramref name="runner"/> first; for a connection one thread owns.</summary>
    public static void UseRunner(DbConnection connection, IStatementRunner runner)
    {
        if (Runners.TryGetValue(connection, out var previous) && !ReferenceEquals(previous, runner))
        {
            previous.Dispose();
        }

        Runners.AddOrUpdate(connection, runner);
    }

    public static void DisposePrepared(DbConnection connection)
    {
        if (Runners.TryGetValue(connection, out var runner))
        {
            runner.Dispose();
            Runners.Remove(connection);
        }

        if (Prepared.TryGetValue(connection, out var cache))
        {
            foreach (var cmd in cache.Values)
            {
                cmd.Dispose();
            }

            Prepared.Remove(connection);
        }
    }

    /// <summary>
    /// Runs a statement whose outcome nobody reads: on a transaction that defers (PostgreSQL's
    /// group commit), it goes with the next statement in one round trip (<see cref="DeferredStatements"/>).
    /// </summary>
    public static Task DeferAsync(this DbTransaction tx, string sql, CancellationToken ct, params (string Name, object? Value)[] args) =>
        DeferredStatements.TryDefer(tx, sql, args) ? Task.CompletedTask : tx.ExecuteAsync(sql, ct, args);

    public static Task<int> ExecuteAsync(this DbTransaction tx, string sql, CancellationToken ct, params (string Name, object? Value)[] args)
    {
        if (Runners.TryGetValue(tx.Connection!, out var runner))
        {
            if (ct.IsCancellationRequested)
            {
                return Task.FromCanceled<int>(ct);
            }

            try
            {
                if (runner.TryExecute(sql, args, out var rows))
                {
                    return Task.FromResult(rows);
                }
            }
            catch (Exception e)
            {
                return Task.FromException<int>(e);
            }
        }

        return ExecuteCommandAsync(tx, sql, args, ct);
    }

    private static async Task<int> ExecuteCommandAsync(DbTransaction tx, string sql, (string Name, object? Value)[] args, CancellationToken ct)
    {
        if (DeferredStatements.Any(tx))
        {
            await using var batch = DeferredStatements.Batch(tx, sql, args);
            await batch.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            return batch.BatchCommands[^1].RecordsAffected;
        }

        var (cmd, owned) = Rent(tx, sql, args);
        try
        {
            return await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        finally
        {
            if (owned)
            {
                await cmd.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    public static Task<T> ScalarAsync<T>(this DbTransaction tx, string sql, CancellationToken ct, params (string Name, object? Value)[] args)
    {
        if (Runners.TryGetValue(tx.Connection!, out var runner))
        {
            if (ct.IsCancellationRequested)
            {
                return Task.FromCanceled<T>(ct);
            }

            try
            {
                if (runner.TryScalar(sql, args, out var value))
                {
                    return Task.FromResult((T)Convert.ChangeType(value!, typeof(T), CultureInfo.InvariantCulture));
                }
            }
            catch (Exception e)
            {
                return Task.FromException<T>(e);
            }
        }

        return ScalarCommandAsync<T>(tx, sql, args, ct);
    }

    private static async Task<T> ScalarCommandAsync<T>(DbTransaction tx, string sql, (string Name, object? Value)[] args, CancellationToken ct)
    {
        if (DeferredStatements.Any(tx))
        {
            // What was held returns no rows: the first result is this statement's.
            await using var batch = DeferredStatements.Batch(tx, sql, args);
            return (T)Convert.ChangeType((await batch.ExecuteScalarAsync(ct).ConfigureAwait(false))!, typeof(T), CultureInfo.InvariantCulture);
        }

        var (cmd, owned) = Rent(tx, sql, args);
        try
        {
            var value = await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false);
            return (T)Convert.ChangeType(value!, typeof(T), CultureInfo.InvariantCulture);
        }
        finally
        {
            if (owned)
            {
                await cmd.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>Reads the first row with <paramref name="map"/>; default when there is none.</summary>
    public static Task<T?> FirstRowAsync<T>(this DbTransaction tx, string sql, Func<DbDataReader, T> map, CancellationToken ct, params (string Name, object? Value)[] args) =>
        TryRunnerFirstRow(tx.Connection!, sql, map, args, ct) ?? FirstRowCommandAsync(tx, sql, map, args, ct);

    // The runner's answer, or null when the connection has no runner or it declined the statement.
    private static Task<T?>? TryRunnerFirstRow<T>(DbConnection connection, string sql, Func<DbDataReader, T> map, (string Name, object? Value)[] args, CancellationToken ct)
    {
        if (!Runners.TryGetValue(connection, out var runner))
        {
            return null;
        }

        if (ct.IsCancellationRequested)
        {
            return Task.FromCanceled<T?>(ct);
        }

        try
        {
            return runner.TryFirstRow(sql, args, map, out var row, out var found) ? Task.FromResult(found ? row : default) : null;
        }
        catch (Exception e)
        {
            return Task.FromException<T?>(e);
        }
    }

    private static async Task<T?> FirstRowCommandAsync<T>(DbTransaction tx, string sql, Func<DbDataReader, T> map, (string Name, object? Value)[] args, CancellationToken ct)
    {
        if (DeferredStatements.Any(tx))
        {
            // What was held returns no rows: the reader starts on this statement's.
            await using var batch = DeferredStatements.Batch(tx, sql, args);
            await using var br = await batch.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (br.FieldCount == 0 && await br.NextResultAsync(ct).ConfigureAwait(false))
            {
            }

            return await br.ReadAsync(ct).ConfigureAwait(false) ? map(br) : default;
        }

        var (cmd, owned) = Rent(tx, sql, args);
        try
        {
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            return await r.ReadAsync(ct).ConfigureAwait(false) ? map(r) : default;
        }
        finally
        {
            if (owned)
            {
                await cmd.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>Reads the first row outside a transaction, through the connection's prepared commands when it keeps them.</summary>
    public static Task<T?> FirstRowAsync<T>(this DbConnection connection, string sql, Func<DbDataReader, T> map, CancellationToken ct, params (string Name, object? Value)[] args) =>
        TryRunnerFirstRow(connection, sql, map, args, ct) ?? FirstRowCommandAsync(connection, sql, map, args, ct);

    private static async Task<T?> FirstRowCommandAsync<T>(DbConnection connection, string sql, Func<DbDataReader, T> map, (string Name, object? Value)[] args, CancellationToken ct)
    {
        var (cmd, owned) = Rent(connection, null, sql, args);
        try
        {
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            return await r.ReadAsync(ct).ConfigureAwait(false) ? map(r) : default;
        }
        finally
        {
            if (owned)
            {
                await cmd.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private static (DbCommand Command, bool Owned) Rent(DbTransaction tx, string sql, (string Name, object? Value)[] args) =>
        Rent(tx.Connection!, tx, sql, args);

    // A prepared command of the connection's cache (re-bound, not disposed after use), or a new one the caller disposes.
    private static (DbCommand Command, bool Owned) Rent(DbConnection connection, DbTransaction? tx, string sql, (string Name, object? Value)[] args)
    {
        if (!Prepared.TryGetValue(connection, out var cache))
        {
            var fresh = connection.CreateCommand();
            fresh.Transaction = tx;
            return (fresh.Fill(sql, args), true);
        }

        if (!cache.TryGetValue(sql, out var cmd))
        {
            cmd = connection.CreateCommand();
            cmd.CommandText = sql;
            cache[sql] = cmd;
        }

        cmd.Transaction = tx;
        cmd.Parameters.Clear();
        foreach (var (name, value) in args)
        {
            var p = cmd.CreateParameter();
            p.ParameterName = name;
            p.Value = value ?? DBNull.Value;
            cmd.Parameters.Add(p);
        }

        return (cmd, false);
    }

    public static string Text(Guid id) => id.ToString("D");

    public static long Ticks(DateTimeOffset time) => time.UtcTicks;

    public static DateTimeOffset Time(long ticks) => new(ticks, TimeSpan.Zero);

    public static Guid Id(this DbDataReader r, int i) => Guid.Parse(r.GetString(i));

    private static DbCommand Fill(this DbCommand cmd, string sql, (string Name, object? Value)[] args)
    {
        cmd.CommandText = sql;
        foreach (var (name, value) in args)
        {
            var p = cmd.CreateParameter();
            p.ParameterName = name;
            p.Value = value ?? DBNull.Value;
            cmd.Parameters.Add(p);
        }

        return cmd;
    }
}
