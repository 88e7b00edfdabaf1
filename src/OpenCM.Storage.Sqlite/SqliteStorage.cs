using System.Data.Common;
using System.Threading.Channels;
using Microsoft.Data.Sqlite;
using OpenCM.Storage;

namespace OpenCM.Storage.Sqlite;

/// <summary>
/// SQLite in WAL mode with <c>synchronous=FULL</c>: a write is on disk when its task completes.
/// Reads use pooled connections and run concurrently with writes. Writes go through one writer
/// connection that batches whatever is queued into a single transaction (group commit), so one
/// fsync serves many writers; a write that throws sends its batch round again with a savepoint
/// around each write, so that it rolls back alone. Measured figures: docs/benchmarks.md.
/// </summary>
public sealed class SqliteStorage : StorageProvider
{
    private const int MaxBatch = 256;
    private const int MaxIdleReaders = 32;
    private readonly System.Collections.Concurrent.ConcurrentBag<SqliteConnection> _readers = [];
    private volatile bool _disposed;
    private readonly string _connectionString;
    private readonly Channel<IWork> _queue = Channel.CreateUnbounded<IWork>(new UnboundedChannelOptions { SingleReader = true });
    private readonly SqliteConnection _writer;
    private readonly Task _writerLoop;

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

        // The writer runs the same few statements over and over; keeping them prepared saves a
        // parse and plan per statement (docs/benchmarks.md, WriteBenchmarks).
        KeepCommandsPrepared(_writer);
        _writerLoop = Task.Run(WriterLoopAsync);
    }

    public string DatabasePath { get; }

    protected override IReadOnlyList<Migration> Migrations { get; } =
        LoadEmbedded(typeof(SqliteStorage).Assembly, "OpenCM.Storage.Sqlite.Migrations.");

    public override async Task<DbConnection> OpenReadAsync(CancellationToken ct = default)
    {
        var conn = new SqliteConnection(_connectionString);
        await conn.OpenAsync(ct).ConfigureAwait(false);
        return conn;
    }

    public override async Task<T> ReadAsync<T>(Func<DbConnection, CancellationToken, Task<T>> work, CancellationToken ct = default)
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

    public override Task<T> WriteAsync<T>(Func<DbTransaction, CancellationToken, Task<T>> work, CancellationToken ct = default)
    {
        var item = new Work<T>(work, ct);
        return _queue.Writer.TryWrite(item) ? item.Result : throw new ObjectDisposedException(nameof(SqliteStorage));
    }

    // SQLITE_BUSY (5), SQLITE_LOCKED (6): another process held the write lock past the busy timeout.
    public override bool IsUnavailable(Exception error)
    {
        for (var e = error; e is not null; e = e.InnerException)
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

        _queue.Writer.TryComplete();
        await _writerLoop.ConfigureAwait(false);
        DisposePreparedCommands(_writer);
        await _writer.DisposeAsync().ConfigureAwait(false);
        using (var handle = new SqliteConnection(_connectionString))
        {
            SqliteConnection.ClearPool(handle);
        }

        await base.DisposeAsync().ConfigureAwait(false);
    }

    private async Task WriterLoopAsync()
    {
        var batch = new List<IWork>(MaxBatch);
        var reader = _queue.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            // 1. Take what is queued now, up to a bound.
            batch.Clear();
            while (batch.Count < MaxBatch && reader.TryRead(out var next))
            {
                if (next.IsCanceled)
                {
                    next.Cancel();
                }
                else
                {
                    batch.Add(next);
                }
            }

            // 2. Run the batch in one transaction. Writes rarely throw (a lost compare-and-set
            //    returns false), so the first attempt takes no savepoints; if a write does throw,
            //    the batch is rolled back and run again with a savepoint around each write, so
            //    that the failing one rolls back alone.
            if (batch.Count > 0 && !await TryRunAsync(batch, isolate: batch.Count == 1).ConfigureAwait(false))
            {
                await TryRunAsync(batch, isolate: true).ConfigureAwait(false);
            }
        }
    }

    // False when a write threw and the batch must be retried isolated; every other outcome
    // (success, or failures already reported to their callers) is final.
    private async Task<bool> TryRunAsync(List<IWork> batch, bool isolate)
    {
        var done = new List<IWork>(batch.Count);
        DbTransaction? tx = null;
        try
        {
            tx = await _writer.BeginTransactionAsync(System.Data.IsolationLevel.Serializable).ConfigureAwait(false);
            foreach (var work in batch)
            {
                if (!isolate)
                {
                    try
                    {
                        await work.RunAsync(tx).ConfigureAwait(false);
                    }
                    catch (Exception) when (batch.Count > 1)
                    {
                        await tx.RollbackAsync().ConfigureAwait(false);
                        return false;
                    }
                    catch (Exception ex)
                    {
                        work.Fail(ex);
                        await tx.RollbackAsync().ConfigureAwait(false);
                        return true;
                    }

                    done.Add(work);
                    continue;
                }

                // One savepoint name serves all: each is released before the next is taken.
                await ExecuteAsync(tx, "SAVEPOINT w").ConfigureAwait(false);
                try
                {
                    await work.RunAsync(tx).ConfigureAwait(false);
                    await ExecuteAsync(tx, "RELEASE w").ConfigureAwait(false);
                    done.Add(work);
                }
                catch (Exception ex)
                {
                    await ExecuteAsync(tx, "ROLLBACK TO w").ConfigureAwait(false);
                    await ExecuteAsync(tx, "RELEASE w").ConfigureAwait(false);
                    work.Fail(ex);
                }
            }

            // 3. One durable commit for the whole batch; only then do callers hear of success.
            await tx.CommitAsync().ConfigureAwait(false);
            foreach (var work in done)
            {
                work.Complete();
            }
        }
        catch (Exception ex)
        {
            foreach (var work in batch.Where(w => !w.IsFinished))
            {
                work.Fail(ex);
            }
        }
        finally
        {
            if (tx is not null)
            {
                await tx.DisposeAsync().ConfigureAwait(false);
            }
        }

        return true;
    }

    private interface IWork
    {
        bool IsCanceled { get; }

        bool IsFinished { get; }

        Task RunAsync(DbTransaction tx);

        void Complete();

        void Fail(Exception ex);

        void Cancel();
    }

    private sealed class Work<T> : IWork
    {
        private readonly Func<DbTransaction, CancellationToken, Task<T>> _work;
        private readonly CancellationToken _ct;
        private readonly TaskCompletionSource<T> _tcs = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private T _value = default!;

        public Work(Func<DbTransaction, CancellationToken, Task<T>> work, CancellationToken ct)
        {
            _work = work;
            _ct = ct;
        }

        public Task<T> Result => _tcs.Task;

        public bool IsCanceled => _ct.IsCancellationRequested;

        public bool IsFinished => _tcs.Task.IsCompleted;

        public async Task RunAsync(DbTransaction tx) => _value = await _work(tx, CancellationToken.None).ConfigureAwait(false);

        public void Complete() => _tcs.TrySetResult(_value);

        public void Fail(Exception ex) => _tcs.TrySetException(ex);

        public void Cancel() => _tcs.TrySetCanceled(_ct);
    }
}
