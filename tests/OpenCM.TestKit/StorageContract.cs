using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.Security.Sddl;
using OpenCM.Storage;
using Xunit;

namespace OpenCM.TestKit;

/// <summary>
/// The storage contract every backend passes: derive once per provider and supply a fresh,
/// migrated database per test. A provider whose server is absent from this machine skips each
/// test with a message saying so (<see cref="Prerequisite.SkipIfMissing"/> in <see cref="CreateAsync"/>; a failure where <c>.ci/run</c> demands every test); it never passes.
/// </summary>
public abstract partial class StorageContract : IAsyncLifetime
{
    protected StorageProvider Db { get; private set; } = null!;

    protected abstract Task<StorageProvider> CreateAsync();

    /// <summary>
    /// Runs <paramref name="sql"/> as someone who can write the database file or owns the tables
    /// would: with the audit log's append-only triggers out of the way (dropped or disabled).
    /// </summary>
    protected abstract Task TamperAsync(string sql);

    public async Task InitializeAsync()
    {
        Db = await CreateAsync();
        Db.AuditKey ??= Samples.AuditKey;
        await Db.MigrateAsync(Samples.Clock());
    }

    public virtual async Task DisposeAsync() => await Db.DisposeAsync();

    private SqlRequestStore Requests => new(Db);

    private SqlTransactions Transactions => new(Db);

    // A request inserted with its audit event, as creation does.
    private Task<int> CreateAsync(CmRequest request, IReadOnlyCollection<Sid> readers, AuditEvent audit) =>
        Transactions.RunAsync(async (uow, c) =>
        {
            await uow.Requests.InsertAsync(request, readers, c);
            await uow.Audit.AppendAsync(audit, c);
            return 0;
        });

    // One move with its audit event, appended only when the compare-and-set holds.
    private Task<bool> TryTransitionAsync(RequestTransition move, AuditEvent audit) =>
        Transactions.RunAsync(async (uow, c) =>
        {
            if (!await uow.Requests.TryTransitionAsync(move, c))
            {
                return false;
            }

            await uow.Audit.AppendAsync(audit, c);
            return true;
        });

    // Several moves (with their effects) through the application's one path, in one unit of work: all or none.
    private Task<bool> TryApplyAllAsync(params (RequestTransition Move, IReadOnlyList<Effect> Effects)[] steps) =>
        Transactions.TryRunAsync(async (uow, c) =>
        {
            foreach (var (move, effects) in steps)
            {
                _ = await TransitionWriter.TryApplyAsync(uow, move, effects, Samples.Audit(move.Id, "StatusChanged"), c) ?? throw new WriteConflictException();
            }

            return true;
        });

    [SkippableFact]
    public async Task Migrate_SecondRun_AppliesNothing() => Assert.Equal(0, await Db.MigrateAsync(Samples.Clock()));

    [SkippableFact]
    public async Task Schema_Migrated_Ready()
    {
        var status = await new SqlStorageSchema(Db, "test", Samples.Clock()).CheckAsync();
        Assert.Equal((true, "schema current"), (status.IsReady, status.Detail));
    }

    [SkippableFact]
    public async Task Schema_MigrationForgotten_NotReadyNamingHowMany()
    {
        await Db.WriteAsync((tx, c) =>
        {
            var cmd = tx.Connection!.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = "DELETE FROM schema_migrations WHERE version = (SELECT MAX(version) FROM schema_migrations)";
            return cmd.ExecuteNonQueryAsync(c);
        });
        var status = await new SqlStorageSchema(Db, "test", Samples.Clock()).CheckAsync();
        Assert.Equal((false, "1 migration(s) pending"), (status.IsReady, status.Detail));
    }

    // A newer OpenCM migrated the database (a rolling upgrade): this build refuses it, naming both versions, and changes nothing (issue #23.9).
    [SkippableFact]
    public async Task Migrate_SchemaNewerThanThisBuild_RefusesNamingBothVersions()
    {
        var known = Db.NewestMigration;
        var before = await Db.AppliedMigrationsAsync();
        await Db.WriteAsync((tx, c) =>
        {
            var cmd = tx.Connection!.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = "INSERT INTO schema_migrations (version, name, applied) VALUES (9999, '9999_from_the_future', 0)";
            return cmd.ExecuteNonQueryAsync(c);
        });

        var refused = await Assert.ThrowsAsync<SchemaNewerException>(() => Db.MigrateAsync(Samples.Clock()));

        Assert.Equal((9999L, (long)known), (refused.DatabaseVersion, refused.KnownVersion));
        Assert.Contains($"schema is version 9999, newer than {known}", refused.Message, StringComparison.Ordinal);
        Assert.Equal([.. before, 9999L], await Db.AppliedMigrationsAsync());
    }

    [SkippableFact]
    public async Task Create_ThenFind_RoundTripsEveryField()
    {
        var request = Samples.Request();
        await CreateAsync(request, [Samples.UserSid(1000)], Samples.Audit(request.Uuid));
        var found = await Requests.FindAsync(request.Uuid);
        Assert.NotNull(found);
        Assert.Equal(request with { DataCollection = found!.DataCollection, Votes = found.Votes }, found);
        Assert.Equal(request.DataCollection, found.DataCollection);
        Assert.Equal(request.Votes, found.Votes);
    }

    [SkippableFact]
    public async Task Find_Unknown_ReturnsNull() => Assert.Null(await Requests.FindAsync(Guid.NewGuid()));

    [SkippableFact]
    public async Task TryTransition_CurrentVersion_AppliesAndBumpsVersion()
    {
        var request = Samples.Request();
        await CreateAsync(request, [], Samples.Audit(request.Uuid));
        var ok = await TryTransitionAsync(new RequestTransition(request.Uuid, 1, RequestStatus.Approved, RequestStatus.Canceled, Samples.Now), Samples.Audit(request.Uuid));
        var found = await Requests.FindAsync(request.Uuid);
        Assert.True(ok);
        Assert.Equal((RequestStatus.Canceled, 2L, (DateTimeOffset?)Samples.Now), (found!.Status, found.Version, found.Completed));
        Assert.Equal(request.Votes, found.Votes);
    }

    [SkippableTheory]
    [InlineData(2, RequestStatus.Approved)]
    [InlineData(1, RequestStatus.Pending)]
    public async Task TryTransition_StaleVersionOrStatus_ChangesNothingAndWritesNoAudit(long version, RequestStatus from)
    {
        var request = Samples.Request();
        await CreateAsync(request, [], Samples.Audit(request.Uuid));
        var ok = await TryTransitionAsync(new RequestTransition(request.Uuid, version, from, RequestStatus.Canceled, Samples.Now), Samples.Audit(request.Uuid));
        Assert.False(ok);
        var found = await Requests.FindAsync(request.Uuid);
        Assert.Equal(request, found! with { DataCollection = request.DataCollection, Votes = request.Votes });
        Assert.Single(await new SqlAuditLog(Db).ForSubjectAsync(request.Uuid));
    }

    [SkippableFact]
    public async Task TryTransition_ThirtyTwoRacers_ExactlyOneWins()
    {
        var request = Samples.Request();
        await CreateAsync(request, [], Samples.Audit(request.Uuid));
        var results = await Task.WhenAll(Enumerable.Range(0, 32).Select(i => Task.Run(() => TryTransitionAsync(
            new RequestTransition(request.Uuid, 1, RequestStatus.Approved, i % 2 == 0 ? RequestStatus.Canceled : RequestStatus.Abandoned, Samples.Now),
            Samples.Audit(request.Uuid, "StatusChanged")))));
        Assert.Single(results, r => r);
        Assert.Single(await new SqlAuditLog(Db).ForSubjectAsync(request.Uuid), e => e.Event.Kind == "StatusChanged");
    }

    [SkippableTheory]
    [InlineData("second step stale")]
    [InlineData("profile moved")]
    public async Task UnitOfWork_LaterStepLoses_NothingWritten(string fault)
    {
        var request = Samples.Request();
        await CreateAsync(request, [], Samples.Audit(request.Uuid));
        var begin = new RequestTransition(request.Uuid, 1, RequestStatus.Approved, RequestStatus.Executing);
        var (finish, effects) = fault == "second step stale"
            ? (new RequestTransition(request.Uuid, 99, RequestStatus.Executing, RequestStatus.Completed, Samples.Now), Array.Empty<Effect>())
            : (new RequestTransition(request.Uuid, 2, RequestStatus.Executing, RequestStatus.Completed, Samples.Now),
                [new Effect.ChangeProfile(new ProfileTransition(Guid.NewGuid(), ProfileStatus.Active, ProfileStatus.Disabled, 0), Samples.Now)]);
        var ok = await TryApplyAllAsync((begin, []), (finish, effects));
        Assert.False(ok);
        var found = await Requests.FindAsync(request.Uuid);
        Assert.Equal((RequestStatus.Approved, 1L), (found!.Status, found.Version));
        Assert.Single(await new SqlAuditLog(Db).ForSubjectAsync(request.Uuid));
        Assert.True((await AuditChain.VerifyAsync(new SqlAuditLog(Db), Samples.AuditKey)).IsIntact);
    }

    [SkippableFact]
    public async Task UnitOfWork_AllStepsHold_AppliedInOrder()
    {
        var request = Samples.Request();
        await CreateAsync(request, [], Samples.Audit(request.Uuid));
        var ok = await TryApplyAllAsync(
            (new RequestTransition(request.Uuid, 1, RequestStatus.Approved, RequestStatus.Executing), []),
            (new RequestTransition(request.Uuid, 2, RequestStatus.Executing, RequestStatus.Completed, Samples.Now), []));
        Assert.True(ok);
        var found = await Requests.FindAsync(request.Uuid);
        Assert.Equal((RequestStatus.Completed, 3L), (found!.Status, found.Version));
        Assert.Equal(2, (await new SqlAuditLog(Db).ForSubjectAsync(request.Uuid)).Count(e => e.Event.Kind == "StatusChanged"));
    }

    [SkippableFact]
    public async Task TryTransition_WithVotes_ReplacesVoteList()
    {
        var request = Samples.Request(status: RequestStatus.Pending);
        await CreateAsync(request, [], Samples.Audit(request.Uuid));
        IReadOnlyList<ApprovalVote> votes = [.. request.Votes, new ApprovalVote(Guid.NewGuid(), true, Samples.Now, "")];
        await TryTransitionAsync(new RequestTransition(request.Uuid, 1, RequestStatus.Pending, RequestStatus.Approved, Votes: votes), Samples.Audit(request.Uuid));
        var found = await Requests.FindAsync(request.Uuid);
        Assert.Equal(votes, found!.Votes);
        Assert.Null(found.Completed);
    }

    [SkippableFact]
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
            await CreateAsync(r, i == 6 ? [bob] : [alice, Sid.Everyone], Samples.Audit(r.Uuid));
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

    [SkippableFact]
    public async Task List_NewestFirst_PagesBackwardsFromThePositionWithFilters()
    {
        var alice = Samples.UserSid(1001);
        var bob = Samples.UserSid(1002);
        var ids = new List<Guid>();
        for (var i = 0; i < 7; i++)
        {
            var r = Samples.Request(status: i % 2 == 0 ? RequestStatus.Approved : RequestStatus.Pending);
            ids.Add(r.Uuid);
            await CreateAsync(r, i == 5 ? [bob] : [alice, Sid.Everyone], Samples.Audit(r.Uuid));
        }

        // From the newest (position 0), then on from before the last row seen; the union over SIDs deduplicated.
        var page1 = await Requests.ListAsync(new RequestQuery([alice, bob, Sid.Everyone], null, null, 0, 4, NewestFirst: true));
        var page2 = await Requests.ListAsync(new RequestQuery([alice, bob, Sid.Everyone], null, null, page1[^1].Sequence, 4, NewestFirst: true));
        Assert.Equal([ids[6], ids[5], ids[4], ids[3]], page1.Select(s => s.Request.Uuid));
        Assert.Equal([ids[2], ids[1], ids[0]], page2.Select(s => s.Request.Uuid));

        var pending = await Requests.ListAsync(new RequestQuery([alice], RequestStatus.Pending, null, 0, 100, NewestFirst: true));
        Assert.Equal([ids[3], ids[1]], pending.Select(s => s.Request.Uuid));
    }

    [SkippableFact]
    public async Task CountByOriginator_InTheUnitOfWork_CountsOnlyThatOriginatorTemplateAndStatusItsOwnInsertIncluded()
    {
        var originator = Guid.NewGuid();
        var template = Guid.NewGuid();
        CmRequest Make(RequestStatus status, Guid? who = null, Guid? from = null) =>
            Samples.Request(status: status) with { OriginatorUserUuid = who ?? originator, ProfileTemplateUuid = from ?? template };
        foreach (var r in new[] { Make(RequestStatus.Pending), Make(RequestStatus.Pending), Make(RequestStatus.Approved), Make(RequestStatus.Pending, who: Guid.NewGuid()), Make(RequestStatus.Pending, from: Guid.NewGuid()) })
        {
            await CreateAsync(r, [], Samples.Audit(r.Uuid));
        }

        var (before, after) = await Transactions.RunAsync(async (uow, c) =>
        {
            var counted = await uow.Requests.CountByOriginatorAsync(originator, template, RequestStatus.Pending, c);
            await uow.Requests.InsertAsync(Make(RequestStatus.Pending), [], c);
            return (counted, await uow.Requests.CountByOriginatorAsync(originator, template, RequestStatus.Pending, c));
        });
        Assert.Equal((2, 3), (before, after));
        Assert.Equal(0, await Transactions.RunAsync((uow, c) => uow.Requests.CountByOriginatorAsync(originator, template, RequestStatus.Denied, c)));
    }

    [SkippableFact]
    public async Task CountByOriginator_AfterTheInsertWithWritersRacing_ExactlyTheCapCommits()
    {
        // As request creation caps pending requests (issue #18.5): insert, count, throw past four.
        // The insert holds the audit head's lock until commit (decision 0006), so racers count each other.
        var originator = Guid.NewGuid();
        var template = Guid.NewGuid();
        var outcomes = await Task.WhenAll(Enumerable.Range(0, 12).Select(_ => Task.Run(async () =>
        {
            try
            {
                return await Transactions.RunAsync(async (uow, c) =>
                {
                    var request = Samples.Request(status: RequestStatus.Pending) with { OriginatorUserUuid = originator, ProfileTemplateUuid = template };
                    await uow.Requests.InsertAsync(request, [], c);
                    if (await uow.Requests.CountByOriginatorAsync(originator, template, RequestStatus.Pending, c) > 4)
                    {
                        throw new InvalidOperationException("over the cap");
                    }

                    await uow.Audit.AppendAsync(Samples.Audit(request.Uuid), c);
                    return true;
                });
            }
            catch (InvalidOperationException)
            {
                return false;
            }
        })));
        Assert.Equal(4, outcomes.Count(o => o));
        Assert.Equal(4, await Transactions.RunAsync((uow, c) => uow.Requests.CountByOriginatorAsync(originator, template, RequestStatus.Pending, c)));
    }

    [SkippableFact]
    public async Task Audit_AfterWrites_ChainVerifies()
    {
        for (var i = 0; i < 5; i++)
        {
            var r = Samples.Request();
            await CreateAsync(r, [], Samples.Audit(r.Uuid, "RequestCreated"));
        }

        var verification = await AuditChain.VerifyAsync(new SqlAuditLog(Db), Samples.AuditKey);
        Assert.True(verification.IsIntact, verification.Reason);
        Assert.Equal((6L, 1L), (verification.Count, verification.KeyedFrom)); // the keyed checkpoint first (decision 0010), then the five
    }

    [SkippableFact]
    public async Task Write_FailingWork_RollsBackAloneAndOthersCommit()
    {
        var before = Samples.Request();
        var after = Samples.Request();
        var first = CreateAsync(before, [], Samples.Audit(before.Uuid));
        var failing = Db.WriteAsync<int>(async (tx, c) =>
        {
            await using var cmd = tx.Connection!.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = "INSERT INTO settings (name, value) VALUES ('half-done', 'x')";
            await cmd.ExecuteNonQueryAsync(c);
            throw new InvalidOperationException("boom");
        });
        var last = CreateAsync(after, [], Samples.Audit(after.Uuid));
        var duplicate = CreateAsync(before with { Comment = "same uuid" }, [], Samples.Audit(before.Uuid));

        await Assert.ThrowsAsync<InvalidOperationException>(() => failing);
        await Assert.ThrowsAnyAsync<Exception>(() => duplicate);
        await Task.WhenAll(first, last);
        Assert.Equal("c", (await Requests.FindAsync(before.Uuid))!.Comment);
        Assert.NotNull(await Requests.FindAsync(after.Uuid));
        await using var conn = await Db.OpenReadAsync();
        await using var count = conn.CreateCommand();
        count.CommandText = "SELECT COUNT(*) FROM settings WHERE name = 'half-done'";
        Assert.Equal(0L, Convert.ToInt64(await count.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture));
        var verification = await AuditChain.VerifyAsync(new SqlAuditLog(Db), Samples.AuditKey);
        Assert.Equal((true, 3L), (verification.IsIntact, verification.Count)); // with the keyed checkpoint
    }

    [SkippableFact]
    public async Task Write_UnitAppendsThenThrows_ChainSkipsItsEventsAndGoesOn()
    {
        // Queued together: units that append two events each, and among them units that append
        // then fail. The failed units' events roll back with them; the chain the others build
        // (in one batch, then in the next) has no gap, no fork and ends where the head says.
        var tasks = new List<Task<bool>>();
        for (var i = 0; i < 30; i++)
        {
            var failing = i % 3 == 1;
            var id = Guid.NewGuid();
            tasks.Add(Transactions.RunAsync(async (uow, c) =>
            {
                await uow.Audit.AppendAsync(Samples.Audit(id), c);
                await uow.Audit.AppendAsync(Samples.Audit(id), c);
                return failing ? throw new InvalidOperationException("after appending") : true;
            }).ContinueWith(t => t.IsCompletedSuccessfully, TaskScheduler.Default));
        }

        Assert.Equal(20, (await Task.WhenAll(tasks)).Count(ok => ok));
        var afterFirst = await AuditChain.VerifyAsync(new SqlAuditLog(Db), Samples.AuditKey);
        Assert.Equal((true, 41L), (afterFirst.IsIntact, afterFirst.Count)); // the keyed checkpoint and 40

        // The next unit continues from the head the batch left.
        await CreateAsync(Samples.Request(), [], Samples.Audit(Guid.NewGuid()));
        var verification = await AuditChain.VerifyAsync(new SqlAuditLog(Db), Samples.AuditKey);
        Assert.Equal((true, 42L), (verification.IsIntact, verification.Count));
    }

    [SkippableFact]
    public async Task Paging_ReaderWalksWhileWritersInsert_SeesEveryRowNoGap()
    {
        // Eight writers insert 400 requests while a reader walks the keyset from the start,
        // five rows a page, never stepping back. A row that committed after the reader passed
        // its key would be missed for good: the walk must end having seen every row.
        var sid = Samples.UserSid(4242);
        var writing = Task.WhenAll(Enumerable.Range(0, 8).Select(w => Task.Run(async () =>
        {
            for (var i = 0; i < 50; i++)
            {
                var r = Samples.Request();
                await CreateAsync(r, [sid], Samples.Audit(r.Uuid));
            }
        })));
        var seen = new List<Guid>();
        long after = 0;
        while (true)
        {
            var done = writing.IsCompleted;
            var page = await Requests.ListAsync(new RequestQuery([sid], null, null, after, 5));
            seen.AddRange(page.Select(p => p.Request.Uuid));
            after = page.Count > 0 ? page[^1].Sequence : after;
            if (page.Count == 0 && done)
            {
                break;
            }
        }

        await writing;
        Assert.Equal(400, seen.Count);
        Assert.Equal(400, seen.Distinct().Count());
    }

    [SkippableFact]
    public async Task Write_ManyQueuedWithFailuresAmongThem_ExactlyTheGoodOnesCommit()
    {
        // Queued together, these share commits; every fifth reuses an id and must fail alone.
        var requests = Enumerable.Range(0, 100).Select(_ => Samples.Request()).ToList();
        var tasks = new List<Task>();
        for (var i = 0; i < requests.Count; i++)
        {
            var r = i % 5 == 4 ? requests[i - 1] with { Comment = "duplicate" } : requests[i];
            tasks.Add(CreateAsync(r, [Samples.UserSid(1000)], Samples.Audit(r.Uuid)));
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

        // One of each pair that shares an id: on SQLite the first queued, on PostgreSQL whichever
        // took the lock first; never both, never neither.
        Assert.Equal(requests.Where((_, i) => i % 5 != 4).Select(r => r.Uuid).Order(), stored.Select(s => s.Request.Uuid).Order());
        var verification = await AuditChain.VerifyAsync(new SqlAuditLog(Db), Samples.AuditKey);
        Assert.Equal((true, 81L), (verification.IsIntact, verification.Count)); // the keyed checkpoint and 80
    }

    private DirectoryAdministration Administration => new(Transactions, DirectorySource.Embedded, Samples.Clock());

    [SkippableFact]
    public async Task Directory_AddUser_CreatesGroupsOnceWithDomainSids()
    {
        var dir = new SqlDirectory(Db);
        var who = new AuditContext(Guid.NewGuid(), "corr-dir");
        var alice = await Administration.AddUserAsync(who, "alice", ["CM Approvers", "Staff"]);
        var bob = await Administration.AddUserAsync(who, "bob", ["cm approvers"]);
        var domain = await dir.DomainSidAsync();
        Assert.StartsWith(domain.Value + "-", alice.Sid.Value, StringComparison.Ordinal);
        Assert.Equal(["CM Approvers", "Staff"], (await dir.GroupsOfAsync(alice.Uuid)).Select(g => g.Name));
        Assert.Equal((await dir.GroupsOfAsync(alice.Uuid))[0], (await dir.GroupsOfAsync(bob.Uuid))[0]);
        Assert.Equal(alice, await dir.FindByNameAsync("ALICE"));
        Assert.Equal(alice, await dir.FindAsync(alice.Uuid));
        Assert.Equal(4, new[] { alice.Sid, bob.Sid, (await dir.FindByNameAsync("staff"))!.Sid, (await dir.FindByNameAsync("CM Approvers"))!.Sid }.Distinct().Count());
        var ex = await Assert.ThrowsAsync<OpenCmException>(() => Administration.AddUserAsync(who, "Alice", []));
        Assert.Equal((ErrorKind.ValidationFailed, "name"), (ex.Error.Kind, ex.Error.Field));
        Assert.Equal(["alice", "bob"], (await dir.ListUsersAsync()).Select(u => u.User.Name));
        Assert.True((await AuditChain.VerifyAsync(new SqlAuditLog(Db), Samples.AuditKey)).IsIntact);
    }

    // Issue #21.2: whom an approval descriptor's SID reaches: a user itself, or a group's members,
    // never another group, at most the number asked for.
    [SkippableFact]
    public async Task Directory_UsersNamedBy_UserItselfOrTheGroupsMembersBounded()
    {
        var dir = new SqlDirectory(Db);
        var who = new AuditContext(Guid.NewGuid(), "corr-named");
        var ann = await Administration.AddUserAsync(who, "named-ann", ["Named Approvers"], "ann@contoso.com", null);
        var ben = await Administration.AddUserAsync(who, "named-ben", ["Named Approvers", "Named Other"]);
        var cid = await Administration.AddUserAsync(who, "named-cid", ["Named Other"]);
        var approvers = (await dir.FindByNameAsync("Named Approvers"))!;

        Assert.Equal(["named-ann", "named-ben"], (await dir.UsersNamedByAsync(approvers.Sid, 10)).Select(u => u.Name));
        Assert.Equal("ann@contoso.com", (await dir.UsersNamedByAsync(approvers.Sid, 10))[0].Email);
        Assert.Equal([cid], await dir.UsersNamedByAsync(cid.Sid, 10));
        Assert.Single(await dir.UsersNamedByAsync(approvers.Sid, 1));
        Assert.Empty(await dir.UsersNamedByAsync(Sid.Parse("S-1-5-21-1-2-3-4242"), 10));
        Assert.DoesNotContain(await dir.UsersNamedByAsync(approvers.Sid, 10), u => u.Kind == PrincipalKind.Group || u.Uuid == cid.Uuid);
        Assert.NotEqual(ann.Uuid, ben.Uuid);
    }

    // Issue #23.13: the help desk's search by part of a name: users only, any case, by name,
    // bounded; LIKE's wildcards in the search are plain characters.
    [SkippableFact]
    public async Task Directory_UsersNamedLike_PartOfTheNameAnyCaseUsersOnlyBounded()
    {
        var dir = new SqlDirectory(Db);
        var who = new AuditContext(Guid.NewGuid(), "corr-like");
        await Administration.AddUserAsync(who, "like-Dora", ["Like Group"]);
        await Administration.AddUserAsync(who, "like-dorian", []);
        await Administration.AddUserAsync(who, "like_x", []);
        await Administration.AddUserAsync(who, "likeyx", []);

        Assert.Equal(["like-Dora", "like-dorian"], (await dir.UsersNamedLikeAsync("LIKE-DOR", 10)).Select(u => u.Name));
        Assert.Single(await dir.UsersNamedLikeAsync("like-dor", 1));
        Assert.Equal(["like_x"], (await dir.UsersNamedLikeAsync("e_x", 10)).Select(u => u.Name));
        Assert.Empty(await dir.UsersNamedLikeAsync("%", 10));
        Assert.Empty(await dir.UsersNamedLikeAsync("like group", 10));
    }

    // Issue #20.6: a user's e-mail address and UPN are kept and read back (migrations SQLite 0019,
    // PostgreSQL 0013); absent ones stay absent, and a malformed one is refused naming its field.
    [SkippableFact]
    public async Task Directory_AddUserWithEmailAndUpn_ReadBackByEveryLookup()
    {
        var dir = new SqlDirectory(Db);
        var who = new AuditContext(Guid.NewGuid(), "corr-mail");
        var alice = await Administration.AddUserAsync(who, "mailuser", ["Mail Team"], " mailuser@contoso.com ", "mailuser@corp.contoso.com");
        var plain = await Administration.AddUserAsync(who, "nomail", []);

        Assert.Equal(("mailuser@contoso.com", "mailuser@corp.contoso.com"), (alice.Email, alice.Upn));
        foreach (var read in new[] { await dir.FindAsync(alice.Uuid), await dir.FindByNameAsync("MAILUSER"), await dir.FindBySidAsync(alice.Sid) })
        {
            Assert.Equal(alice, read);
        }

        Assert.Equal((null, null), ((await dir.FindAsync(plain.Uuid))!.Email, (await dir.FindAsync(plain.Uuid))!.Upn));
        Assert.Equal((null, null), ((await dir.GroupsOfAsync(alice.Uuid))[0].Email, (await dir.GroupsOfAsync(alice.Uuid))[0].Upn));
        foreach (var (email, upn, field) in new[] { ("not-an-address", (string?)null, "email"), ("a@b@c", null, "email"), ("ré@contoso.com", null, "email"), (null, "no at sign", "upn"), (null, "@contoso.com", "upn") })
        {
            var ex = await Assert.ThrowsAsync<OpenCmException>(() => Administration.AddUserAsync(who, "bad" + field + (email ?? upn)!.Length, [], email, upn));
            Assert.Equal((ErrorKind.ValidationFailed, field), (ex.Error.Kind, ex.Error.Field));
        }
    }

    [SkippableFact]
    public async Task Directory_SetContact_ChangedClearedAuditedAndAMalformedOneRefused()
    {
        var dir = new SqlDirectory(Db);
        var who = new AuditContext(Guid.NewGuid(), "corr-contact");
        var user = await Administration.AddUserAsync(who, "latecomer", []);
        Assert.True(await Administration.SetContactAsync(who, user.Uuid, "late@contoso.com", "late@corp.contoso.com"));
        Assert.Equal(("late@contoso.com", "late@corp.contoso.com"), ((await dir.FindAsync(user.Uuid))!.Email, (await dir.FindAsync(user.Uuid))!.Upn));
        Assert.True(await Administration.SetContactAsync(who, user.Uuid, "", "late@corp.contoso.com"));
        Assert.Null((await dir.FindAsync(user.Uuid))!.Email);
        var ex = await Assert.ThrowsAsync<OpenCmException>(() => Administration.SetContactAsync(who, user.Uuid, "nope", null));
        Assert.Equal((ErrorKind.ValidationFailed, "email"), (ex.Error.Kind, ex.Error.Field));
        Assert.False(await Administration.SetContactAsync(who, Guid.NewGuid(), "x@contoso.com", null));
        Assert.Equal(2, await new SqlAuditLog(Db).ReadAllAsync().CountAsync(e => e.Event.Kind == "UserChanged" && e.Event.SubjectId == user.Uuid));
    }

    [SkippableFact]
    public async Task Directory_Changes_AuditedWithTheActorAndCorrelationIdApplicationGave()
    {
        var dir = new SqlDirectory(Db);
        var admin = Guid.NewGuid();
        var user = await Administration.AddUserAsync(new AuditContext(admin, "corr-add"), "leaver", ["Team"]);
        var team = (await dir.FindByNameAsync("team"))!;
        Assert.True(await Administration.RemoveMembershipAsync(AuditContext.LocalOperator("root"), user.Uuid, team.Uuid));
        Assert.False(await Administration.RemoveMembershipAsync(AuditContext.LocalOperator("root"), user.Uuid, team.Uuid));
        Assert.True(await Administration.RemoveUserAsync(new AuditContext(admin, "corr-remove"), user.Uuid));
        Assert.False(await Administration.RemoveUserAsync(new AuditContext(admin, "corr-again"), user.Uuid));
        Assert.Null(await dir.FindAsync(user.Uuid));

        // Who removed this user, under which correlation id: on the chain, and nothing for the refusals.
        var events = (await new SqlAuditLog(Db).ForSubjectAsync(user.Uuid)).Select(e => e.Event).ToList();
        Assert.Equal(["UserAdded", "MembershipAdded", "MembershipRemoved", "UserRemoved"], events.Select(e => e.Kind));
        Assert.Equal((admin, "corr-add"), (events[0].Actor, events[0].CorrelationId));
        Assert.Equal((AuditContext.LocalOperatorId, $"group={team.Uuid:D} operator=local-admin:root"), (events[2].Actor, events[2].Detail));
        Assert.Equal((admin, "corr-remove", Samples.Now), (events[3].Actor, events[3].CorrelationId, events[3].Time));
        Assert.True((await AuditChain.VerifyAsync(new SqlAuditLog(Db), Samples.AuditKey)).IsIntact);
    }

    [SkippableFact]
    public async Task Templates_StoreVersion_CompareAndSetOnTheExpectedVersionAndNamesStayUnique()
    {
        var store = new SqlTemplateStore(Db);
        var t = new ProfileTemplate
        {
            Uuid = Guid.NewGuid(),
            Name = "User Certificate",
            Version = 1,
            Policies = new Dictionary<RequestType, WorkflowPolicy> { [RequestType.Enroll] = new() { Enabled = true, ApprovalsNeeded = 2 } },
        };
        Task<bool> StoreAsync(ProfileTemplate template, int expected) => Transactions.RunAsync((uow, c) => uow.Templates.TryStoreVersionAsync(template, expected, Samples.Now, c));

        Assert.True(await StoreAsync(t, 0));
        Assert.False(await StoreAsync(t, 0));
        Assert.True(await StoreAsync(t with { Description = "d", Version = 2 }, 1));
        Assert.False(await StoreAsync(t with { Description = "stale", Version = 2 }, 1));
        var found = await store.FindAsync(t.Uuid);
        Assert.Equal(("d", 2, 2), (found!.Description, found.Version, found.PolicyFor(RequestType.Enroll)!.ApprovalsNeeded));

        // The unique name index: another template may not take the name, in any case, new or renamed.
        var other = new ProfileTemplate { Uuid = Guid.NewGuid(), Name = "Other", Version = 1 };
        Assert.False(await StoreAsync(other with { Name = "user certificate" }, 0));
        Assert.True(await StoreAsync(other, 0));
        Assert.False(await StoreAsync(other with { Name = "USER CERTIFICATE", Version = 2 }, 1));
        Assert.Equal(["Other", "User Certificate"], (await store.ListAsync()).Select(x => x.Name));
    }

    [SkippableFact]
    public async Task Templates_ProtocolsAndRequestedNameRules_ReadBackAsStored()
    {
        // Issue #24: what a template allows protocol front-ends lives in the stored body, no column of its own.
        var rules = new RequestedNameRules { Dns = ["*.devices.contoso.com", "localhost"], Ip = ["10.0.0.0/8", "fd00::/8"], Uri = ["spiffe://contoso/*"], MaxNames = 7 };
        var t = new ProfileTemplate
        {
            Uuid = Guid.NewGuid(),
            Name = "Devices",
            Version = 1,
            Protocols = [EnrollmentProtocol.Est, EnrollmentProtocol.Acme],
            CertificateTemplates = [new CertificateTemplate { CommonName = "Tls", RequestedNames = rules }, new CertificateTemplate { CommonName = "Plain" }],
        };
        Assert.True(await Transactions.RunAsync((uow, c) => uow.Templates.TryStoreVersionAsync(t, 0, Samples.Now, c)));

        var found = (await new SqlTemplateStore(Db).FindAsync(t.Uuid))!;

        Assert.Equal([EnrollmentProtocol.Est, EnrollmentProtocol.Acme], found.Protocols);
        var stored = found.CertificateTemplates[0].RequestedNames!;
        Assert.Equal(rules.Dns, stored.Dns);
        Assert.Equal(rules.Ip, stored.Ip);
        Assert.Equal(rules.Uri, stored.Uri);
        Assert.Equal(7, stored.MaxNames);
        Assert.Null(found.CertificateTemplates[1].RequestedNames);
    }

    [SkippableFact]
    public async Task CaOutbox_QueuedInTheUnitOfWork_DueAfterItsFirstRetryUntilDelivered()
    {
        var outbox = new SqlCaOutbox(Db);
        var revocation = new Revocation(["0a0b", "0C0D"], 4, Samples.Now);
        var id = await Transactions.RunAsync((uow, c) => uow.Notices.EnqueueAsync(revocation, Samples.Now.AddSeconds(30), c));

        // A unit of work that fails queues nothing.
        await Assert.ThrowsAsync<InvalidOperationException>(() => Transactions.RunAsync<long>(async (uow, c) =>
        {
            await uow.Notices.EnqueueAsync(revocation, Samples.Now, c);
            throw new InvalidOperationException("abandoned");
        }));

        Assert.Empty(await outbox.DueAsync(Samples.Now.AddSeconds(29), 10));
        var due = Assert.Single(await outbox.DueAsync(Samples.Now.AddSeconds(30), 10));
        Assert.Equal((id, 4, Samples.Now, 0), (due.Id, due.Revocation.Reason, due.Revocation.At, due.Attempts));
        Assert.Equal(["0A0B", "0C0D"], due.Revocation.Serials);

        await outbox.MarkFailedAsync(id, 1, Samples.Now.AddMinutes(5), "HttpRequestException");
        Assert.Empty(await outbox.DueAsync(Samples.Now.AddMinutes(4), 10));
        Assert.Equal(1, Assert.Single(await outbox.DueAsync(Samples.Now.AddMinutes(5), 10)).Attempts);

        await outbox.MarkDeliveredAsync(id, Samples.Now.AddMinutes(5));
        await outbox.MarkFailedAsync(id, 2, Samples.Now, "late failure report");
        Assert.Empty(await outbox.DueAsync(Samples.Now.AddDays(1), 10));
    }

    [SkippableFact]
    public async Task CaOutbox_TransitionThatRevokes_QueuesItsRevocationBesideIt()
    {
        var (request, profile, signed, @unsigned) = await ExecutingAsync();
        var applied = await Transactions.TryRunAsync((uow, c) => TransitionWriter.TryApplyAsync(uow,
            new RequestTransition(request.Uuid, request.Version, RequestStatus.Executing, RequestStatus.Failed, Samples.Now),
            [new Effect.Undo(profile, 5, Samples.Now)], Samples.Audit(request.Uuid, "StatusChanged"), c));
        var notice = Assert.Single(applied!.Notices);
        var due = Assert.Single(await new SqlCaOutbox(Db).DueAsync(Samples.Now + CaNoticeDelivery.FirstRetryAfter, 10));
        Assert.Equal(notice.Id, due.Id);
        Assert.Equal(new[] { signed, @unsigned }.Order(), due.Revocation.Serials.Order());
    }

    [SkippableFact]
    public async Task Secrets_GetOrCreate_StableAndNotStoredInClear()
    {
        using var dir = new TempDirectory();
        var secrets = new SecretStore(Db, MasterKey.LoadOrCreate(dir.File("master.key")), Samples.Clock());
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
        var other = new SecretStore(Db, MasterKey.LoadOrCreate(dir.File("other.key")), Samples.Clock());
        await Assert.ThrowsAsync<MasterKeyException>(() => other.GetOrCreateAsync("k", () => []));
    }

    [SkippableFact]
    public async Task Migrations_AndSecrets_DatedByTheCallersClockNotTheWallClock()
    {
        using var dir = new TempDirectory();
        await new SecretStore(Db, MasterKey.LoadOrCreate(dir.File("master.key")), Samples.Clock()).GetOrCreateAsync("dated", () => [1, 2, 3]);
        await using var conn = await Db.OpenReadAsync();
        foreach (var sql in new[] { "SELECT MIN(applied) FROM schema_migrations", "SELECT MAX(applied) FROM schema_migrations", "SELECT created FROM secrets WHERE name = 'dated'" })
        {
            await using var cmd = conn.CreateCommand();
            cmd.CommandText = sql;
            Assert.Equal(Samples.Now.UtcTicks, Convert.ToInt64(await cmd.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture));
        }
    }

    [SkippableFact]
    public async Task TryTransition_NewProfile_RecordedOnTheRequest()
    {
        var request = Samples.Request();
        await CreateAsync(request, [], Samples.Audit(request.Uuid));
        var profile = Guid.NewGuid();
        Assert.True(await TryTransitionAsync(new RequestTransition(request.Uuid, 1, RequestStatus.Approved, RequestStatus.Executing, NewProfile: profile), Samples.Audit(request.Uuid)));
        var found = await Requests.FindAsync(request.Uuid);
        Assert.Equal((RequestStatus.Executing, profile, (DateTimeOffset?)null), (found!.Status, found.NewProfileUuid, found.Completed));
    }

    // An execution as enrollment leaves it: the request Executing with a New profile, one serial
    // reserved and signed, one reserved and not signed (the CA failed, or is still signing).
    private async Task<(CmRequest Request, Guid Profile, string Signed, string Unsigned)> ExecutingAsync(ProfileStatus profileStatus = ProfileStatus.New)
    {
        var request = Samples.Request();
        await CreateAsync(request, [], Samples.Audit(request.Uuid));
        var profile = Guid.NewGuid();
        var (signed, unsigned) = (Serial(), Serial());
        await Transactions.RunAsync(async (uow, c) =>
        {
            Assert.True(await uow.Requests.TryTransitionAsync(new RequestTransition(request.Uuid, 1, RequestStatus.Approved, RequestStatus.Executing, NewProfile: profile), c));
            await uow.Profiles.InsertAsync(new StoredProfile(profile, request.ProfileTemplateUuid, 1, request.TargetUserUuid, Guid.Empty, profileStatus, request.Uuid, Samples.Now), c);
            await uow.Certificates.ReserveAsync(new CertificateReservation(signed, request.Uuid, profile, request.TargetUserUuid, "T"), c);
            await uow.Certificates.ReserveAsync(new CertificateReservation(unsigned, request.Uuid, profile, request.TargetUserUuid, "T"), c);
            return 0;
        });
        Assert.True(await Transactions.RunAsync((uow, c) => uow.Certificates.RecordIssuedAsync(Issued(signed), c)));
        return (request with { Status = RequestStatus.Executing, NewProfileUuid = profile, Version = 2 }, profile, signed, unsigned);
    }

    private static string Serial() => Convert.ToHexString(Guid.NewGuid().ToByteArray());

    private static IssuedCertificate Issued(string serial) => new(serial, [0x30, 0x03, 0x02, 0x01, 0x01], "TP" + serial, Samples.Now.AddMinutes(-1), Samples.Now.AddDays(365));

    [SkippableFact]
    public async Task Certificates_ReservedSerial_HiddenUntilSignedThenIssued()
    {
        var (_, profile, signed, unsigned) = await ExecutingAsync();
        var listed = await new SqlProfileStore(Db).CertificatesOfProfileAsync(profile);
        var only = Assert.Single(listed);
        Assert.Equal((signed, CertificateStatus.Issued, "TP" + signed), (only.SerialHex, only.Status, only.Certificate.Thumbprint));
        Assert.DoesNotContain(listed, c => c.SerialHex == unsigned);
    }

    [SkippableFact]
    public async Task Certificates_ReservedWithPlan_PlanHashOnRecord()
    {
        // Issue #17: what the CA is to sign is on record with the serial before it signs.
        var serial = Serial();
        var plan = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(Guid.NewGuid().ToByteArray()));
        await Transactions.RunAsync(async (uow, c) =>
        {
            await uow.Certificates.ReserveAsync(new CertificateReservation(serial, Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid(), "T", plan), c);
            return 0;
        });
        await using var conn = await Db.OpenReadAsync();
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = $"SELECT plan_sha256 FROM certificates WHERE serial = '{serial}'";
        Assert.Equal(plan, await cmd.ExecuteScalarAsync() as string);
    }

    [SkippableFact]
    public async Task Certificates_RecordIssuedTwiceOrUnknown_False()
    {
        var (_, _, signed, _) = await ExecutingAsync();
        Assert.False(await Transactions.RunAsync((uow, c) => uow.Certificates.RecordIssuedAsync(Issued(signed), c)));
        Assert.False(await Transactions.RunAsync((uow, c) => uow.Certificates.RecordIssuedAsync(Issued(Serial()), c)));
    }

    // Issue #21.1: the queue gauges count the requests that wait, by status, and nothing else.
    [SkippableFact]
    public async Task Counts_OpenRequests_OnlyPendingApprovedAndExecutingByStatus()
    {
        var counts = new SqlOperationalCounts(Db);
        Assert.Empty(await counts.CountOpenRequestsAsync());
        foreach (var status in new[] { RequestStatus.Pending, RequestStatus.Pending, RequestStatus.Approved, RequestStatus.Approved, RequestStatus.Denied, RequestStatus.Completed })
        {
            var request = Samples.Request(status: status);
            await CreateAsync(request, [], Samples.Audit(request.Uuid));
        }

        _ = await ExecutingAsync();
        var found = await counts.CountOpenRequestsAsync();
        Assert.Equal(
            [(RequestStatus.Approved, 2L), (RequestStatus.Pending, 2L), (RequestStatus.Executing, 1L)],
            found.OrderBy(p => (int)p.Key).Select(p => (p.Key, p.Value)));
    }

    // Issue #21.1: certificates in use that run out inside the window; expired, later, revoked and unsigned ones are not.
    [SkippableFact]
    public async Task Counts_CertificatesExpiring_OnlyLiveOnesInsideTheWindow()
    {
        var (request, profile, _, _) = await ExecutingAsync();
        var other = Guid.NewGuid();
        var serials = Enumerable.Range(0, 5).Select(_ => Serial()).ToArray();
        await Transactions.RunAsync(async (uow, c) =>
        {
            foreach (var (serial, i) in serials.Select((s, i) => (s, i)))
            {
                await uow.Certificates.ReserveAsync(new CertificateReservation(serial, request.Uuid, i == 3 ? other : profile, request.TargetUserUuid, "T"), c);
            }

            return 0;
        });
        var lives = new[] { TimeSpan.FromDays(10), TimeSpan.FromDays(40), TimeSpan.FromDays(-1), TimeSpan.FromDays(5) };
        await Transactions.RunAsync(async (uow, c) =>
        {
            for (var i = 0; i < lives.Length; i++)
            {
                Assert.True(await uow.Certificates.RecordIssuedAsync(new IssuedCertificate(serials[i], [0x30, 0x03, 0x02, 0x01, 0x01], "TP" + serials[i], Samples.Now.AddDays(-2), Samples.Now + lives[i]), c));
            }

            // The fourth, on another profile, is revoked; the fifth stays reserved, never signed.
            _ = await uow.Certificates.RevokeAllAsync(other, 1, Samples.Now, c);
            return 0;
        });
        var counts = new SqlOperationalCounts(Db);
        Assert.Equal(1, await counts.CountCertificatesExpiringAsync(Samples.Now, Samples.Now.AddDays(30)));

        // Current (the execution completed) still counts.
        await Transactions.RunAsync((uow, c) => uow.Certificates.MoveAllAsync(profile, CertificateStatus.Issued, CertificateStatus.Current, c));
        Assert.Equal(1, await counts.CountCertificatesExpiringAsync(Samples.Now, Samples.Now.AddDays(30)));
        Assert.Equal(2, await counts.CountCertificatesExpiringAsync(Samples.Now.AddDays(-3), Samples.Now.AddDays(30)));
    }

    [SkippableFact]
    public async Task Authorities_AddActivateRetire_OneActiveAndCompareAndSet()
    {
        var store = new AuthorityChanges(Transactions);
        var who = AuditContext.Bootstrap;
        var first = new StoredAuthority(1, "Root", "Root", AuthorityState.Active, "secret:ca", "CN=Root", [1, 2], [], "http://cm/CertificateManagement", Samples.Now, Samples.Now);
        Assert.Equal(1, await store.AddAsync(who, first, "sha256=00"));
        Assert.Null(await store.AddAsync(who, first with { Slug = "Other" }, ""));   // id 1 is taken: the first wins
        var pending = await store.AddAsync(who, first with { Id = 0, Name = "Sub", Slug = "Sub", State = AuthorityState.Pending, Certificate = null, Publication = null, Activated = null }, "");
        Assert.Equal(2, pending);
        Assert.Null(await store.AddAsync(who, first with { Id = 0, Slug = "Sub" }, ""));   // the slug is taken

        // A pending CA becomes active and retires the one before, once.
        var sub = (await new SqlAuthorityStore(Db).ListAsync())[1];
        Assert.True(await store.ActivateAsync(who, sub, [3], [4, 5], "", Samples.Now));
        Assert.False(await store.ActivateAsync(who, sub, [3], [4, 5], "", Samples.Now));
        Assert.False(await store.ActivateAsync(who, sub with { Id = 9 }, [3], [], "", Samples.Now));
        var all = await new SqlAuthorityStore(Db).ListAsync();
        Assert.Equal([AuthorityState.Retired, AuthorityState.Active], all.Select(a => a.State));
        Assert.Equal([4, 5], all[1].Chain);

        // A publication is set once, where there was none.
        Assert.True(await store.SetPublicationAsync(who, 2, "https://cm.contoso.test/CertificateManagement", Samples.Now));
        Assert.False(await store.SetPublicationAsync(who, 2, "https://elsewhere", Samples.Now));
        Assert.False(await store.SetPublicationAsync(who, 1, "https://elsewhere", Samples.Now));
        Assert.Equal("https://cm.contoso.test/CertificateManagement", (await new SqlAuthorityStore(Db).ListAsync())[1].Publication);

        // Each change that took is in the audit chain; the refused ones are not.
        var kinds = await new SqlAuditLog(Db).ReadAllAsync().Select(e => e.Event.Kind).ToListAsync();
        Assert.Equal(1, kinds.Count(k => k == "CaCreated"));
        Assert.Equal(1, kinds.Count(k => k == "CaRequested"));
        Assert.Equal(1, kinds.Count(k => k == "CaInstalled"));
        Assert.Equal(1, kinds.Count(k => k == "CaPublicationSet"));
    }

    [SkippableFact]
    public async Task Crl_RevocationsOfTwoCas_EachListsItsOwnAndUnsignedSerials()
    {
        var (_, _, signed, _) = await ExecutingAsync();
        await TamperAsync($"UPDATE certificates SET ca_id = 2, revoked_at = 1, revocation_reason = 1 WHERE serial = '{signed}'");
        Assert.DoesNotContain(await new SqlCertificateStore(Db).ListRevokedAsync(1), r => r.SerialHex == signed);
        Assert.Contains(await new SqlCertificateStore(Db).ListRevokedAsync(2), r => r.SerialHex == signed);
    }

    [SkippableFact]
    public async Task Effects_Finalize_ProfileActiveAndCertificatesCurrent()
    {
        var (request, profile, signed, _) = await ExecutingAsync();
        Assert.True(await TryApplyAllAsync((new RequestTransition(request.Uuid, 2, RequestStatus.Executing, RequestStatus.Completed, Samples.Now),
            ExecutionEffects.For(RequestStatus.Executing, RequestStatus.Completed, profile, null, Samples.Now))));
        Assert.Equal(ProfileStatus.Active, (await new SqlProfileStore(Db).FindAsync(profile))!.Status);
        Assert.Equal(CertificateStatus.Current, Assert.Single(await new SqlProfileStore(Db).CertificatesOfProfileAsync(profile), c => c.SerialHex == signed).Status);
        Assert.Empty(await new SqlCertificateStore(Db).ListRevokedAsync(1));
    }

    [SkippableTheory]
    [InlineData(RequestStatus.Canceled)]
    [InlineData(RequestStatus.Abandoned)]
    [InlineData(RequestStatus.Failed)]
    public async Task Effects_Undo_EverySerialRevokedAtTheGivenTimeAndProfileRetired(RequestStatus to)
    {
        var (request, profile, signed, unsigned) = await ExecutingAsync();
        var at = Samples.Now.AddHours(3);
        var applied = await Transactions.TryRunAsync((uow, c) => TransitionWriter.TryApplyAsync(uow,
            new RequestTransition(request.Uuid, 2, RequestStatus.Executing, to, at), ExecutionEffects.For(RequestStatus.Executing, to, profile, null, at),
            Samples.Audit(request.Uuid), c));

        // The reserved serial is revoked too: the CA may have signed it.
        var revocation = Assert.Single(applied!.Revocations);
        Assert.Equal(new[] { signed, unsigned }.Order(StringComparer.Ordinal), revocation.Serials.Order(StringComparer.Ordinal));
        Assert.Equal((ProfileRules.CessationOfOperation, at), (revocation.Reason, revocation.At));
        var crl = await new SqlCertificateStore(Db).ListRevokedAsync(1);
        Assert.Equal(new[] { signed, unsigned }.Order(StringComparer.Ordinal), crl.Select(r => r.SerialHex).Order(StringComparer.Ordinal));
        Assert.All(crl, r => Assert.Equal((at, ProfileRules.CessationOfOperation), (r.RevokedAt, r.Reason)));
        Assert.Equal(ProfileStatus.Retired, (await new SqlProfileStore(Db).FindAsync(profile))!.Status);
    }

    [SkippableFact]
    public async Task Effects_SignedAfterUndo_StoredButStaysRevoked()
    {
        var (request, profile, _, unsigned) = await ExecutingAsync();
        await TryApplyAllAsync((new RequestTransition(request.Uuid, 2, RequestStatus.Executing, RequestStatus.Canceled, Samples.Now),
            ExecutionEffects.For(RequestStatus.Executing, RequestStatus.Canceled, profile, null, Samples.Now)));

        // The CA finishes signing after the request was cancelled: recorded, not issued.
        Assert.False(await Transactions.RunAsync((uow, c) => uow.Certificates.RecordIssuedAsync(Issued(unsigned), c)));
        Assert.Equal(CertificateStatus.Revoked, Assert.Single(await new SqlProfileStore(Db).CertificatesOfProfileAsync(profile), c => c.SerialHex == unsigned).Status);
        Assert.Contains(await new SqlCertificateStore(Db).ListRevokedAsync(1), r => r.SerialHex == unsigned);
    }

    [SkippableTheory]
    [InlineData(RequestType.Revoke, ProfileRules.CertificateHold, ProfileStatus.Suspended)]
    [InlineData(RequestType.Revoke, 1, ProfileStatus.Disabled)]
    [InlineData(RequestType.Retire, ProfileRules.CessationOfOperation, ProfileStatus.Retired)]
    [InlineData(RequestType.Renew, ProfileRules.Superseded, ProfileStatus.Retired)]
    public async Task Effects_ChangeProfile_MovesProfileAndRevokesItsCertificates(RequestType type, int reason, ProfileStatus to)
    {
        var (_, oldProfile, signed, _) = await ExecutingAsync(ProfileStatus.Active);
        var request = Samples.Request() with { RequestType = type, OldProfileUuid = oldProfile };
        await CreateAsync(request, [], Samples.Audit(request.Uuid));
        var change = ProfileRules.OnCompletion(type, oldProfile, ProfileStatus.Active, reason)!;
        Assert.True(await TryApplyAllAsync(
            (new RequestTransition(request.Uuid, 1, RequestStatus.Approved, RequestStatus.Executing), []),
            (new RequestTransition(request.Uuid, 2, RequestStatus.Executing, RequestStatus.Completed, Samples.Now),
                ExecutionEffects.For(RequestStatus.Executing, RequestStatus.Completed, Guid.Empty, change, Samples.Now))));
        Assert.Equal(to, (await new SqlProfileStore(Db).FindAsync(oldProfile))!.Status);
        Assert.Contains(await new SqlCertificateStore(Db).ListRevokedAsync(1), r => r.SerialHex == signed && r.Reason == reason);
    }

    [SkippableFact]
    public async Task Effects_ReinstateAfterHold_CertificatesCurrentAndOffTheCrl()
    {
        var (_, profile, signed, _) = await ExecutingAsync(ProfileStatus.Active);
        await Transactions.RunAsync((uow, c) => uow.Certificates.RevokeAllAsync(profile, ProfileRules.CertificateHold, Samples.Now, c));
        Assert.True(await Transactions.RunAsync((uow, c) => uow.Profiles.TryMoveAsync(profile, ProfileStatus.Active, ProfileStatus.Suspended, c)));
        var reinstate = Samples.Request() with { RequestType = RequestType.Reinstate, OldProfileUuid = profile };
        await CreateAsync(reinstate, [], Samples.Audit(reinstate.Uuid));
        Assert.True(await TryApplyAllAsync(
            (new RequestTransition(reinstate.Uuid, 1, RequestStatus.Approved, RequestStatus.Executing), []),
            (new RequestTransition(reinstate.Uuid, 2, RequestStatus.Executing, RequestStatus.Completed, Samples.Now),
                ExecutionEffects.For(RequestStatus.Executing, RequestStatus.Completed, Guid.Empty, ProfileRules.OnCompletion(RequestType.Reinstate, profile, ProfileStatus.Suspended), Samples.Now))));
        Assert.Equal(ProfileStatus.Active, (await new SqlProfileStore(Db).FindAsync(profile))!.Status);
        Assert.Equal(CertificateStatus.Current, Assert.Single(await new SqlProfileStore(Db).CertificatesOfProfileAsync(profile)).Status);
        Assert.Empty(await new SqlCertificateStore(Db).ListRevokedAsync(1));
    }

    [SkippableFact]
    public async Task Certificates_FindStatus_NeverIssuedNullRecordedByStatusRevokedWithTimeAndReason()
    {
        // The OCSP responder's read: null is "unknown", the rest is what the CRL would say of the serial.
        var (_, profile, signed, unsigned) = await ExecutingAsync(ProfileStatus.Active);
        var store = new SqlCertificateStore(Db);
        Assert.Null(await store.FindStatusAsync(Serial()));
        Assert.Equal(new SerialStatus(CertificateStatus.Reserved, null, 0), await store.FindStatusAsync(unsigned));
        Assert.Equal(new SerialStatus(CertificateStatus.Issued, null, 0), await store.FindStatusAsync(signed));

        var at = Samples.Now.AddHours(2);
        await Transactions.RunAsync((uow, c) => uow.Certificates.RevokeAllAsync(profile, ProfileRules.CertificateHold, at, c));
        Assert.Equal(new SerialStatus(CertificateStatus.Revoked, at, ProfileRules.CertificateHold), await store.FindStatusAsync(signed));
        Assert.Equal(at, (await store.FindStatusAsync(unsigned))!.RevokedAt);
    }

    // Issue #23.13: the help desk finds a certificate by its serial, in any case; a serial only
    // reserved (not signed yet) or never recorded finds nothing.
    [SkippableFact]
    public async Task Certificates_BySerial_SignedFoundInAnyCaseReservedOrUnknownNull()
    {
        var (_, profile, signed, unsigned) = await ExecutingAsync(ProfileStatus.Active);
        var store = new SqlProfileStore(Db);
        var found = await store.CertificateBySerialAsync(signed.ToLowerInvariant());
        Assert.Equal((signed, profile), (found?.SerialHex, found?.ProfileUuid));
        Assert.Null(await store.CertificateBySerialAsync(unsigned));
        Assert.Null(await store.CertificateBySerialAsync(Serial()));
    }

    [SkippableFact]
    public async Task Profiles_TryMoveFromWrongStatus_FalseAndUnchanged()
    {
        var (_, profile, _, _) = await ExecutingAsync();
        Assert.False(await Transactions.RunAsync((uow, c) => uow.Profiles.TryMoveAsync(profile, ProfileStatus.Active, ProfileStatus.Retired, c)));
        Assert.Equal(ProfileStatus.New, (await new SqlProfileStore(Db).FindAsync(profile))!.Status);
    }

    private static StoredSmartcard Card(string cardId, SmartcardStatus status = SmartcardStatus.Assigned) =>
        new(Guid.NewGuid(), cardId, "3B00", status, Guid.NewGuid(), Guid.NewGuid(), 1, Guid.NewGuid(), Guid.Empty, Guid.Empty, Samples.Now, Guid.NewGuid());

    [SkippableFact]
    public async Task Directory_PasswordHash_SetForUsersOnlyReadBackAndAudited()
    {
        var directory = new SqlDirectory(Db);
        var who = new AuditContext(Guid.NewGuid(), "corr-pw");
        var user = await Administration.AddUserAsync(who, "pat", ["Readers"]);
        Assert.Null(await directory.PasswordHashAsync(user.Uuid));
        Assert.True(await Administration.SetPasswordHashAsync(who, user.Uuid, "AQAAAAIAAYagAAAAE-hash"));
        Assert.Equal("AQAAAAIAAYagAAAAE-hash", await directory.PasswordHashAsync(user.Uuid));

        // A group has no password; an unknown id neither.
        var group = (await directory.GroupsOfAsync(user.Uuid)).Single();
        Assert.False(await Administration.SetPasswordHashAsync(who, group.Uuid, "x"));
        Assert.False(await Administration.SetPasswordHashAsync(who, Guid.NewGuid(), "x"));
        Assert.Null(await directory.PasswordHashAsync(group.Uuid));

        var audit = await new SqlAuditLog(Db).ForSubjectAsync(user.Uuid);
        Assert.Contains(audit, a => a.Event.Kind == "PasswordSet" && a.Event.Actor == who.Actor && a.Event.CorrelationId == "corr-pw" && !a.Event.Detail.Contains("hash", StringComparison.Ordinal));
    }

    [SkippableFact]
    public async Task Cards_LastByCardId_NewestRecordRetiredOrNotByKeyGeneration()
    {
        // Issue #18.7: who held a physical card last, and the generation its next binding follows.
        var store = new SqlSmartcardStore(Db);
        Assert.Null(await store.LastByCardIdAsync("card-history"));
        var first = Card("card-history") with { KeyGeneration = 1 };
        Assert.True(await Transactions.RunAsync((uow, c) => uow.Cards.TryInsertAsync(first, c)));
        Assert.True(await Transactions.RunAsync((uow, c) => uow.Cards.TryMoveAsync(first.Uuid, SmartcardStatus.Assigned, SmartcardStatus.Retired, null, c)));
        Assert.Equal(first with { Status = SmartcardStatus.Retired }, await store.LastByCardIdAsync("card-history"));

        var second = Card("card-history") with { KeyGeneration = 2, Created = Samples.Now.AddDays(-1) };
        Assert.True(await Transactions.RunAsync((uow, c) => uow.Cards.TryInsertAsync(second, c)));
        Assert.Equal(second, await store.LastByCardIdAsync("card-history"));
        Assert.Null(await store.LastByCardIdAsync("card-other"));
    }

    [SkippableFact]
    public async Task Cards_TryRebind_OnlyAFreeCardTakesTheNewBindingWhole()
    {
        var card = Card("card-rebind", SmartcardStatus.New);
        await Transactions.RunAsync((uow, c) => uow.Cards.TryInsertAsync(card, c));
        var rebound = card with
        {
            KeyGeneration = 2, Status = SmartcardStatus.Assigned, Atr = "3B8D", UserUuid = Guid.NewGuid(), TemplateUuid = Guid.NewGuid(), TemplateVersion = 7,
            RequestUuid = Guid.NewGuid(), ParentUuid = Guid.NewGuid(), PermanentUuid = Guid.NewGuid(), PrimaryUuid = Guid.NewGuid(),
        };
        Assert.True(await Transactions.RunAsync((uow, c) => uow.Cards.TryRebindAsync(rebound, c)));
        Assert.Equal(rebound, await new SqlSmartcardStore(Db).FindAsync(card.Uuid));

        // Bound now: a second binder loses.
        Assert.False(await Transactions.RunAsync((uow, c) => uow.Cards.TryRebindAsync(rebound with { UserUuid = Guid.NewGuid() }, c)));
        Assert.Equal(rebound.UserUuid, (await new SqlSmartcardStore(Db).FindAsync(card.Uuid))!.UserUuid);
    }

    [SkippableFact]
    public async Task Cards_ProfileIssuedOntoACard_FoundByTheCardSoftwareProfilesNot()
    {
        var card = Card("card-profiles");
        await Transactions.RunAsync((uow, c) => uow.Cards.TryInsertAsync(card, c));
        var onCard = new StoredProfile(Guid.NewGuid(), card.TemplateUuid, 1, card.UserUuid, Guid.Empty, ProfileStatus.New, card.RequestUuid, Samples.Now, card.Uuid);
        var software = onCard with { Uuid = Guid.NewGuid(), SmartcardUuid = Guid.Empty };
        await Transactions.RunAsync(async (uow, c) =>
        {
            await uow.Profiles.InsertAsync(onCard, c);
            await uow.Profiles.InsertAsync(software, c);
            return 0;
        });
        var store = new SqlProfileStore(Db);
        Assert.Equal(onCard, Assert.Single(await store.ForSmartcardAsync(card.Uuid)));
        Assert.Equal(software, await store.FindAsync(software.Uuid));
        Assert.Equal(card.PrimaryUuid, (await new SqlSmartcardStore(Db).FindAsync(card.Uuid))!.PrimaryUuid);
    }

    [SkippableFact]
    public async Task Cards_InsertAndFind_RoundTripAndOneUnretiredRecordPerCardId()
    {
        var card = Card("bc88f13f-83ba-4037-8262-46eba1291c6e");
        Assert.True(await Transactions.RunAsync((uow, c) => uow.Cards.TryInsertAsync(card, c)));
        Assert.Equal(card, await new SqlSmartcardStore(Db).FindAsync(card.Uuid));
        Assert.Equal(card, await new SqlSmartcardStore(Db).FindByCardIdAsync(card.CardId));

        // The same physical card again: refused while the first record is not retired, then allowed.
        Assert.False(await Transactions.RunAsync((uow, c) => uow.Cards.TryInsertAsync(Card(card.CardId), c)));
        Assert.True(await Transactions.RunAsync((uow, c) => uow.Cards.TryMoveAsync(card.Uuid, SmartcardStatus.Assigned, SmartcardStatus.Retired, null, c)));
        Assert.Null(await new SqlSmartcardStore(Db).FindByCardIdAsync(card.CardId));
        Assert.True(await Transactions.RunAsync((uow, c) => uow.Cards.TryInsertAsync(Card(card.CardId), c)));
    }

    [SkippableFact]
    public async Task Cards_TryMoveFromWrongStatus_FalseAndRebindSetsTheRequest()
    {
        var card = Card("card-1", SmartcardStatus.New);
        await Transactions.RunAsync((uow, c) => uow.Cards.TryInsertAsync(card, c));
        Assert.False(await Transactions.RunAsync((uow, c) => uow.Cards.TryMoveAsync(card.Uuid, SmartcardStatus.Active, SmartcardStatus.Retired, null, c)));
        var request = Guid.NewGuid();
        Assert.True(await Transactions.RunAsync((uow, c) => uow.Cards.TryMoveAsync(card.Uuid, SmartcardStatus.New, SmartcardStatus.Assigned, request, c)));
        var found = await new SqlSmartcardStore(Db).FindAsync(card.Uuid);
        Assert.Equal((SmartcardStatus.Assigned, request), (found!.Status, found.RequestUuid));
    }

    // Issue #18.6: sessions end on the server; a password change ends all of the user's, and
    // starting one forgets those past any lifetime.
    [SkippableFact]
    public async Task PortalSessions_StartFindEndAndEndAll_OnlyLiveSessionsFound()
    {
        var sessions = new SqlPortalSessions(Db);
        var (alice, bob) = (Guid.NewGuid(), Guid.NewGuid());
        await sessions.StartAsync("old", alice, Samples.Now.AddDays(-2), Samples.Now.AddDays(-3));
        await sessions.StartAsync("a1", alice, Samples.Now, Samples.Now.AddDays(-1));
        await sessions.StartAsync("a2", alice, Samples.Now, Samples.Now.AddDays(-1));
        await sessions.StartAsync("b1", bob, Samples.Now, Samples.Now.AddDays(-1));

        Assert.Null(await sessions.FindAsync("old"));
        Assert.Equal(new PortalSession(alice, Samples.Now), await sessions.FindAsync("a1"));

        await sessions.EndAsync("a1");
        Assert.Null(await sessions.FindAsync("a1"));
        Assert.NotNull(await sessions.FindAsync("a2"));

        await sessions.EndAllAsync(alice);
        Assert.Null(await sessions.FindAsync("a2"));
        Assert.Equal(new PortalSession(bob, Samples.Now), await sessions.FindAsync("b1"));
    }

    // --- The audit chain against truncation and rewriting (issue #18, decision 0010) ---------------

    // Sixty audited writes in one unit: the keyed checkpoint at 1, then events 2-61.
    private async Task<IReadOnlyList<ChainedAuditEvent>> SixtyEventsAsync()
    {
        await Transactions.RunAsync(async (uow, c) =>
        {
            for (var i = 0; i < 60; i++)
            {
                await uow.Audit.AppendAsync(Samples.Audit(Guid.NewGuid(), "Test" + i.ToString(System.Globalization.CultureInfo.InvariantCulture)), c);
            }

            return 0;
        });
        var events = new List<ChainedAuditEvent>();
        await foreach (var e in new SqlAuditLog(Db).ReadAllAsync())
        {
            events.Add(e);
        }

        return events;
    }

    private Task<AuditVerification> VerifyAsync() => AuditChain.VerifyAsync(new SqlAuditLog(Db), Samples.AuditKey);

    [SkippableFact]
    public async Task AuditVerify_Untouched_IntactKeyedFromTheCheckpointAndAtTheHead()
    {
        var events = await SixtyEventsAsync();
        var result = await VerifyAsync();
        Assert.Equal((true, 61L, (long?)1), (result.IsIntact, result.Count, result.KeyedFrom));
        Assert.Equal(AuditChain.CheckpointKind, events[0].Event.Kind);
        Assert.Equal(new AuditHead(61, events[^1].Hash, 1), await new SqlAuditLog(Db).ReadHeadAsync());
    }

    [SkippableTheory]
    [InlineData("the last event", "DELETE FROM audit_events WHERE seq = 61", 61L)]
    [InlineData("the last 50", "DELETE FROM audit_events WHERE seq > 11", 12L)]
    [InlineData("all of them", "DELETE FROM audit_events", 1L)]
    [InlineData("head hash 00", "UPDATE audit_head SET hash = '00'", 61L)]
    [InlineData("head one back", "UPDATE audit_head SET seq = 60", 60L)]
    [InlineData("keyed-from cleared", "UPDATE audit_head SET keyed_from = NULL", 1L)]
    [InlineData("head row gone", "DELETE FROM audit_head", 1L)]
    public async Task AuditVerify_TruncatedOrHeadChanged_NotIntact(string what, string sql, long firstBad)
    {
        await SixtyEventsAsync();
        await TamperAsync(sql);
        var result = await VerifyAsync();
        Assert.False(result.IsIntact, what);
        Assert.Equal(firstBad, result.FirstBad);
    }

    [SkippableFact]
    public async Task AuditVerify_EmptyTableUnderANonZeroHead_NotIntact()
    {
        await SixtyEventsAsync();
        await TamperAsync("DELETE FROM audit_events");
        var result = await VerifyAsync();
        Assert.Equal((false, 0L), (result.IsIntact, result.Count));
        Assert.Contains("the head names event 61", result.Reason, StringComparison.Ordinal);
    }

    [SkippableTheory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task AuditVerify_EventChangedAndEveryHashRecomputedWithoutTheKey_NotIntact(bool dropTheCheckpoint)
    {
        // Whoever can write the database changes event 30, (optionally) removes the checkpoint and
        // renumbers, recomputes every link with the canonical text as the unkeyed chain did, and
        // resets the head: without the master key the keyed links cannot be recomputed.
        var events = (await SixtyEventsAsync()).ToList();
        events[29] = events[29] with { Event = events[29].Event with { Detail = "forged" } };
        if (dropTheCheckpoint)
        {
            events.RemoveAt(0);
        }

        var statements = new List<string> { "DELETE FROM audit_events" };
        var previous = AuditChain.Genesis;
        for (var i = 0; i < events.Count; i++)
        {
            var seq = i + 1L;
            var hash = AuditChain.Hash(seq, previous, events[i].Event);
            var e = events[i].Event;
            statements.Add(
                "INSERT INTO audit_events (seq, kind, subject, actor, old_status, new_status, time, correlation, client_correlation, detail, prev_hash, hash) VALUES " +
                $"({seq}, '{e.Kind}', '{e.SubjectId:D}', '{e.Actor:D}', {(int)e.OldStatus}, {(int)e.NewStatus}, {e.Time.UtcTicks}, '{e.ServerCorrelationId}', '{e.ClientCorrelationId}', '{e.Detail}', '{previous}', '{hash}')");
            previous = hash;
        }

        statements.Add($"UPDATE audit_head SET seq = {events.Count}, hash = '{previous}'{(dropTheCheckpoint ? ", keyed_from = NULL" : "")}");
        await TamperAsync(string.Join(";\n", statements));

        var result = await VerifyAsync();
        Assert.False(result.IsIntact);
        Assert.Equal(1L, result.FirstBad);
    }

    [SkippableFact]
    public async Task AuditVerify_WrongMasterKey_NotIntact()
    {
        await SixtyEventsAsync();
        var other = AuditChainKey.Derive(Enumerable.Repeat((byte)7, 32).ToArray());
        var result = await AuditChain.VerifyAsync(new SqlAuditLog(Db), other);
        Assert.Equal((false, 1L), (result.IsIntact, result.FirstBad));
    }

    [SkippableFact]
    public async Task AuditChain_UnkeyedChainFromBeforeTheUpgrade_CheckpointedAtStartThenVerifiedBothWays()
    {
        // A chain as releases before decision 0010 wrote it: unkeyed links, no checkpoint.
        var previous = AuditChain.Genesis;
        var statements = new List<string>();
        for (var seq = 1L; seq <= 3; seq++)
        {
            var e = Samples.Audit(Guid.NewGuid(), "Old");
            var hash = AuditChain.Hash(seq, previous, e);
            statements.Add(
                "INSERT INTO audit_events (seq, kind, subject, actor, old_status, new_status, time, correlation, detail, prev_hash, hash) VALUES " +
                $"({seq}, '{e.Kind}', '{e.SubjectId:D}', '{e.Actor:D}', 0, 0, {e.Time.UtcTicks}, '{e.CorrelationId}', '{e.Detail}', '{previous}', '{hash}')");
            previous = hash;
        }

        statements.Add($"UPDATE audit_head SET seq = 3, hash = '{previous}', keyed_from = NULL");
        await TamperAsync(string.Join(";\n", statements));
        Assert.Contains("no keyed checkpoint", (await VerifyAsync()).Reason, StringComparison.Ordinal);

        // The first start after the upgrade: the checkpoint, stated in the audit itself, naming the unkeyed head.
        Assert.Equal(0, await new SqlStorageSchema(Db, "test", Samples.Clock()).MigrateAsync()); // migrating alone does not key
        Assert.Contains("no keyed checkpoint", (await VerifyAsync()).Reason, StringComparison.Ordinal);
        Assert.True(await new SqlStorageSchema(Db, "test", Samples.Clock()).KeyAuditChainAsync());
        Assert.False(await new SqlStorageSchema(Db, "test", Samples.Clock()).KeyAuditChainAsync());
        await CreateAsync(Samples.Request(), [], Samples.Audit(Guid.NewGuid()));
        var result = await VerifyAsync();
        Assert.Equal((true, 5L, (long?)4), (result.IsIntact, result.Count, result.KeyedFrom));
        var checkpoint = await new SqlAuditLog(Db).ReadAllAsync().SingleAsync(e => e.Event.Kind == AuditChain.CheckpointKind);
        Assert.Equal((4L, previous), (checkpoint.Sequence, checkpoint.PreviousHash));
        Assert.Contains($"keyed from seq 4 on (HMAC-SHA256, opencm/audit-chain/v1); unkeyed head seq 3 hash {previous}", checkpoint.Event.Detail, StringComparison.Ordinal);

        // The unkeyed prefix rewritten after the checkpoint: its new head no longer matches what the keyed checkpoint names.
        var forged = Samples.Audit(Guid.NewGuid(), "Forged");
        var prefix = await new SqlAuditLog(Db).ReadAllAsync().Where(e => e.Sequence < 3).ToListAsync();
        var newHash = AuditChain.Hash(3, prefix[^1].Hash, forged);
        await TamperAsync($"UPDATE audit_events SET kind = 'Forged', subject = '{forged.SubjectId:D}', hash = '{newHash}' WHERE seq = 3");
        Assert.Equal((false, 4L), ((await VerifyAsync()).IsIntact, (await VerifyAsync()).FirstBad));
    }

    [SkippableFact]
    public async Task Audit_ClientCorrelationId_StoredBesideTheServersAndCoveredByTheLink()
    {
        var subject = Guid.NewGuid();
        await Transactions.RunAsync(async (uow, c) =>
        {
            await uow.Audit.AppendAsync(Samples.Audit(subject) with { CorrelationId = CorrelationIds.WithClient("0123abcd", "client-chosen.1") }, c);
            return 0;
        });

        var stored = Assert.Single(await new SqlAuditLog(Db).ForSubjectAsync(subject)).Event;
        Assert.Equal(("0123abcd", "client-chosen.1"), (stored.ServerCorrelationId, stored.ClientCorrelationId));
        var columns = await Db.ReadAsync(async (conn, c) =>
        {
            await using var cmd = conn.CreateCommand();
            cmd.CommandText = $"SELECT correlation, client_correlation FROM audit_events WHERE subject = '{subject:D}'";
            await using var r = await cmd.ExecuteReaderAsync(c);
            await r.ReadAsync(c);
            return (r.GetString(0), r.GetString(1));
        });
        Assert.Equal(("0123abcd", "client-chosen.1"), columns);
        Assert.True((await VerifyAsync()).IsIntact);

        // The client's value moved into the server's column: the keyed link says so.
        await TamperAsync($"UPDATE audit_events SET correlation = 'client-chosen.1', client_correlation = '' WHERE subject = '{subject:D}'");
        Assert.False((await VerifyAsync()).IsIntact);
    }
}
