using OpenCM.Domain;
using OpenCM.Storage;
using OpenCM.Storage.Sqlite;
using OpenCM.TestKit;

namespace OpenCM.Storage.Sqlite.Tests;

/// <summary>The read cache over a SQLite file; "another process" is a second <see cref="SqliteStorage"/> on the same file, as the CLI beside a server.</summary>
public sealed class SqliteReadCacheTests : ReadCacheContract, IDisposable
{
    private readonly TempDirectory _dir = new();

    protected override TimeSpan? SignalWindow => SqliteStorage.SignalWindow;

    protected override Task<StorageProvider> CreateAsync() => Task.FromResult<StorageProvider>(new SqliteStorage(_dir.File("opencm.db")));

    protected override Task<StorageProvider> OpenSecondAsync() => Task.FromResult<StorageProvider>(new SqliteStorage(_dir.File("opencm.db")));

    public void Dispose() => _dir.Dispose();

    // The change signal is a pool of data_version connections whose own counters cannot be
    // compared, with a reading reused within SqliteStorage.SignalWindow: however many lookups run
    // at once, and on whichever connection, every stamp taken once the window after another
    // process's commit has passed differs from every stamp taken before it, and with nothing
    // committed the stamps settle.
    [Fact]
    public async Task ChangeStamp_ConcurrentLookupsAroundAnotherProcessesCommit_EveryLaterStampDiffers()
    {
        var request = Samples.Request();
        await CreateAsync(Db, request);
        async Task<List<ChangeStamp>> StampsAsync() =>
            [.. (await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() =>
                Enumerable.Range(0, 200).Select(_ => Db.TryGetChangeStamp(out var stamp) ? stamp : throw new InvalidOperationException("no signal")).ToList()))))
                .SelectMany(s => s)];

        var before = await StampsAsync(); // the pool grows to as many connections as ran at once
        Assert.True(Db.TryGetChangeStamp(out var settled));
        await Task.Delay(SqliteStorage.SignalWindow * 2); // a step of its own, not the reading reused
        Assert.True(Db.TryGetChangeStamp(out var again));
        Assert.Equal(settled, again);

        await using (var other = await OpenSecondAsync())
        {
            other.AuditKey = Samples.AuditKey;
            await CancelAsync(other, request.Uuid, 1);
        }

        await Task.Delay(SqliteStorage.SignalWindow * 2);
        var after = await StampsAsync();
        Assert.Empty(after.Intersect(before));
    }
}
