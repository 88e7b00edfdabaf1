using System.Data.Common;
using OpenCM.Domain;

namespace OpenCM.Storage;

/// <summary>A numbered schema migration of one provider.</summary>
public sealed record Migration(int Version, string Name, string Sql);

/// <summary>What <see cref="StorageProvider.TryGetChangeStamp"/> returns: this process's writes and the provider's change signal, both as read at one moment.</summary>
public readonly record struct ChangeStamp(long LocalWrites, long Signal);

/// <summary>
/// What the SQL stores need from a database: connections for reads, and a way to run a write
/// in a transaction that is durable when the returned task completes. Providers may run several
/// writes in one commit (group commit); each write is still all-or-nothing.
/// </summary>
public abstract class StorageProvider : IAsyncDisposable
{
    /// <summary>Where the data lives, without credentials (for logs, readiness and what the first start reports).</summary>
    public abstract string Location { get; }

    private Lazy<OpenCM.Application.AuditChainKey>? _auditKey;

    /// <summary>
    /// The key the audit chain's links are HMACs under (decision 0010), from the master key the
    /// host loads (<see cref="StorageServices"/> sets it); the database never holds it. Appending
    /// an audit event without it fails rather than write an unkeyed link.
    /// </summary>
    public OpenCM.Application.AuditChainKey? AuditKey
    {
        get => _auditKey?.Value;
        set => _auditKey = value is null ? null : new(() => value);
    }

    /// <summary>
    /// Sets the audit chain key to be loaded when first needed, unless one is set already: a
    /// process that only migrates (<c>opencm migrate</c>, as the tables' owner) never loads the master key.
    /// </summary>
    public void UseAuditKey(Func<OpenCM.Application.AuditChainKey> load) => _auditKey ??= new(load);

    /// <summary>
    /// Opens a connection for reading. A database that cannot be reached raises
    /// <see cref="ErrorKind.Unavailable"/>, as every entry point of the provider does.
    /// </summary>
    public async Task<DbConnection> OpenReadAsync(CancellationToken ct = default)
    {
        try
        {
            return await OpenReadCoreAsync(ct).ConfigureAwait(false);
        }
        catch (Exception e) when (IsUnavailable(e))
        {
            throw Unavailable(e);
        }
    }

    /// <summary>
    /// Runs a read on a connection the caller has to itself for the duration. Providers may lend a
    /// connection that keeps its statements prepared between uses (hot reads such as a request by id).
    /// </summary>
    public async Task<T> ReadAsync<T>(Func<DbConnection, CancellationToken, Task<T>> work, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        try
        {
            return await ReadCoreAsync(work, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (IsUnavailable(e))
        {
            throw Unavailable(e);
        }
    }

    /// <summary>
    /// Runs <paramref name="work"/> in a transaction. If it throws, none of its writes persist and
    /// the exception is rethrown; if it returns, its writes are committed durably before this completes.
    /// </summary>
    public async Task<T> WriteAsync<T>(Func<DbTransaction, CancellationToken, Task<T>> work, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        try
        {
            return await WriteCoreAsync(work, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (IsUnavailable(e))
        {
            throw Unavailable(e);
        }
        finally
        {
            // After the commit (or the failure) and before the caller hears of it: a read cache
            // stamped before this write misses from now on, so a PUT and then a GET from the same
            // client sees the PUT (decision 0016). A write that failed bumps it too: it costs a miss, never a stale read.
            Interlocked.Increment(ref _localWrites);
        }
    }

    private long _localWrites;

    /// <summary>
    /// A stamp of the committed state as far as this process can tell, for a read cache
    /// (<see cref="CachedRequestStore"/>, decision 0016): take it BEFORE reading, tag what was read
    /// with it, and trust the copy only while a new stamp equals it. It changes after every write
    /// of this provider and whenever the provider's change signal says another connection or
    /// process committed (SQLite: <c>PRAGMA data_version</c>; PostgreSQL: a notification). False
    /// when the provider cannot tell (no signal, or the signal is down): then nothing may be cached.
    /// </summary>
    public bool TryGetChangeStamp(out ChangeStamp stamp)
    {
        var local = Volatile.Read(ref _localWrites);
        if (!TryReadChangeVersion(out var external))
        {
            stamp = default;
            return false;
        }

        stamp = new ChangeStamp(local, external);
        return true;
    }

    /// <summary>
    /// The provider's change signal (<see cref="TryGetChangeStamp"/>): a number that differs from
    /// any earlier one once anything else committed to the database, within the provider's window
    /// (SQLite: <c>SqliteStorage.SignalWindow</c>; PostgreSQL: a notification's latency). The
    /// default has no signal.
    /// </summary>
    protected virtual bool TryReadChangeVersion(out long version)
    {
        version = 0;
        return false;
    }

    /// <summary>Opens a connection for reading (<see cref="OpenReadAsync"/>).</summary>
    protected abstract Task<DbConnection> OpenReadCoreAsync(CancellationToken ct);

    /// <summary>Runs a read (<see cref="ReadAsync{T}"/>); by default on a connection of its own.</summary>
    protected virtual async Task<T> ReadCoreAsync<T>(Func<DbConnection, CancellationToken, Task<T>> work, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(work);
        await using var conn = await OpenReadCoreAsync(ct).ConfigureAwait(false);
        return await work(conn, ct).ConfigureAwait(false);
    }

    /// <summary>Runs a write in a transaction (<see cref="WriteAsync{T}"/>).</summary>
    protected abstract Task<T> WriteCoreAsync<T>(Func<DbTransaction, CancellationToken, Task<T>> work, CancellationToken ct);

    /// <summary>
    /// The typed failure for a database that cannot be reached or is too busy right now: a client
    /// should retry (503 through the one error mapping), and readiness turns unready until it answers again.
    /// </summary>
    protected static OpenCmException Unavailable(Exception cause) =>
        new(new DomainError(ErrorKind.Unavailable, "The database cannot be reached now; try again shortly."), cause);

    /// <summary>The provider's migrations, in order.</summary>
    protected abstract IReadOnlyList<Migration> Migrations { get; }

    /// <summary>
    /// Applies the migrations that have not run yet, each in its own transaction, while holding
    /// the provider's migration lock (several nodes may start at once). <paramref name="clock"/> dates
    /// each applied migration: storage reads no clock of its own.
    /// </summary>
    public Task<int> MigrateAsync(TimeProvider clock, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(clock);
        return WithMigrationLockAsync(() => MigrateUnlockedAsync(clock, ct), ct);
    }

    /// <summary>Runs <paramref name="migrate"/> so that no other process migrates the same database meanwhile.</summary>
    protected virtual Task<int> WithMigrationLockAsync(Func<Task<int>> migrate, CancellationToken ct) => RunExclusiveAsync("migrate", migrate, ct);

    /// <summary>
    /// Runs <paramref name="work"/> while no other process sharing the database runs work under
    /// the same <paramref name="purpose"/> (first-start initialization on several nodes). A
    /// database only one process writes needs no lock: the default runs the work as it is.
    /// </summary>
    public virtual Task<T> RunExclusiveAsync<T>(string purpose, Func<Task<T>> work, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        return work();
    }

    private async Task<int> MigrateUnlockedAsync(TimeProvider clock, CancellationToken ct)
    {
        if ((await TablesAsync(ct).ConfigureAwait(false)).Contains("schema_migrations"))
        {
            // A newer OpenCM migrated the database (a rolling upgrade reached it first): this build
            // does not know its tables and must not write to them (issue #23.9).
            var recorded = await RecordedMigrationsAsync(ct).ConfigureAwait(false);
            var highest = recorded.Count == 0 ? 0 : recorded.Max();
            if (highest > NewestMigration)
            {
                throw new SchemaNewerException(Location, highest, NewestMigration);
            }

            // A schema already current needs no DDL at all: the serving role of a PostgreSQL database
            // that does not own the tables (docs/security.md) starts without CREATE rights.
            if (Migrations.All(m => recorded.Contains(m.Version)))
            {
                return 0;
            }
        }

        await WriteAsync(async (tx, c) =>
        {
            await tx.ExecuteAsync("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied BIGINT NOT NULL)", c).ConfigureAwait(false);
            return 0;
        }, ct).ConfigureAwait(false);

        var applied = 0;
        foreach (var m in Migrations.OrderBy(m => m.Version))
        {
            var ran = await WriteAsync(async (tx, c) =>
            {
                var done = await tx.ScalarAsync<long>("SELECT COUNT(*) FROM schema_migrations WHERE version = @v", c, ("@v", m.Version)).ConfigureAwait(false);
                if (done > 0)
                {
                    return false;
                }

                await tx.ExecuteAsync(m.Sql, c).ConfigureAwait(false);
                await tx.ExecuteAsync("INSERT INTO schema_migrations (version, name, applied) VALUES (@v, @n, @t)", c,
                    ("@v", m.Version), ("@n", m.Name), ("@t", clock.GetUtcNow().UtcTicks)).ConfigureAwait(false);
                return true;
            }, ct).ConfigureAwait(false);
            applied += ran ? 1 : 0;
        }

        return applied;
    }

    /// <summary>How many of the provider's migrations have not run yet.</summary>
    public async Task<int> PendingMigrationsAsync(CancellationToken ct = default)
    {
        var applied = await RecordedMigrationsAsync(ct).ConfigureAwait(false);
        return Migrations.Count(m => !applied.Contains(m.Version));
    }

    // The versions schema_migrations records (the table must exist).
    private Task<HashSet<long>> RecordedMigrationsAsync(CancellationToken ct) => ReadAsync(async (conn, c) =>
    {
        var applied = new HashSet<long>();
        await using var cmd = conn.Command("SELECT version FROM schema_migrations");
        await using var r = await cmd.ExecuteReaderAsync(c).ConfigureAwait(false);
        while (await r.ReadAsync(c).ConfigureAwait(false))
        {
            applied.Add(Convert.ToInt64(r.GetValue(0), System.Globalization.CultureInfo.InvariantCulture));
        }

        return applied;
    }, ct);

    /// <summary>The newest migration this build knows: the schema version it serves.</summary>
    public int NewestMigration => Migrations.Count == 0 ? 0 : Migrations.Max(m => m.Version);

    /// <summary>
    /// The migrations the database has applied, ascending; empty when it holds no OpenCM schema.
    /// One newer than <see cref="NewestMigration"/> means a newer build migrated it (<c>opencm doctor</c>).
    /// </summary>
    public async Task<IReadOnlyList<long>> AppliedMigrationsAsync(CancellationToken ct = default)
    {
        if (!(await TablesAsync(ct).ConfigureAwait(false)).Contains("schema_migrations", StringComparer.OrdinalIgnoreCase))
        {
            return [];
        }

        return await ReadAsync<IReadOnlyList<long>>(async (conn, c) =>
        {
            var applied = new List<long>();
            await using var cmd = conn.Command("SELECT version FROM schema_migrations ORDER BY version");
            await using var r = await cmd.ExecuteReaderAsync(c).ConfigureAwait(false);
            while (await r.ReadAsync(c).ConfigureAwait(false))
            {
                applied.Add(Convert.ToInt64(r.GetValue(0), System.Globalization.CultureInfo.InvariantCulture));
            }

            return applied;
        }, ct).ConfigureAwait(false);
    }

    /// <summary>Keeps the commands run on <paramref name="connection"/> prepared between uses; for a connection one thread owns.</summary>
    protected static void KeepCommandsPrepared(DbConnection connection) => Sql.KeepCommandsPrepared(connection);

    /// <summary>
    /// Offers the statements run on <paramref name="connection"/> to <paramref name="runner"/> first
    /// (a provider's faster path for its writer); disposed with the connection's prepared commands.
    /// </summary>
    protected static void RunStatementsWith(DbConnection connection, IStatementRunner runner) => Sql.UseRunner(connection, runner);

    /// <summary>Disposes the commands kept for <paramref name="connection"/> (and its statement runner).</summary>
    protected static void DisposePreparedCommands(DbConnection connection) => Sql.DisposePrepared(connection);

    /// <summary>
    /// A connection opened synchronously, for the few callers whose interface is synchronous
    /// (ASP.NET Core's data-protection key repository, read at start and when its ring refreshes).
    /// Writes on it commit on their own, beside the provider's writer.
    /// </summary>
    public DbConnection OpenSync()
    {
        try
        {
            return OpenSyncCore();
        }
        catch (Exception e) when (IsUnavailable(e))
        {
            throw Unavailable(e);
        }
    }

    /// <summary>Opens a connection synchronously (<see cref="OpenSync"/>).</summary>
    protected abstract DbConnection OpenSyncCore();

    /// <summary>The query that lists the schema's tables from the database's own catalogue, one name a row.</summary>
    protected abstract string TableCatalogue { get; }

    /// <summary>
    /// Every table of the schema as the database's catalogue lists it (the migrations' bookkeeping
    /// included), so that <see cref="StorageCopy"/> copies what the migrations made, not a list kept by hand.
    /// </summary>
    public Task<IReadOnlyList<string>> TablesAsync(CancellationToken ct = default) => ReadAsync<IReadOnlyList<string>>(async (conn, c) =>
    {
        var names = new List<string>();
        await using var cmd = conn.Command(TableCatalogue);
        await using var r = await cmd.ExecuteReaderAsync(c).ConfigureAwait(false);
        while (await r.ReadAsync(c).ConfigureAwait(false))
        {
            names.Add(r.GetString(0));
        }

        return names;
    }, ct);

    /// <summary>After rows were copied in with their own keys (<see cref="StorageCopy"/>): bring generated keys past them.</summary>
    public virtual Task AfterCopyAsync(DbTransaction tx, CancellationToken ct) => Task.CompletedTask;

    /// <summary>
    /// Whether <paramref name="error"/> (or what it wraps) says the database cannot be reached or
    /// is too busy right now, rather than that the work itself is wrong. The provider raises such
    /// failures as <see cref="ErrorKind.Unavailable"/>; a typed failure is never one of them.
    /// </summary>
    public virtual bool IsUnavailable(Exception error) => false;

    /// <summary>Runs a statement in <paramref name="tx"/> through the same (possibly prepared) path as the stores.</summary>
    protected static Task<int> ExecuteAsync(DbTransaction tx, string sql) => tx.ExecuteAsync(sql, CancellationToken.None);

    public virtual ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }

    /// <summary>Reads the embedded migration scripts named <c>{prefix}NNNN_name.sql</c> of an assembly.</summary>
    protected static IReadOnlyList<Migration> LoadEmbedded(System.Reflection.Assembly assembly, string prefix)
    {
        ArgumentNullException.ThrowIfNull(assembly);
        var list = new List<Migration>();
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(prefix, StringComparison.Ordinal) && n.EndsWith(".sql", StringComparison.Ordinal)))
        {
            var file = resource[prefix.Length..^4];
            var version = int.Parse(file.AsSpan(0, 4), System.Globalization.CultureInfo.InvariantCulture);
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var reader = new StreamReader(stream);
            list.Add(new Migration(version, file, reader.ReadToEnd()));
        }

        return list;
    }
}

/// <summary>
/// The database's schema is newer than this build knows: a newer OpenCM migrated it (a rolling
/// upgrade reached another node first). Nothing was changed; this build refuses to serve or migrate it.
/// </summary>
public sealed class SchemaNewerException : InvalidOperationException
{
    public SchemaNewerException(string location, long databaseVersion, long knownVersion)
        : base(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"{location}: the database's schema is version {databaseVersion}, newer than {knownVersion}, the newest this OpenCM knows: a newer OpenCM migrated it. Run that newer version on this node too (a rolling upgrade upgrades every node), or restore the backup taken before the upgrade."))
    {
        DatabaseVersion = databaseVersion;
        KnownVersion = knownVersion;
    }

    public SchemaNewerException()
    {
    }

    public SchemaNewerException(string message)
        : base(message)
    {
    }

    public SchemaNewerException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>The highest migration the database records.</summary>
    public long DatabaseVersion { get; }

    /// <summary>The newest migration this build knows.</summary>
    public long KnownVersion { get; }
}
