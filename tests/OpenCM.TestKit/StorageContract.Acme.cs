using System.Text;
using Microsoft.Extensions.Time.Testing;
using OpenCM.Application;
using OpenCM.Storage;
using Xunit;

namespace OpenCM.TestKit;

/// <summary>ACME External Account Binding keys (issue #24.4, RFC 8555 §7.3.4): sealed at rest, expiring, bound once.</summary>
public abstract partial class StorageContract
{
    private (SqlExternalAccountKeys Keys, FakeTimeProvider Clock) EabStore(TempDirectory dir)
    {
        var clock = new FakeTimeProvider(Samples.Now);
        return (new SqlExternalAccountKeys(Db, new MasterKeySealer(MasterKey.LoadOrCreate(dir.File("master.key"))), clock), clock);
    }

    [SkippableFact]
    public async Task Eab_CreateThenFind_RoundTripsEveryFieldWithARandomKidAndA256BitKey()
    {
        using var dir = new TempDirectory();
        var (keys, _) = EabStore(dir);
        var (user, template) = (Guid.NewGuid(), Guid.NewGuid());

        var created = await keys.CreateAsync(user, template, TimeSpan.FromDays(7), null, CancellationToken.None);
        var other = await keys.CreateAsync(user, template, TimeSpan.FromDays(7), null, CancellationToken.None);
        var found = await keys.FindUsableAsync(created.KeyId, CancellationToken.None);

        Assert.Matches("^[A-Za-z0-9_-]{22}$", created.KeyId);
        Assert.NotEqual(created.KeyId, other.KeyId);
        Assert.Equal(32, created.HmacKey.Length);
        Assert.NotEqual(created.HmacKey, other.HmacKey);
        Assert.Equal((Samples.Now, Samples.Now.AddDays(7)), (created.Created, created.Expires));
        Assert.NotNull(found);
        Assert.Equal(created with { HmacKey = [] }, found! with { HmacKey = [] });
        Assert.Equal(created.HmacKey, found.HmacKey);
    }

    [SkippableFact]
    public async Task Eab_CreatedWithAnAuditEvent_AppendedInTheKeysTransactionNamingTheKid()
    {
        using var dir = new TempDirectory();
        var (keys, _) = EabStore(dir);
        var user = Guid.NewGuid();

        var created = await keys.CreateAsync(user, Guid.NewGuid(), TimeSpan.FromDays(1),
            k => Samples.Audit(user, "AcmeEabKeyIssued") with { Detail = "kid=" + k.KeyId }, CancellationToken.None);

        var logged = Assert.Single(await new SqlAuditLog(Db).ForSubjectAsync(user));
        Assert.Equal(("AcmeEabKeyIssued", "kid=" + created.KeyId), (logged.Event.Kind, logged.Event.Detail));
        Assert.True((await AuditChain.VerifyAsync(new SqlAuditLog(Db), Samples.AuditKey)).IsIntact);
    }

    [SkippableFact]
    public async Task Eab_Stored_SealedUnderTheMasterKeyNotInClear()
    {
        using var dir = new TempDirectory();
        var (keys, clock) = EabStore(dir);
        var created = await keys.CreateAsync(Guid.NewGuid(), Guid.NewGuid(), TimeSpan.FromDays(1), null, CancellationToken.None);

        await using var conn = await Db.OpenReadAsync();
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT hmac_sealed FROM acme_eab_keys";
        var stored = Convert.FromBase64String((string)(await cmd.ExecuteScalarAsync())!);
        Assert.Equal(-1, stored.AsSpan().IndexOf(created.HmacKey.AsSpan(0, 8)));
        Assert.DoesNotContain(Convert.ToBase64String(created.HmacKey), Encoding.ASCII.GetString(stored), StringComparison.Ordinal);

        var stranger = new SqlExternalAccountKeys(Db, new MasterKeySealer(MasterKey.LoadOrCreate(dir.File("other.key"))), clock);
        await Assert.ThrowsAsync<MasterKeyException>(() => stranger.FindUsableAsync(created.KeyId, CancellationToken.None));
    }

    [SkippableFact]
    public async Task Eab_TryBind_OnceAndThenNeitherFoundNorBoundAgain()
    {
        using var dir = new TempDirectory();
        var (keys, _) = EabStore(dir);
        var created = await keys.CreateAsync(Guid.NewGuid(), Guid.NewGuid(), TimeSpan.FromDays(1), null, CancellationToken.None);

        Assert.True(await keys.TryBindAsync(created.KeyId, "thumb-1", CancellationToken.None));
        Assert.False(await keys.TryBindAsync(created.KeyId, "thumb-2", CancellationToken.None));
        Assert.False(await keys.TryBindAsync(created.KeyId, "thumb-1", CancellationToken.None));
        Assert.Null(await keys.FindUsableAsync(created.KeyId, CancellationToken.None));
    }

    [SkippableFact]
    public async Task Eab_TryBind_ThirtyTwoRacers_ExactlyOneWins()
    {
        using var dir = new TempDirectory();
        var (keys, _) = EabStore(dir);
        var created = await keys.CreateAsync(Guid.NewGuid(), Guid.NewGuid(), TimeSpan.FromDays(1), null, CancellationToken.None);

        var results = await Task.WhenAll(Enumerable.Range(0, 32).Select(i => Task.Run(() => keys.TryBindAsync(created.KeyId, "thumb-" + i, CancellationToken.None))));

        Assert.Single(results, won => won);
    }

    [SkippableFact]
    public async Task Eab_Expired_NeitherFoundNorBoundAndForgottenAtTheNextCreate()
    {
        using var dir = new TempDirectory();
        var (keys, clock) = EabStore(dir);
        var expiring = await keys.CreateAsync(Guid.NewGuid(), Guid.NewGuid(), TimeSpan.FromHours(1), null, CancellationToken.None);
        var bound = await keys.CreateAsync(Guid.NewGuid(), Guid.NewGuid(), TimeSpan.FromHours(1), null, CancellationToken.None);
        Assert.True(await keys.TryBindAsync(bound.KeyId, "thumb", CancellationToken.None));

        clock.Advance(TimeSpan.FromMinutes(59));
        Assert.NotNull(await keys.FindUsableAsync(expiring.KeyId, CancellationToken.None));
        clock.Advance(TimeSpan.FromMinutes(1));
        Assert.Null(await keys.FindUsableAsync(expiring.KeyId, CancellationToken.None));
        Assert.False(await keys.TryBindAsync(expiring.KeyId, "thumb", CancellationToken.None));

        await keys.CreateAsync(Guid.NewGuid(), Guid.NewGuid(), TimeSpan.FromHours(1), null, CancellationToken.None);
        await using var conn = await Db.OpenReadAsync();
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT key_id FROM acme_eab_keys WHERE key_id IN ('" + expiring.KeyId + "', '" + bound.KeyId + "')";
        Assert.Equal(bound.KeyId, (string)(await cmd.ExecuteScalarAsync())!);
    }

    [SkippableTheory]
    [InlineData("")]
    [InlineData("no-such-key-id")]
    [InlineData("' OR 1=1 --")]
    [InlineData("kid\0with-nul")]
    public async Task Eab_UnknownOrHostileKid_NullAndFalse(string kid)
    {
        using var dir = new TempDirectory();
        var (keys, _) = EabStore(dir);
        await keys.CreateAsync(Guid.NewGuid(), Guid.NewGuid(), TimeSpan.FromDays(1), null, CancellationToken.None);

        Assert.Null(await keys.FindUsableAsync(kid, CancellationToken.None));
        Assert.Null(await keys.FindUsableAsync(new string('a', 10_000), CancellationToken.None));
        Assert.False(await keys.TryBindAsync(kid, "thumb", CancellationToken.None));
    }
}
