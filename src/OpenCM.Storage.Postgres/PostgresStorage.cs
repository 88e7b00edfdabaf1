using System.Data;
using System.Data.Common;
using Npgsql;
using OpenCM.Storage;

namespace OpenCM.Storage.Postgres;

/// <summary>
/// PostgreSQL through Npgsql (SPEC §10): several OpenCM nodes share one database. Writes queue
/// for the node's one writer connection, which commits whatever is queued in one READ COMMITTED
/// transaction (<see cref="GroupCommitWriter"/>, as on SQLite): one commit and one pass through
/// the audit head's row lock serve many writers. A write is durable when its task completes
/// (<c>synchronous_commit</c> as the server has it, on by default). The stores' compare-and-set
/// updates need no stronger isolation: an UPDATE that waited for another writer's row lock
/// re-checks its WHERE on the committed row and touches zero rows when the row moved. A
/// deadlock or serialization failure runs the whole write again, a bounded number of times.
/// Migrations run under a session advisory lock, so nodes that start together migrate once.
/// </summary>
public sealed class PostgresStorage : StorageProvider
{
    // The base of the advisory lock keys: "OpenCM" in ASCII, a number every node agrees on.
    private const long MigrationLockKey = 0x4F70656E434D;
    private const int MaxAttempts = 5;
    private readonly NpgsqlDataSource _source;
    private readonly NpgsqlDataSource _locks;
    private readonly GroupCommitWriter _writes;

    /// <summary>
    /// The channel every node's writer notifies in each batch's transaction and every node's read
    /// cache listens on (decision 0016). NOTIFY is transactional: delivered only when the batch commits.
    /// </summary>
    public const string ChangeChannel = "opencm_changes";

    public PostgresStorage(string connectionString)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        Location = $"postgres://{builder.Host}:{builder.Port}/{builder.Database}";
        // The stores run few distinct statements: let Npgsql prepare them on the server.
        if (builder.MaxAutoPrepare == 0)
        {
            builder.MaxAutoPrepare = 64;
        }

        // Session advisory locks (RunExclusiveAsync) on a pool of their own, which keeps Npgsql's
        // reset on close: a lock whose release failed is dropped with the session's state.
        _locks = NpgsqlDataSource.Create(builder.ConnectionString);

        // Reads and the writer set no session state (no SET, LISTEN, temporary table or advisory
        // lock): a pooled connection needs no reset when returned. Npgsql's reset (with prepared
        // statements kept: RESET ALL, CLOSE ALL, UNLISTEN, pg_advisory_unlock_all, DISCARD
        // SEQUENCES and TEMP) rides with the next command, and costs PostgreSQL more than a read
        // by primary key itself (issue #25; docs/benchmarks.md). Kept when the connection string says.
        if (!Names(connectionString, "No Reset On Close"))
        {
            builder.NoResetOnClose = true;
        }

        _source = NpgsqlDataSource.Create(builder);
        _writes = new GroupCommitWriter(async c => await _source.OpenConnectionAsync(c).ConfigureAwait(false),
            (conn, failure) => conn.State != ConnectionState.Open || DropPoolIfUnavailable(failure), IsolationLevel.ReadCommitted, keepPrepared: false,
            beforeCommit: $"SELECT pg_notify('{ChangeChannel}', '')");

        // The listening connection stays out of the pool (a pooled one is reset on return, which
        // unlistens), names itself for pg_stat_activity, and probes an idle socket so that a
        // vanished server or network is noticed within seconds, not at the next write.
        _listenConnectionString = new NpgsqlConnectionStringBuilder(builder.ConnectionString)
        {
            Pooling = false,
            ApplicationName = ListenerApplicationName,
            KeepAlive = 5,
        }.ConnectionString;
    }

    /// <summary>The <c>application_name</c> of the connection the read cache listens on (one per node).</summary>
    public const string ListenerApplicationName = "OpenCM change signal";

    private readonly string _listenConnectionString;
    private readonly CancellationTokenSource _stopListening = new();
    private int _disposeStarted;
    private Task? _listener;
    private long _notifications;
    private volatile bool _listening;
    private long _listenSessions;

    /// <summary>How long the listener waits before it connects again after its connection failed; the read cache is off meanwhile.</summary>
    public TimeSpan ListenRetryDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Whether this node listens for other nodes' commits now: the read cache serves only then.</summary>
    public bool IsListening => _listening;

    /// <summary>How many times the listener has started listening (1 after the first start; each reconnection adds one).</summary>
    public long ListenSessions => Interlocked.Read(ref _listenSessions);

    // The change signal (decision 0016): a count of the notifications received, bumped as well
    // each time listening starts or stops (what was committed while no one listened is unknown).
    // While not listening the cache is off: a lookup reads the database, never an unsignalled copy.
    // The listener starts with the first lookup, so a process that never caches never listens.
    protected override bool TryReadChangeVersion(out long version)
    {
        if (_listener is null && !_stopListening.IsCancellationRequested)
        {
            var start = new Task<Task>(() => ListenAsync(_stopListening.Token));
            if (Interlocked.CompareExchange(ref _listener, start.Unwrap(), null) is null)
            {
                start.Start(TaskScheduler.Default);
            }
        }

        version = Interlocked.Read(ref _notifications);
        return _listening;
    }

    private async Task ListenAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            var conn = new NpgsqlConnection(_listenConnectionString);
            conn.Notification += (_, _) => Interlocked.Increment(ref _notifications);
            try
            {
                await conn.OpenAsync(stop).ConfigureAwait(false);
                await using (var listen = new NpgsqlCommand($"LISTEN {ChangeChannel}", conn))
                {
                    await listen.ExecuteNonQueryAsync(stop).ConfigureAwait(false);
                }

                Interlocked.Increment(ref _notifications);
                Interlocked.Increment(ref _listenSessions);
                _listening = true;
                while (true)
                {
                    await conn.WaitAsync(stop).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is NpgsqlException or System.Net.Sockets.SocketException or IOException or TimeoutException or InvalidOperationException or OperationCanceledException)
            {
                // The server restarted, a failover, the connection was terminated: off until listening again.
            }
            finally
            {
                _listening = false;
                Interlocked.Increment(ref _notifications);
                await conn.DisposeAsync().ConfigureAwait(false);
            }

            try
            {
                await Task.Delay(ListenRetryDelay, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Where the data lives, without credentials (for logs and readiness).</summary>
    public override string Location { get; }

    protected override IReadOnlyList<Migration> Migrations { get; } =
        LoadEmbedded(typeof(PostgresStorage).Assembly, "OpenCM.Storage.Postgres.Migrations.");

    protected override string TableCatalogue =>
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name";

    protected override DbConnection OpenSyncCore() => _source.OpenConnection();

    protected override async Task<DbConnection> OpenReadCoreAsync(CancellationToken ct) =>
        await _source.OpenConnectionAsync(ct).ConfigureAwait(false);

    protected override async Task<T> WriteCoreAsync<T>(Func<DbTransaction, CancellationToken, Task<T>> work, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(work);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await _writes.WriteAsync(work, ct).ConfigureAwait(false);
            }
            catch (PostgresException e) when (attempt < MaxAttempts && e.SqlState is PostgresErrorCodes.DeadlockDetected or PostgresErrorCodes.SerializationFailure)
            {
                // Another node's batch and this one locked rows in turn; nothing of this attempt
                // persisted (its savepoint or transaction rolled back). Run it again.
            }
        }
    }

    public override async Task<T> RunExclusiveAsync<T>(string purpose, Func<Task<T>> work, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(purpose);
        ArgumentNullException.ThrowIfNull(work);

        // A session advisory lock, keyed by the purpose: held by this connection until released,
        // and released by the server if this process dies.
        var key = LockKey(purpose);
        await using var conn = await LockAsync(key, ct).ConfigureAwait(false);

        try
        {
            return await work().ConfigureAwait(false);
        }
        finally
        {
            await using var release = new NpgsqlCommand("SELECT pg_advisory_unlock(@k)", conn);
            release.Parameters.AddWithValue("k", key);
            await release.ExecuteNonQueryAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    // A connection holding the advisory lock. A server that does not answer (the first thing a
    // start does is migrate under this lock) is the typed Unavailable every entry point raises,
    // which the start reports in one line (issue #23.9), not the driver's exception.
    private async Task<NpgsqlConnection> LockAsync(long key, CancellationToken ct)
    {
        NpgsqlConnection? conn = null;
        try
        {
            conn = await _locks.OpenConnectionAsync(ct).ConfigureAwait(false);
            await using var take = new NpgsqlCommand("SELECT pg_advisory_lock(@k)", conn);
            take.Parameters.AddWithValue("k", key);
            await take.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            return conn;
        }
        catch (Exception e)
        {
            if (conn is not null)
            {
                await conn.DisposeAsync().ConfigureAwait(false);
            }

            if (IsUnavailable(e))
            {
                throw Unavailable(e);
            }

            throw;
        }
    }

    // Whether the connection string sets the keyword itself (in any spelling Npgsql accepts: case and spaces do not matter).
    private static bool Names(string connectionString, string keyword)
    {
        var wanted = keyword.Replace(" ", "", StringComparison.Ordinal);
        var given = new DbConnectionStringBuilder { ConnectionString = connectionString };
        return given.Keys.Cast<string>().Any(k => string.Equals(k.Replace(" ", "", StringComparison.Ordinal), wanted, StringComparison.OrdinalIgnoreCase));
    }

    // "OpenCM" in ASCII in the high bytes, and a stable hash of the purpose in the low ones.
    private static long LockKey(string purpose)
    {
        var hash = 17;
        foreach (var c in purpose)
        {
            hash = unchecked((hash * 31) + c);
        }

        return (MigrationLockKey << 16) ^ (hash & 0xFFFF);
    }

    public override async Task AfterCopyAsync(DbTransaction tx, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(tx);

        // Identity columns (requests.seq, ca_outbox.id, any later one) were copied with their
        // values; each sequence continues after the highest. Read from the catalogue, as the copy
        // reads its tables, so a new identity column is not forgotten.
        var npgsql = (NpgsqlTransaction)tx;
        var identities = new List<(string Table, string Column)>();
        await using (var list = npgsql.Connection!.CreateCommand())
        {
            list.Transaction = npgsql;
            list.CommandText = "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema() AND (is_identity = 'YES' OR column_default LIKE 'nextval(%')";
            await using var reader = await list.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                identities.Add((reader.GetString(0), reader.GetString(1)));
            }
        }

        foreach (var (table, column) in identities)
        {
            await using var cmd = npgsql.Connection!.CreateCommand();
            cmd.Transaction = npgsql;
            cmd.CommandText = $"SELECT setval(pg_get_serial_sequence(@t, @c), COALESCE((SELECT MAX(\"{column}\") FROM \"{table}\"), 0) + 1, false)";
            cmd.Parameters.AddWithValue("t", table);
            cmd.Parameters.AddWithValue("c", column);
            await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
    }

    protected override async Task<T> ReadCoreAsync<T>(Func<DbConnection, CancellationToken, Task<T>> work, CancellationToken ct)
    {
        try
        {
            return await base.ReadCoreAsync(work, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (DropPoolIfUnavailable(e))
        {
            throw;
        }
    }

    // After an outage (a restart, a failover) the pool's idle connections are all dead, and each
    // would fail once before being discarded: clear them at the first sign, so the next open dials anew.
    private bool DropPoolIfUnavailable(Exception failure)
    {
        if (!IsUnavailable(failure))
        {
            return false;
        }

        _source.Clear();
        _locks.Clear();
        return true;
    }

    public override bool IsUnavailable(Exception error)
    {
        for (var e = error; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                // Already typed (a refusal, or an outage a nested call raised): not re-raised.
                case Domain.OpenCmException:
                    return false;
                // Class 08 connection exceptions, 53 insufficient resources, 57 operator intervention
                // (shutdown, starting up), 58 system errors: the server, not the statement.
                case PostgresException pg when pg.SqlState.Length == 5 && pg.SqlState[..2] is "08" or "53" or "57" or "58":
                    return true;
                case PostgresException:
                    return false;
                case NpgsqlException { IsTransient: true }:
                    return true;
                case System.Net.Sockets.SocketException or TimeoutException:
                    return true;
            }
        }

        return false;
    }

    // The host may dispose the provider twice (it is registered keyed and as the StorageProvider):
    // the second call finds nothing left to do.
    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposeStarted, 1) == 1)
        {
            return;
        }

        await _stopListening.CancelAsync().ConfigureAwait(false);
        if (Interlocked.Exchange(ref _listener, Task.CompletedTask) is { } listener)
        {
            await listener.ConfigureAwait(false);
        }

        _stopListening.Dispose();
        await _writes.DisposeAsync().ConfigureAwait(false);
        await _source.DisposeAsync().ConfigureAwait(false);
        await _locks.DisposeAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }
}
