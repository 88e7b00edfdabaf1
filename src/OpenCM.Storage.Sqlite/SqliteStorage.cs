using System.Data.Common;
using System.Diagnostics;
using Microsoft.Data.Sqlite;
using OpenCM.Storage;

namespace OpenCM.Storage.Sqlite;

/// <summary>
/// SQLite in WAL mode with <c>synchronous=FULL</c>: a write is on disk when its task completes.
/// Reads use pooled connections and run concurrently with writes. Writes go through one writer
/// connection that batches whatever is queued into a single transaction (<see cref="GroupCommitWriter"/>),
/// so one fsync serves many writers. Measured figures: docs/benchmarks.md.
/// </summary>
public sealed class SqliteStorage : StorageProvider
{
    private const int MaxIdleReaders = 32;
    private readonly System.Collections.Concurrent.ConcurrentBag<SqliteConnection> _readers = [];
    private volatile bool _disposed;
    private readonly string _connectionString;
    private readonly SqliteConnection _writer;
    private readonly GroupCommitWriter _writes;

    public SqliteStorage(string databasePath)
    {
        ArgumentException.ThrowIfNullOrEmpty(databasePath);
        DatabasePath = Path.GetFullPath(databasePath);
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = DatabasePath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = true,
            DefaultTimeout = 30, // seconds to wait for another process's write lock (the CLI beside a server)
        }.ToString();
        _writer = new SqliteConnection(_connectionString);
        _writer.Open();
        using (var pragma = _writer.CreateCommand())
        {
            pragma.CommandText = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=30000;";
            pragma.ExecuteNonQuery();
        }

        // One writer connection, whose statements run on raw SQLitePCL, prepared once and bound by
        // position (issue #25, decision 2: RawSqliteStatements); what that declines, the group-commit
        // writer keeps prepared as Microsoft.Data.Sqlite commands. Transactions stay Microsoft.Data.Sqlite's
        // (Serializable: BEGIN IMMEDIATE, the write lock at once; busy_timeout 30 s beside the CLI).
        _writes = new GroupCommitWriter(_ =>
        {
            RunStatementsWith(_writer, new RawSqliteStatements(_writer));
            return Task.FromResult<DbConnection>(_writer);
        }, (_, _) => false, System.Data.IsolationLevel.Serializable, keepPrepared: true);
    }

    public string DatabasePath { get; }

    public override string Location => DatabasePath;

    protected override IReadOnlyList<Migration> Migrations { get; } =
        LoadEmbedded(typeof(SqliteStorage).Assembly, "OpenCM.Storage.Sqlite.Migrations.");

    // SQLite's own tables (sqlite_sequence, sqlite_stat1) are the engine's, not the schema's.
    protected override string TableCatalogue => "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name";

    protected override DbConnection OpenSyncCore()
    {
        var conn = new SqliteConnection(_connectionString);
        conn.Open();
        return conn;
    }

    protected override async Task<DbConnection> OpenReadCoreAsync(CancellationToken ct)
    {
        var conn = new SqliteConnection(_connectionString);
        await conn.OpenAsync(ct).ConfigureAwait(false);
        return conn;
    }

    protected override async Task<T> ReadCoreAsync<T>(Func<DbConnection, CancellationToken, Task<T>> work, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(work);

        // A lent reader keeps its prepared statements; one caller at a time uses it.
        if (!_readers.TryTake(out var conn))
        {
            conn = new SqliteConnection(_connectionString);
            await conn.OpenAsync(ct).ConfigureAwait(false);
            KeepCommandsPrepared(conn);
        }

        try
        {
            return await work(conn, ct).ConfigureAwait(false);
        }
        finally
        {
            if (_readers.Count < MaxIdleReaders && !_disposed)
            {
                _readers.Add(conn);
            }
            else
            {
                DisposePreparedCommands(conn);
                await conn.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// How long after another process's commit a cache lookup may still answer from before it
    /// (decision 0016, amended): a lookup reuses a data_version reading whose step began less than
    /// this long before it. This process's own writes are seen at once regardless.
    /// </summary>
    public static readonly TimeSpan SignalWindow = TimeSpan.FromMilliseconds(1);

    private static readonly long SignalWindowTicks = (long)(SignalWindow.TotalSeconds * Stopwatch.Frequency);

    // The change signal (decision 0016): PRAGMA data_version on connections of their own, which
    // neither read nor write anything else. Its value on a connection changes once any OTHER
    // connection has committed, this process's writer and another process's (the CLI beside a
    // running server) alike.
    // 1. A reading whose step began within SignalWindow answers the lookup: a step costs shared-
    //    memory locks (fcntl) at its start and end, about 10 µs of a 40 µs GET under load, where a
    //    reading is two memory reads (issue #25's profile).
    // 2. Otherwise the lookup steps itself, on a connection of a pool: one statement under a lock
    //    had concurrent GETs spinning on it (23 % of a GET's time).
    // 3. Pooled connections' values are counters of their own and cannot be compared, so what a
    //    lookup gets is this process's generation, which a connection moves on whenever it sees
    //    its own value change (or is new). A commit is seen by the first step that begins after
    //    it on any connection, and that step moves the generation before its reading is kept or
    //    its connection goes back to the pool: a lookup that starts more than SignalWindow after
    //    the commit therefore gets a generation above any taken before the commit.
    private readonly System.Collections.Concurrent.ConcurrentBag<ChangeSignal> _signals = [];
    private long _generation;
    private SignalReading? _lastReading;

    private sealed record SignalReading(long StepStarted, long Generation);

    protected override bool TryReadChangeVersion(out long version)
    {
        version = 0;
        if (_disposed)
        {
            return false;
        }

        var now = Stopwatch.GetTimestamp();
        if (Volatile.Read(ref _lastReading) is { } recent && now - recent.StepStarted < SignalWindowTicks)
        {
            version = recent.Generation;
            return true;
        }

        if (!_signals.TryTake(out var signal) && (signal = ChangeSignal.TryOpen(_connectionString)) is null)
        {
            return false;
        }

        try
        {
            if (!signal.TryStep(out var changed))
            {
                return false;
            }

            if (changed)
            {
                Interlocked.Increment(ref _generation);
            }

            version = Interlocked.Read(ref _generation);
            Keep(new SignalReading(now, version));
            return true;
        }
        finally
        {
            _signals.Add(signal);
            if (_disposed)
            {
                DisposeSignals(); // the provider was disposed while this one was out
            }
        }
    }

    // The reading whose step began last is the one lookups reuse.
    private void Keep(SignalReading reading)
    {
        var seen = Volatile.Read(ref _lastReading);
        while (seen is null || seen.StepStarted < reading.StepStarted)
        {
            var was = Interlocked.CompareExchange(ref _lastReading, reading, seen);
            if (ReferenceEquals(was, seen))
            {
                return;
            }

            seen = was;
        }
    }

    private void DisposeSignals()
    {
        while (_signals.TryTake(out var signal))
        {
            signal.Dispose();
        }
    }

    private sealed class ChangeSignal : IDisposable
    {
        private readonly SqliteConnection _connection;
        private readonly SQLitePCL.sqlite3_stmt _dataVersion;

        private ChangeSignal(SqliteConnection connection, SQLitePCL.sqlite3_stmt dataVersion) =>
            (_connection, _dataVersion) = (connection, dataVersion);

        public static ChangeSignal? TryOpen(string connectionString)
        {
            var conn = new SqliteConnection(connectionString);
            try
            {
                conn.Open();
                if (SQLitePCL.raw.sqlite3_prepare_v2(conn.Handle, "PRAGMA data_version", out var stmt) == SQLitePCL.raw.SQLITE_OK)
                {
                    return new ChangeSignal(conn, stmt);
                }

                stmt?.Dispose();
            }
            catch (SqliteException)
            {
                // The file gone or locked: no signal, so the cache stays off for this lookup.
            }

            conn.Dispose();
            return null;
        }

        private long? _last;

        // Whether another connection committed since this one's last step (always, on its first).
        // A failed step (the file gone, a lock held too long) turns the cache off for this lookup.
        public bool TryStep(out bool changed)
        {
            var rc = SQLitePCL.raw.sqlite3_step(_dataVersion);
            var version = rc == SQLitePCL.raw.SQLITE_ROW ? SQLitePCL.raw.sqlite3_column_int64(_dataVersion, 0) : 0;
            SQLitePCL.raw.sqlite3_reset(_dataVersion);
            changed = false;
            if (rc != SQLitePCL.raw.SQLITE_ROW)
            {
                return false;
            }

            changed = _last != version;
            _last = version;
            return true;
        }

        public void Dispose()
        {
            _dataVersion.Dispose();
            _connection.Dispose();
        }
    }

    protected override Task<T> WriteCoreAsync<T>(Func<DbTransaction, CancellationToken, Task<T>> work, CancellationToken ct) => _writes.WriteAsync(work, ct);

    // SQLITE_BUSY (5), SQLITE_LOCKED (6): another process held the write lock past the busy timeout.
    public override bool IsUnavailable(Exception error)
    {
        for (var e = error; e is not null and not Domain.OpenCmException; e = e.InnerException)
        {
            if (e is SqliteException { SqliteErrorCode: 5 or 6 })
            {
                return true;
            }
        }

        return false;
    }

    public override async ValueTask DisposeAsync()
    {
        _disposed = true;
        while (_readers.TryTake(out var reader))
        {
            DisposePreparedCommands(reader);
            await reader.DisposeAsync().ConfigureAwait(false);
        }

        DisposeSignals();

        await _writes.DisposeAsync().ConfigureAwait(false);
        await _writer.DisposeAsync().ConfigureAwait(false);
        using (var handle = new SqliteConnection(_connectionString))
        {
            SqliteConnection.ClearPool(handle);
        }

        await base.DisposeAsync().ConfigureAwait(false);
    }
}
