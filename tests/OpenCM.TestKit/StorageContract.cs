using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.Security.Sddl;
using OpenCM.Storage;
using Xunit;

namespace OpenCM.TestKit;

/// <summary>
/// The storage contract every backend passes: derive once per provider and supply a fresh,
/// migrated database per test.
/// </summary>
public abstract class StorageContract : IAsyncLifetime
{
    protected StorageProvider Db { get; private set; } = null!;

    protected abstract Task<StorageProvider> CreateAsync();

    public async Task InitializeAsync()
    {
        Db = await CreateAsync();
        await Db.MigrateAsync();
    }

    public virtual async Task DisposeAsync() => await Db.DisposeAsync();

    private SqlRequestStore Requests => new(Db);

    [Fact]
    public async Task Migrate_SecondRun_AppliesNothing() => Assert.Equal(0, await Db.MigrateAsync());

    [Fact]
    public async Task Create_ThenFind_RoundTripsEveryField()
    {
        var request = Samples.Request();
        await Requests.CreateAsync(request, [Samples.UserSid(1000)], Samples.Audit(request.Uuid));
        var found = await Requests.FindAsync(request.Uuid);
        Assert.NotNull(found);
        Assert.Equal(request with { DataCollection = found!.DataCollection, Votes = found.Votes }, found);
        Assert.Equal(request.DataCollection, found.DataCollection);
        Assert.Equal(request.Votes, found.Votes);
    }

    [Fact]
    public async Task Find_Unknown_ReturnsNull() => Assert.Null(await Requests.FindAsync(Guid.NewGuid()));

    [Fact]
    public async Task TryChange_CurrentVersion_AppliesAndBumpsVersion()
    {
        var request = Samples.Request();
        await Requests.CreateAsync(request, [], Samples.Audit(request.Uuid));
        var ok = await Requests.TryChangeAsync(new RequestChange(request.Uuid, 1, RequestStatus.Approved, RequestStatus.Canceled, Samples.Now, null), Samples.Audit(request.Uuid));
        var found = await Requests.FindAsync(request.Uuid);
        Assert.True(ok);
        Assert.Equal((RequestStatus.Canceled, 2L, (DateTimeOffset?)Samples.Now), (found!.Status, found.Version, found.Completed));
        Assert.Equal(request.Votes, found.Votes);
    }

    [Theory]
    [InlineData(2, RequestStatus.Approved)]
    [InlineData(1, RequestStatus.Pending)]
    public async Task TryChange_StaleVersionOrStatus_ChangesNothingAndWritesNoAudit(long version, RequestStatus from)
    {
        var request = Samples.Request();
        await Requests.CreateAsync(request, [], Samples.Audit(request.Uuid));
        var ok = await Requests.TryChangeAsync(new RequestChange(request.Uuid, version, from, RequestStatus.Canceled, Samples.Now, null), Samples.Audit(request.Uuid));
        Assert.False(ok);
        var found = await Requests.FindAsync(request.Uuid);
        Assert.Equal(request, found! with { DataCollection = request.DataCollection, Votes = request.Votes });
        Assert.Single(await new SqlAuditLog(Db).ForSubjectAsync(request.Uuid));
    }

    [Fact]
    public async Task TryChange_ThirtyTwoRacers_ExactlyOneWins()
    {
        var request = Samples.Request();
        await Requests.CreateAsync(request, [], Samples.Audit(request.Uuid));
        var results = await Task.WhenAll(Enumerable.Range(0, 32).Select(i => Task.Run(() => Requests.TryChangeAsync(
            new RequestChange(request.Uuid, 1, RequestStatus.Approved, i % 2 == 0 ? RequestStatus.Canceled : RequestStatus.Abandoned, Samples.Now, null),
            Samples.Audit(request.Uuid, "StatusChanged")))));
        Assert.Single(results, r => r);
        Assert.Single(await new SqlAuditLog(Db).ForSubjectAsync(request.Uuid), e => e.Event.Kind == "StatusChanged");
    }

    [Theory]
    [InlineData("second step stale")]
    [InlineData("profile moved")]
    public async Task TryChangeAll_LaterStepLoses_NothingWritten(string fault)
    {
        var request = Samples.Request();
        await Requests.CreateAsync(request, [], Samples.Audit(request.Uuid));
        var begin = new RequestChange(request.Uuid, 1, RequestStatus.Approved, RequestStatus.Executing, null, null);
        var finish = fault == "second step stale"
            ? new RequestChange(request.Uuid, 99, RequestStatus.Executing, RequestStatus.Completed, Samples.Now, null)
            : new RequestChange(request.Uuid, 2, RequestStatus.Executing, RequestStatus.Completed, Samples.Now, null)
            {
                OldProfile = new ProfileTransition(Guid.NewGuid(), ProfileStatus.Active, ProfileStatus.Disabled, 0),
            };
        var ok = await Requests.TryChangeAllAsync([(begin, Samples.Audit(request.Uuid, "StatusChanged")), (finish, Samples.Audit(request.Uuid, "StatusChanged"))]);
        Assert.False(ok);
        var found = await Requests.FindAsync(request.Uuid);
        Assert.Equal((RequestStatus.Approved, 1L), (found!.Status, found.Version));
        Assert.Single(await new SqlAuditLog(Db).ForSubjectAsync(request.Uuid));
        Assert.True((await AuditChain.VerifyAsync(new SqlAuditLog(Db))).IsIntact);
    }

    [Fact]
    public async Task TryChangeAll_AllStepsHold_AppliedInOrder()
    {
        var request = Samples.Request();
        await Requests.CreateAsync(request, [], Samples.Audit(request.Uuid));
        var ok = await Requests.TryChangeAllAsync([
            (new RequestChange(request.Uuid, 1, RequestStatus.Approved, RequestStatus.Executing, null, null), Samples.Audit(request.Uuid, "StatusChanged")),
            (new RequestChange(request.Uuid, 2, RequestStatus.Executing, RequestStatus.Completed, Samples.Now, null), Samples.Audit(request.Uuid, "StatusChanged")),
        ]);
        Assert.True(ok);
        var found = await Requests.FindAsync(request.Uuid);
        Assert.Equal((RequestStatus.Completed, 3L), (found!.Status, found.Version));
        Assert.Equal(2, (await new SqlAuditLog(Db).ForSubjectAsync(request.Uuid)).Count(e => e.Event.Kind == "StatusChanged"));
    }

    [Fact]
    public async Task TryChange_WithVotes_ReplacesVoteList()
    {
        var request = Samples.Request(status: RequestStatus.Pending);
        await Requests.CreateAsync(request, [], Samples.Audit(request.Uuid));
        IReadOnlyList<ApprovalVote> votes = [.. request.Votes, new ApprovalVote(Guid.NewGuid(), true, Samples.Now, "")];
        await Requests.TryChangeAsync(new RequestChange(request.Uuid, 1, RequestStatus.Pending, RequestStatus.Approved, null, votes), Samples.Audit(request.Uuid));
        var found = await Requests.FindAsync(request.Uuid);
        Assert.Equal(votes, found!.Votes);
        Assert.Null(found.Completed);
    }

    [Fact]
    public async Task List_ByReaderSid_PagesInInsertionOrderWithFilters()
    {
        var alice = Samples.UserSid(1001);
        var bob = Samples.UserSid(1002);
        var target = Guid.NewGuid();
        var ids = new List<Guid>();
        for (var i = 0; i < 7; i++)
        {
            var r = Samples.Request(status: i % 2 == 0 ? RequestStatus.Approved : RequestStatus.Pending, target: i < 3 ? target : null);
            ids.Add(r.Uuid);
            await Requests.CreateAsync(r, i == 6 ? [bob] : [alice, Sid.Everyone], Samples.Audit(r.Uuid));
        }

        var page1 = await Requests.ListAsync(new RequestQuery([alice], null, null, 0, 4));
        var page2 = await Requests.ListAsync(new RequestQuery([alice], null, null, page1[^1].Sequence, 4));
        Assert.Equal(ids[..4], page1.Select(s => s.Request.Uuid));
        Assert.Equal(ids[4..6], page2.Select(s => s.Request.Uuid));

        // The union over several SIDs is deduplicated and ordered.
        var both = await Requests.ListAsync(new RequestQuery([alice, bob, Sid.Everyone], null, null, 0, 100));
        Assert.Equal(ids, both.Select(s => s.Request.Uuid));

        var pending = await Requests.ListAsync(new RequestQuery([alice], RequestStatus.Pending, null, 0, 100));
        Assert.Equal([ids[1], ids[3], ids[5]], pending.Select(s => s.Request.Uuid));
        var forTarget = await Requests.ListAsync(new RequestQuery([alice], null, target, 0, 100));
        Assert.Equal(ids[..3], forTarget.Select(s => s.Request.Uuid));
        Assert.Empty(await Requests.ListAsync(new RequestQuery([Samples.UserSid(9)], null, null, 0, 100)));
    }

    [Fact]
    public async Task Audit_AfterWrites_ChainVerifies()
    {
        for (var i = 0; i < 5; i++)
        {
            var r = Samples.Request();
            await Requests.CreateAsync(r, [], Samples.Audit(r.Uuid, "RequestCreated"));
        }

        var verification = await AuditChain.VerifyAsync(new SqlAuditLog(Db));
        Assert.True(verification.IsIntact, verification.Reason);
        Assert.Equal(5, verification.Count);
    }

    [Fact]
    public async Task Write_FailingWork_RollsBackAloneAndOthersCommit()
    {
        var before = Samples.Request();
        var after = Samples.Request();
        var first = Requests.CreateAsync(before, [], Samples.Audit(before.Uuid));
        var failing = Db.WriteAsync<int>(async (tx, c) =>
        {
            await using var cmd = tx.Connection!.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = "INSERT INTO settings (name, value) VALUES ('half-done', 'x')";
            await cmd.ExecuteNonQueryAsync(c);
            throw new InvalidOperationException("boom");
        });
        var last = Requests.CreateAsync(after, [], Samples.Audit(after.Uuid));
        var duplicate = Requests.CreateAsync(before with { Comment = "same uuid" }, [], Samples.Audit(before.Uuid));

        await Assert.ThrowsAsync<InvalidOperationException>(() => failing);
        await Assert.ThrowsAnyAsync<Exception>(() => duplicate);
        await Task.WhenAll(first, last);
        Assert.Equal("c", (await Requests.FindAsync(before.Uuid))!.Comment);
        Assert.NotNull(await Requests.FindAsync(after.Uuid));
        await using var conn = await Db.OpenReadAsync();
        await using var count = conn.CreateCommand();
        count.CommandText = "SELECT COUNT(*) FROM settings WHERE name = 'half-done'";
        Assert.Equal(0L, Convert.ToInt64(await count.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture));
        var verification = await AuditChain.VerifyAsync(new SqlAuditLog(Db));
        Assert.Equal((true, 2L), (verification.IsIntact, verification.Count));
    }

    [Fact]
    public async Task Write_ManyQueuedWithFailuresAmongThem_ExactlyTheGoodOnesCommit()
    {
        // Queued together, these share commits; every fifth reuses an id and must fail alone.
        var requests = Enumerable.Range(0, 100).Select(_ => Samples.Request()).ToList();
        var tasks = new List<Task>();
        for (var i = 0; i < requests.Count; i++)
        {
            var r = i % 5 == 4 ? requests[i - 1] with { Comment = "duplicate" } : requests[i];
            tasks.Add(Requests.CreateAsync(r, [Samples.UserSid(1000)], Samples.Audit(r.Uuid)));
        }

        var outcomes = await Task.WhenAll(tasks.Select(async t =>
        {
            try
            {
                await t;
                return true;
            }
            catch (Exception)
            {
                return false;
            }
        }));
        Assert.Equal(80, outcomes.Count(o => o));
        var stored = await Requests.ListAsync(new RequestQuery([Samples.UserSid(1000)], null, null, 0, 1000));
        Assert.Equal(80, stored.Count);
        Assert.All(stored, s => Assert.Equal("c", s.Request.Comment));
        var verification = await AuditChain.VerifyAsync(new SqlAuditLog(Db));
        Assert.Equal((true, 80L), (verification.IsIntact, verification.Count));
    }

    [Fact]
    public async Task Directory_AddUser_CreatesGroupsOnceWithDomainSids()
    {
        var dir = new SqlDirectory(Db, TimeProvider.System);
        var alice = await dir.AddUserAsync("alice", ["CM Approvers", "Staff"]);
        var bob = await dir.AddUserAsync("bob", ["cm approvers"]);
        var domain = await dir.DomainSidAsync();
        Assert.StartsWith(domain.Value + "-", alice.Sid.Value, StringComparison.Ordinal);
        Assert.Equal(["CM Approvers", "Staff"], (await dir.GroupsOfAsync(alice.Uuid)).Select(g => g.Name));
        Assert.Equal((await dir.GroupsOfAsync(alice.Uuid))[0], (await dir.GroupsOfAsync(bob.Uuid))[0]);
        Assert.Equal(alice, await dir.FindByNameAsync("ALICE"));
        Assert.Equal(alice, await dir.FindAsync(alice.Uuid));
        Assert.Equal(4, new[] { alice.Sid, bob.Sid, (await dir.FindByNameAsync("staff"))!.Sid, (await dir.FindByNameAsync("CM Approvers"))!.Sid }.Distinct().Count());
        var ex = await Assert.ThrowsAsync<OpenCmException>(() => dir.AddUserAsync("Alice", []));
        Assert.Equal((ErrorKind.ValidationFailed, "name"), (ex.Error.Kind, ex.Error.Field));
        Assert.Equal(["alice", "bob"], (await dir.ListUsersAsync()).Select(u => u.User.Name));
    }

    [Fact]
    public async Task Templates_SaveTwice_VersionIncrementsAndNamesStayUnique()
    {
        var store = new SqlTemplateStore(Db);
        var t = new ProfileTemplate
        {
            Uuid = Guid.NewGuid(),
            Name = "User Certificate",
            Policies = new Dictionary<RequestType, WorkflowPolicy> { [RequestType.Enroll] = new() { Enabled = true, ApprovalsNeeded = 2 } },
        };
        Assert.Equal(1, (await store.SaveAsync(t, Samples.Audit(t.Uuid))).Version);
        Assert.Equal(2, (await store.SaveAsync(t with { Description = "d" }, Samples.Audit(t.Uuid))).Version);
        var found = await store.FindAsync(t.Uuid);
        Assert.Equal(("d", 2, 2), (found!.Description, found.Version, found.PolicyFor(RequestType.Enroll)!.ApprovalsNeeded));
        var ex = await Assert.ThrowsAsync<OpenCmException>(() => store.SaveAsync(t with { Uuid = Guid.NewGuid(), Name = "user certificate" }, Samples.Audit(t.Uuid)));
        Assert.Equal("name", ex.Error.Field);
        Assert.Single(await store.ListAsync());
    }

    [Fact]
    public async Task Secrets_GetOrCreate_StableAndNotStoredInClear()
    {
        using var dir = new TempDirectory();
        var secrets = new SecretStore(Db, MasterKey.LoadOrCreate(dir.File("master.key")));
        var plain = "super-secret-value"u8.ToArray();
        var first = await secrets.GetOrCreateAsync("k", () => [.. plain]);
        var second = await secrets.GetOrCreateAsync("k", () => throw new InvalidOperationException("must not create twice"));
        Assert.Equal(plain, first);
        Assert.Equal(plain, second);
        await using var conn = await Db.OpenReadAsync();
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT value FROM secrets WHERE name = 'k'";
        var stored = (string)(await cmd.ExecuteScalarAsync())!;
        Assert.DoesNotContain("super-secret", System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(stored)), StringComparison.Ordinal);
        var other = new SecretStore(Db, MasterKey.LoadOrCreate(dir.File("other.key")));
        await Assert.ThrowsAsync<System.Security.Cryptography.CryptographicException>(() => other.GetOrCreateAsync("k", () => []));
    }
}
