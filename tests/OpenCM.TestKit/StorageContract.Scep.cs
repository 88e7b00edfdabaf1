using OpenCM.Application;
using OpenCM.Storage;
using Xunit;

namespace OpenCM.TestKit;

/// <summary>SCEP challenge passwords (issue #24.3) in every provider.</summary>
public abstract partial class StorageContract
{
    private static ScepChallenge Challenge(string hash, DateTimeOffset expires) =>
        new(hash, Guid.NewGuid(), Guid.NewGuid(), "local-admin:test", Samples.Now, expires);

    // One transaction per challenge and one challenge per transaction: used once, not after it
    // expired, and found again by the transaction that used it.
    [SkippableFact]
    public async Task ScepChallenges_RedeemOnceUnexpired_FoundByItsTransaction()
    {
        var store = new SqlScepChallengeStore(Db);
        var fresh = Challenge("h1", Samples.Now.AddMinutes(60));
        await store.AddAsync(fresh, Samples.Now);
        await store.AddAsync(Challenge("h2", Samples.Now.AddMinutes(60)), Samples.Now);
        await store.AddAsync(Challenge("expired", Samples.Now.AddMinutes(1)), Samples.Now);

        Assert.Equal(fresh, await store.FindAsync("h1"));
        Assert.Null(await store.FindAsync("unknown"));
        Assert.False(await store.TryRedeemAsync("unknown", "t1", "k1", Samples.Now));
        Assert.False(await store.TryRedeemAsync("expired", "t0", "k0", Samples.Now.AddMinutes(2)));

        Assert.True(await store.TryRedeemAsync("h1", "t1", "k1", Samples.Now.AddMinutes(5)));
        Assert.False(await store.TryRedeemAsync("h1", "t1", "k1", Samples.Now.AddMinutes(6)));
        Assert.False(await store.TryRedeemAsync("h1", "t2", "k2", Samples.Now.AddMinutes(6)));

        // A second challenge cannot join a transaction another one already carries.
        Assert.False(await store.TryRedeemAsync("h2", "t1", "k1", Samples.Now.AddMinutes(6)));
        Assert.True(await store.TryRedeemAsync("h2", "t1", "k2", Samples.Now.AddMinutes(6)));

        Assert.Equal(fresh with { Used = Samples.Now.AddMinutes(5), TransactionId = "t1", KeyHash = "k1" }, await store.FindByTransactionAsync("t1", "k1"));
        Assert.Equal("h2", (await store.FindByTransactionAsync("t1", "k2"))!.Hash);
        Assert.Null(await store.FindByTransactionAsync("t1", "k3"));
    }

    // Issuing forgets challenges never used that expired, and keeps used ones (their transactions' way back).
    [SkippableFact]
    public async Task ScepChallenges_AddLater_ForgetsExpiredUnusedOnly()
    {
        var store = new SqlScepChallengeStore(Db);
        await store.AddAsync(Challenge("old-unused", Samples.Now.AddMinutes(1)), Samples.Now);
        await store.AddAsync(Challenge("old-used", Samples.Now.AddMinutes(1)), Samples.Now);
        Assert.True(await store.TryRedeemAsync("old-used", "t", "k", Samples.Now));

        await store.AddAsync(Challenge("new", Samples.Now.AddDays(1).AddMinutes(60)), Samples.Now.AddDays(1));

        Assert.Null(await store.FindAsync("old-unused"));
        Assert.NotNull(await store.FindAsync("old-used"));
        Assert.NotNull(await store.FindAsync("new"));
    }
}
