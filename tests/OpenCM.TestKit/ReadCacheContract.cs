using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.Storage;
using Xunit;

namespace OpenCM.TestKit;

/// <summary>
/// The read cache (issue #25.4, decision 0016) on a real database of each provider: hits, misses,
/// invalidation by this process's writes and by another process's or node's, its bounds, and
/// rights checked per caller on a kept copy. Derive once per provider.
/// </summary>
public abstract class ReadCacheContract : IAsyncLifetime
{
    protected StorageProvider Db { get; private set; } = null!;

    /// <summary>A fresh, empty database's provider (skips when the provider's server is absent).</summary>
    protected abstract Task<StorageProvider> CreateAsync();

    /// <summary>A second provider on the same database, as the CLI or another node would open it.</summary>
    protected abstract Task<StorageProvider> OpenSecondAsync();

    /// <summary>
    /// How long after another process's commit a lookup may still answer the copy from before it:
    /// SQLite's bound (decision 0016), or null where the signal's latency has no bound to assert
    /// (PostgreSQL's notification: polled for up to 30 s).
    /// </summary>
    protected abstract TimeSpan? SignalWindow { get; }

    public async Task InitializeAsync()
    {
        Db = await CreateAsync();
        Db.AuditKey ??= Samples.AuditKey;
        await Db.MigrateAsync(Samples.Clock());
    }

    public virtual async Task DisposeAsync() => await Db.DisposeAsync();

    protected CachedRequestStore Cache(int entries = 100, long maxBytes = 1 << 20) =>
        new(new SqlRequestStore(Db), Db, new ReadCacheOptions { Entries = entries, MaxBytes = maxBytes });

    protected static Task CreateAsync(StorageProvider db, CmRequest request) =>
        new SqlTransactions(db).RunAsync(async (uow, c) =>
        {
            await uow.Requests.InsertAsync(request, [Samples.UserSid(1000)], c);
            await uow.Audit.AppendAsync(Samples.Audit(request.Uuid), c);
            return 0;
        });

    protected static async Task CancelAsync(StorageProvider db, Guid id, long version) =>
        Assert.True(await new SqlTransactions(db).RunAsync(async (uow, c) =>
        {
            var moved = await uow.Requests.TryTransitionAsync(new RequestTransition(id, version, RequestStatus.Approved, RequestStatus.Canceled, Samples.Now), c);
            await uow.Audit.AppendAsync(Samples.Audit(id, "StatusChanged"), c);
            return moved;
        }));

    /// <summary>Looks <paramref name="id"/> up until a lookup is a hit (a change signal that starts with the first lookup may take a moment).</summary>
    protected static async Task<CmRequest> WarmAsync(CachedRequestStore cache, Guid id)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var hits = cache.Hits;
            var found = await cache.FindAsync(id);
            if (cache.Hits > hits)
            {
                return found!;
            }

            Assert.True(DateTime.UtcNow < deadline, "the cache never answered a lookup");
            await Task.Delay(20);
        }
    }

    [SkippableFact]
    public async Task Find_SecondLookupNothingCommitted_TheKeptCopy()
    {
        var request = Samples.Request();
        await CreateAsync(Db, request);
        var cache = Cache();

        var first = await WarmAsync(cache, request.Uuid);
        var second = await cache.FindAsync(request.Uuid);

        Assert.Same(first, second);
        Assert.Equal((request.Uuid, 1L, 1), (second!.Uuid, second.Version, cache.Count));
    }

    [SkippableFact]
    public async Task Find_UnknownId_NullAndNothingKept()
    {
        var cache = Cache();
        Assert.Null(await cache.FindAsync(Guid.NewGuid()));
        Assert.Null(await cache.FindAsync(Guid.NewGuid()));
        Assert.Equal((0, 0L), (cache.Count, cache.Hits));
    }

    [SkippableFact]
    public async Task Find_AfterThisProcessWrote_TheNewVersionAtOnce()
    {
        var request = Samples.Request();
        await CreateAsync(Db, request);
        var cache = Cache();
        await WarmAsync(cache, request.Uuid);

        // A write of this provider changes the stamp before its caller hears of it: a PUT then a GET sees the PUT.
        await CancelAsync(Db, request.Uuid, 1);
        var found = await cache.FindAsync(request.Uuid);

        Assert.Equal((RequestStatus.Canceled, 2L), (found!.Status, found.Version));
    }

    [SkippableFact]
    public async Task Find_AfterAnotherProcessWrote_TheNewVersion()
    {
        var request = Samples.Request();
        await CreateAsync(Db, request);
        var cache = Cache();
        await WarmAsync(cache, request.Uuid);

        await using (var other = await OpenSecondAsync())
        {
            other.AuditKey = Samples.AuditKey;
            await CancelAsync(other, request.Uuid, 1);
        }

        // SQLite: the first lookup once the window has passed asks data_version and misses.
        // PostgreSQL: once the notification arrives (the window docs/decisions/0016 states);
        // until then the kept copy may answer.
        if (SignalWindow is { } window)
        {
            await Task.Delay(window * 2);
        }

        var deadline = DateTime.UtcNow.AddSeconds(SignalWindow is null ? 30 : 0);
        CmRequest? found;
        while ((found = await cache.FindAsync(request.Uuid))!.Version == 1 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        Assert.Equal((RequestStatus.Canceled, 2L), (found!.Status, found.Version));
    }

    [SkippableTheory]
    [InlineData(3, 1 << 20)]
    [InlineData(1000, 4000)]
    public async Task Find_MoreRequestsThanTheBounds_KeepsWithinBoth(int entries, long maxBytes)
    {
        var cache = Cache(entries, maxBytes);
        var ids = new List<Guid>();
        for (var i = 0; i < 12; i++)
        {
            var request = Samples.Request();
            await CreateAsync(Db, request);
            ids.Add(request.Uuid);
        }

        await WarmAsync(cache, ids[0]);
        foreach (var id in ids)
        {
            Assert.Equal(id, (await cache.FindAsync(id))!.Uuid);
        }

        Assert.InRange(cache.Count, 1, entries);
        Assert.InRange(cache.Bytes, 1, maxBytes);
    }

    [SkippableFact]
    public async Task Get_KeptCopyWarmedByAReader_AnotherCallerWithoutRightsStillNotFound()
    {
        // Samples' descriptor lets S-1-5-21-1-2-3-1000 read; 2000 holds nothing on it.
        var request = Samples.Request();
        await CreateAsync(Db, request);
        var cache = Cache();
        var queries = new RequestQueries(cache, new OpenCmOptions());
        var reader = new Caller(Guid.NewGuid(), Samples.UserSid(1000), [], "reader");
        var stranger = new Caller(Guid.NewGuid(), Samples.UserSid(2000), [], "stranger");
        await WarmAsync(cache, request.Uuid);

        var (read, rights) = await queries.GetAsync(reader, request.Uuid);
        var hits = cache.Hits;
        var refused = await Assert.ThrowsAsync<OpenCmException>(() => queries.GetAsync(stranger, request.Uuid));

        Assert.True(rights.CanRead());
        Assert.Equal(request.Uuid, read.Uuid);
        Assert.Equal(ErrorKind.NotFound, refused.Error.Kind);
        Assert.Equal(hits + 1, cache.Hits);
    }

    [SkippableFact]
    public async Task Find_KeptCopy_ItsListsCannotBeChangedByACaller()
    {
        var request = Samples.Request();
        await CreateAsync(Db, request);
        var cache = Cache();
        var kept = await WarmAsync(cache, request.Uuid);

        Assert.False(kept.DataCollection is List<DataItem>);
        Assert.False(kept.Votes is List<ApprovalVote>);
        Assert.Throws<NotSupportedException>(() => ((IList<DataItem>)kept.DataCollection).Add(new DataItem("x", "y")));
    }
}
