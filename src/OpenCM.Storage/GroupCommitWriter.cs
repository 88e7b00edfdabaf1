using System.Data;
using System.Data.Common;
using System.Threading.Channels;

namespace OpenCM.Storage;

/// <summary>
/// Group commit (decision 0002): writes queue up, and one writer connection runs whatever is
/// queued in a single transaction, so that one durable commit (one fsync, and on PostgreSQL one
/// pass through the audit head's row lock) serves many writers. A write that throws sends its
/// batch round again with a savepoint around each write, so that it rolls back alone; callers
/// hear of success only after the commit. Shared by the SQLite and PostgreSQL providers.
/// </summary>
public sealed class GroupCommitWriter : IAsyncDisposable
{
    private const int MaxBatch = 256;
    private readonly Channel<IWork> _queue = Channel.CreateUnbounded<IWork>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Func<CancellationToken, Task<DbConnection>> _open;
    private readonly Func<DbConnection, Exception, bool> _isBroken;
    private readonly IsolationLevel _isolation;
    private readonly bool _keepPrepared;
    private readonly string? _beforeCommit;
    private readonly Task _loop;
    private DbConnection? _connection;

    /// <param name="open">Opens the writer's connection (again, after it broke); its commands may be kept prepared.</param>
    /// <param name="isBroken">Whether the connection must be replaced after a batch failed with that exception.</param>
    /// <param name="isolation">The isolation level of each batch's transaction.</param>
    /// <param name="keepPrepared">Whether to keep the writer's command objects between uses (SQLite: each keeps its compiled statement).</param>
    /// <param name="beforeCommit">
    /// A statement run in each batch's transaction just before its commit when any write of the batch
    /// succeeded (PostgreSQL: the NOTIFY other nodes' read caches listen for, decision 0016), or null.
    /// </param>
    public GroupCommitWriter(Func<CancellationToken, Task<DbConnection>> open, Func<DbConnection, Exception, bool> isBroken, IsolationLevel isolation, bool keepPrepared, string? beforeCommit = null)
    {
        _beforeCommit = beforeCommit;
        _keepPrepared = keepPrepared;
        _open = open;
        _isBroken = isBroken;
        _isolation = isolation;
        _loop = Task.Run(LoopAsync);
    }

    /// <summary>Queues <paramref name="work"/>; completes once it committed, or with its own failure.</summary>
    public Task<T> WriteAsync<T>(Func<DbTransaction, CancellationToken, Task<T>> work, CancellationToken ct)
    {
        var item = new Work<T>(work, ct);
        return _queue.Writer.TryWrite(item) ? item.Result : throw new ObjectDisposedException(nameof(GroupCommitWriter));
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _loop.ConfigureAwait(false);
        if (_connection is not null)
        {
            Sql.DisposePrepared(_connection);
            await _connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async Task LoopAsync()
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

            // 2. Run the batch in one transaction. A write throws to undo itself: a refusal found
            //    inside its transaction (a name taken, a template another server saved first) or
            //    a compare-and-set lost on a profile or card (WriteConflictException). Most
            //    batches hold no such write, so the first attempt takes no savepoints; if a write
            //    does throw, the batch is rolled back and run again with a savepoint around each
            //    write, so that the failing one rolls back alone. A batch of one takes its
            //    savepoint too: a connection that died while the writer sat idle then fails the
            //    savepoint's statements before the write is failed, and the batch runs again on a
            //    new connection (ClusterTests.DatabaseOutage_…; without the savepoint, issue #25's
            //    first try failed the lone write with the outage instead).
            if (batch.Count > 0 && !await TryRunAsync(batch, isolate: batch.Count == 1).ConfigureAwait(false))
            {
                await TryRunAsync(batch, isolate: true).ConfigureAwait(false);
            }
        }
    }

    // False when a write threw and the batch must be retried isolated; every other outcome
    // (success, or failures already reported to their callers) is final.
    private async Task<bool> TryRunAsync(List<IWork> batch, bool isolate, bool reconnected = false)
    {
        var done = new List<IWork>(batch.Count);
        DbTransaction? tx = null;
        var committing = false;
        try
        {
            var connection = await ConnectionAsync().ConfigureAwait(false);
            tx = await connection.BeginTransactionAsync(_isolation).ConfigureAwait(false);

            // Npgsql hands out the same transaction object again: nothing of a rolled-back batch's chain may carry over.
            AuditAppender.Forget(tx);
            DeferredStatements.Begin(tx);
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
                        DeferredStatements.Discard(tx);
                        await tx.RollbackAsync().ConfigureAwait(false);
                        return false;
                    }
                    catch (Exception ex)
                    {
                        DeferredStatements.Discard(tx);
                        work.Fail(ex);
                        await tx.RollbackAsync().ConfigureAwait(false);
                        return true;
                    }

                    done.Add(work);
                    continue;
                }

                // One savepoint name serves all: each is released before the next is taken.
                // The audit chain's head is written back inside each savepoint, so that a rollback
                // to it leaves the table and the head in step (and the next append reads it again).
                await tx.ExecuteAsync("SAVEPOINT w", CancellationToken.None).ConfigureAwait(false);
                try
                {
                    await work.RunAsync(tx).ConfigureAwait(false);
                    await AuditAppender.FlushAsync(tx, CancellationToken.None).ConfigureAwait(false);
                    await tx.ExecuteAsync("RELEASE SAVEPOINT w", CancellationToken.None).ConfigureAwait(false);
                    done.Add(work);
                }
                catch (Exception ex)
                {
                    // If the connection itself is gone these throw too, and the batch is decided below, whole.
                    // What the failed write held back is dropped, never sent.
                    DeferredStatements.Discard(tx);
                    await tx.ExecuteAsync("ROLLBACK TO SAVEPOINT w", CancellationToken.None).ConfigureAwait(false);
                    await tx.ExecuteAsync("RELEASE SAVEPOINT w", CancellationToken.None).ConfigureAwait(false);
                    AuditAppender.Forget(tx);
                    work.Fail(ex);
                }
            }

            // 3. The audit chain's head as the batch left it, with what the writes held back
            //    (DeferredStatements: one round trip on PostgreSQL), then one durable commit for
            //    the whole batch; only then do callers hear of success. A held-back statement
            //    that fails here cannot be told apart from its batch: the batch runs again, one
            //    savepoint per write, where each write's statements are sent inside its own.
            try
            {
                await AuditAppender.FlushAsync(tx, CancellationToken.None).ConfigureAwait(false);
                if (_beforeCommit is not null && done.Count > 0)
                {
                    // The change signal (PostgreSQL's NOTIFY, decision 0016), inside the batch's
                    // transaction so that it is delivered only on commit; it rides with what was held back.
                    await tx.DeferAsync(_beforeCommit, CancellationToken.None).ConfigureAwait(false);
                }

                await DeferredStatements.FlushAsync(tx, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception) when (!isolate && batch.Count > 1 && tx.Connection is { State: ConnectionState.Open })
            {
                DeferredStatements.Discard(tx);
                await tx.RollbackAsync().ConfigureAwait(false);
                return false;
            }

            committing = true;
            await tx.CommitAsync().ConfigureAwait(false);
            foreach (var work in done)
            {
                work.Complete();
            }
        }
        catch (Exception ex)
        {
            // A connection the database dropped while this writer sat idle (a restart, a failover)
            // fails the batch before anything commits: run it once more on a new connection. A
            // failure while committing is never retried, since the commit may have happened.
            if (await DropIfBrokenAsync(ex).ConfigureAwait(false) && !committing && !reconnected && !batch.Any(w => w.IsFinished))
            {
                if (tx is not null)
                {
                    await DisposeQuietlyAsync(tx).ConfigureAwait(false);
                    tx = null;
                }

                return await TryRunAsync(batch, isolate, reconnected: true).ConfigureAwait(false);
            }

            foreach (var work in batch.Where(w => !w.IsFinished))
            {
                work.Fail(ex);
            }
        }
        finally
        {
            if (tx is not null)
            {
                await DisposeQuietlyAsync(tx).ConfigureAwait(false);
            }
        }

        return true;
    }

    // Disposing what a dead connection holds may throw again; the writer must live on regardless.
    private static async Task DisposeQuietlyAsync(IAsyncDisposable disposable)
    {
        try
        {
            await disposable.DisposeAsync().ConfigureAwait(false);
        }
        catch (DbException)
        {
        }
        catch (InvalidOperationException)
        {
        }
        catch (IOException)
        {
        }
    }

    private async Task<DbConnection> ConnectionAsync()
    {
        if (_connection is null)
        {
            _connection = await _open(CancellationToken.None).ConfigureAwait(false);

            // The writer runs the same few statements over and over; keeping them prepared saves a
            // parse and plan per statement (docs/benchmarks.md, WriteBenchmarks). Npgsql prepares
            // on its own (auto-prepare) and its commands are not reused here.
            if (_keepPrepared)
            {
                Sql.KeepCommandsPrepared(_connection);
            }
        }

        return _connection;
    }

    // A connection the database dropped (an outage, a failover) is replaced on the next batch.
    private async Task<bool> DropIfBrokenAsync(Exception failure)
    {
        if (_connection is null || !_isBroken(_connection, failure))
        {
            return false;
        }

        Sql.DisposePrepared(_connection);
        await DisposeQuietlyAsync(_connection).ConfigureAwait(false);
        _connection = null;
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
