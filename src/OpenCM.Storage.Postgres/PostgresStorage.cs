using System.Data;
using System.Data.Common;
using Npgsql;
using OpenCM.Storage;

namespace OpenCM.Storage.Postgres;

/// <summary>
/// PostgreSQL through Npgsql (SPEC §10): several OpenCM nodes share one database. Each write is
/// one READ COMMITTED transaction on a pooled connection, durable when it commits
/// (<c>synchronous_commit</c> as the server has it, on by default). The stores' compare-and-set
/// updates need no stronger isolation: an UPDATE that waited for another writer's row lock
/// re-checks its WHERE on the committed row and touches zero rows when the row moved. A
/// deadlock or serialization failure runs the whole write again, a bounded number of times.
/// Migrations run under a session advisory lock, so nodes that start together migrate once.
/// </summary>
public sealed class PostgresStorage : StorageProvider
{
    // pg_advisory_lock key for migrations: "OpenCM" in ASCII, as one number every node agrees on.
    private const long MigrationLockKey = 0x4F70656E434D;
    private const int MaxAttempts = 5;
    private readonly NpgsqlDataSource _source;

    public PostgresStorage(string connectionString)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        Location = $"postgres://{builder.Host}:{builder.Port}/{builder.Database}";
        _source = NpgsqlDataSource.Create(builder);
    }

    /// <summary>Where the data lives, without credentials (for logs and readiness).</summary>
    public string Location { get; }

    protected override IReadOnlyList<Migration> Migrations { get; } =
        LoadEmbedded(typeof(PostgresStorage).Assembly, "OpenCM.Storage.Postgres.Migrations.");

    public override async Task<DbConnection> OpenReadAsync(CancellationToken ct = default) =>
        await _source.OpenConnectionAsync(ct).ConfigureAwait(false);

    public override async Task<T> WriteAsync<T>(Func<DbTransaction, CancellationToken, Task<T>> work, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        for (var attempt = 1; ; attempt++)
        {
            await using var conn = await _source.OpenConnectionAsync(ct).ConfigureAwait(false);
            await using var tx = await conn.BeginTransactionAsync(IsolationLevel.ReadCommitted, ct).ConfigureAwait(false);
            try
            {
                var result = await work(tx, ct).ConfigureAwait(false);
                await tx.CommitAsync(ct).ConfigureAwait(false);
                return result;
            }
            catch (PostgresException e) when (attempt < MaxAttempts && e.SqlState is PostgresErrorCodes.DeadlockDetected or PostgresErrorCodes.SerializationFailure)
            {
                // Nothing of this attempt persists (the transaction is rolled back on dispose); run it again.
            }
        }
    }

    protected override async Task<int> WithMigrationLockAsync(Func<Task<int>> migrate, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(migrate);
        await using var conn = await _source.OpenConnectionAsync(ct).ConfigureAwait(false);
        await using (var take = new NpgsqlCommand("SELECT pg_advisory_lock(@k)", conn))
        {
            take.Parameters.AddWithValue("k", MigrationLockKey);
            await take.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        try
        {
            return await migrate().ConfigureAwait(false);
        }
        finally
        {
            await using var release = new NpgsqlCommand("SELECT pg_advisory_unlock(@k)", conn);
            release.Parameters.AddWithValue("k", MigrationLockKey);
            await release.ExecuteNonQueryAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    public override async ValueTask DisposeAsync()
    {
        await _source.DisposeAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }
}
