using Npgsql;
using OpenCM.Storage;
using OpenCM.Storage.Postgres;
using OpenCM.TestKit;

namespace OpenCM.Storage.Postgres.Tests;

/// <summary>
/// The read cache on PostgreSQL: "another node" is a second <see cref="PostgresStorage"/> on the
/// same database, whose writer's NOTIFY this node's listener hears; and the listener's connection
/// dropped turns the cache off until it listens again.
/// </summary>
public sealed class PostgresReadCacheTests : ReadCacheContract
{
    private string _connection = "";

    protected override TimeSpan? SignalWindow => null;

    protected override async Task<StorageProvider> CreateAsync()
    {
        var server = await PostgresServer.Shared;
        Prerequisite.SkipIfMissing(server is null, PostgresServer.SkipReason);
        _connection = await server!.CreateDatabaseAsync();
        return new PostgresStorage(_connection);
    }

    protected override Task<StorageProvider> OpenSecondAsync() => Task.FromResult<StorageProvider>(new PostgresStorage(_connection));

    [SkippableFact]
    public async Task Find_ListenerConnectionDropped_CacheOffUntilListeningAgainThenOn()
    {
        var db = (PostgresStorage)Db;
        db.ListenRetryDelay = TimeSpan.FromSeconds(3);
        var request = Samples.Request();
        await CreateAsync(Db, request);
        var cache = Cache();
        await WarmAsync(cache, request.Uuid);
        Assert.Equal(1, db.ListenSessions);

        // 1. The server ends the listening connection (as a restart or failover would).
        await using (var admin = new NpgsqlConnection(_connection))
        {
            await admin.OpenAsync();
            await using var kill = new NpgsqlCommand("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = @n AND datname = current_database()", admin);
            kill.Parameters.AddWithValue("n", PostgresStorage.ListenerApplicationName);
            await kill.ExecuteNonQueryAsync();
        }

        await UntilAsync(() => !db.IsListening);

        // 2. While it is off, every lookup reads the database: another node's write, whose
        //    notification nobody heard, is seen at once.
        await using (var other = await OpenSecondAsync())
        {
            other.AuditKey = Samples.AuditKey;
            await CancelAsync(other, request.Uuid, 1);
        }

        var hits = cache.Hits;
        var found = await cache.FindAsync(request.Uuid);
        var again = await cache.FindAsync(request.Uuid);
        Assert.Equal((2L, 2L, hits), (found!.Version, again!.Version, cache.Hits));
        Assert.False(db.IsListening, "the listener came back before the lookups ran; ListenRetryDelay is too short for this box");

        // 3. It listens again by itself, and the cache serves again.
        await UntilAsync(() => db.IsListening);
        var warmed = await WarmAsync(cache, request.Uuid);
        Assert.Equal((2L, 2L), (warmed.Version, db.ListenSessions));
    }

    private static async Task UntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out");
            await Task.Delay(5);
        }
    }
}
