using System.Net;
using System.Net.Http.Headers;
using Microsoft.Extensions.DependencyInjection;
using OpenCM.Application;

namespace OpenCM.Server.Tests;

public class LifecycleHttpTests : IClassFixture<ServerFixture>
{
    private readonly ServerFixture _server;

    public LifecycleHttpTests(ServerFixture server) => _server = server;

    private async Task<int> StatusChangesAsync(Guid id) =>
        (await _server.Services.GetRequiredService<IAuditLog>().ForSubjectAsync(id)).Count(e => e.Event.Kind == "StatusChanged");

    [Fact]
    public async Task Put_CanceledOnApproved_200WithCompletedTimeAndOneAuditEvent()
    {
        var client = await _server.ClientAsync(await _server.UserAsync("alice"));
        var id = await client.CreateIdAsync(ServerFixture.UserCertificate);
        var response = await client.PutStatusAsync(id, "canceled");
        var json = await response.JsonAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal((17, "2026-11-25T12:00:00Z"), (json.GetProperty("Status").GetInt32(), json.GetProperty("Completed").GetString()));
        Assert.Equal("\"2\"", response.Headers.ETag!.Tag);

        // Setting it again is an idempotent success with no second event.
        var again = await client.PutStatusAsync(id, "Canceled");
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal(17, (await again.JsonAsync()).GetProperty("Status").GetInt32());
        Assert.Equal(1, await StatusChangesAsync(id));
    }

    [Theory]
    [InlineData("client-trace.7", "client-trace.7")]
    [InlineData("a b", "")]
    [InlineData("x client=forged", "")]
    [InlineData("<script>alert(1)</script>", "")]
    [InlineData("'; DROP TABLE audit_events; --", "")]
    [InlineData("0123456789012345678901234567890123456789012345678901234567890123456789", "")]
    public async Task Put_ClientCorrelationId_AuditedBesideTheServersOwnNeverInItsPlace(string given, string kept)
    {
        // Issue #18: the client's X-Correlation-Id was stored as the server's. The server's own id
        // is the correlation id now; a sane client value is kept beside it and echoed as before, a
        // hostile one is dropped (the request still succeeds).
        var client = await _server.ClientAsync(await _server.UserAsync("alice"));
        var id = await client.CreateIdAsync(ServerFixture.UserCertificate);
        using var put = new HttpRequestMessage(HttpMethod.Put, $"{ServerFixture.Api}/requests/{id}") { Content = Http.Json("""{"status":"Canceled"}""") };
        Assert.True(put.Headers.TryAddWithoutValidation("X-Correlation-Id", given));
        var response = await client.SendAsync(put);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var audited = (await _server.Services.GetRequiredService<IAuditLog>().ForSubjectAsync(id)).Single(e => e.Event.Kind == "StatusChanged").Event;
        Assert.Matches("^[0-9a-f]{32}$", audited.ServerCorrelationId);
        Assert.Equal(kept, audited.ClientCorrelationId);
        Assert.Equal(kept.Length > 0 ? kept : audited.ServerCorrelationId, response.Headers.GetValues("X-Correlation-Id").Single());
        Assert.True((await AuditChain.VerifyAsync(_server.Services.GetRequiredService<IAuditLog>(), _server.Services.GetRequiredService<AuditChainKey>())).IsIntact);
    }

    [Theory]
    [InlineData("Completed")]
    [InlineData("8")]
    public async Task Put_CompletedOnApproved_409WithCurrentStatus(string status)
    {
        var client = await _server.ClientAsync(await _server.UserAsync("alice"));
        var id = await client.CreateIdAsync(ServerFixture.UserCertificate);
        var response = await client.PutStatusAsync(id, status);
        var json = await response.JsonAsync();
        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        Assert.Equal(("InvalidStatusTransition", 3), (json.GetProperty("errorCode").GetString(), json.GetProperty("currentStatus").GetInt32()));
        Assert.Equal(0, await StatusChangesAsync(id));
    }

    [Theory]
    [InlineData("Approved")]
    [InlineData("Bogus")]
    [InlineData("42")]
    public async Task Put_StatusNotSettable_400(string status)
    {
        var client = await _server.ClientAsync(await _server.UserAsync("alice"));
        var id = await client.CreateIdAsync(ServerFixture.UserCertificate);
        var response = await client.PutStatusAsync(id, status);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("status", (await response.JsonAsync()).GetProperty("field").GetString());
    }

    [Fact]
    public async Task Put_AbandonThenCancel_TerminalStaysPut()
    {
        var client = await _server.ClientAsync(await _server.UserAsync("alice"));
        var id = await client.CreateIdAsync(ServerFixture.UserCertificate);
        Assert.Equal(HttpStatusCode.OK, (await client.PutStatusAsync(id, "Abandoned")).StatusCode);
        var cancel = await client.PutStatusAsync(id, "Canceled");
        Assert.Equal(HttpStatusCode.Conflict, cancel.StatusCode);
        Assert.Equal(19, (await cancel.JsonAsync()).GetProperty("currentStatus").GetInt32());
    }

    [Fact]
    public async Task Put_IfMatch_StaleVersion412CurrentVersion200()
    {
        var client = await _server.ClientAsync(await _server.UserAsync("alice"));
        var id = await client.CreateIdAsync(ServerFixture.UserCertificate);
        var etag = (await client.GetAsync($"{ServerFixture.Api}/requests/{id}")).Headers.ETag!;

        using var stale = new HttpRequestMessage(HttpMethod.Put, $"{ServerFixture.Api}/requests/{id}") { Content = Http.Json("""{"status":"Canceled"}""") };
        stale.Headers.IfMatch.Add(new EntityTagHeaderValue("\"7\""));
        var staleResponse = await client.SendAsync(stale);
        Assert.Equal(HttpStatusCode.PreconditionFailed, staleResponse.StatusCode);
        Assert.Equal("PreconditionFailed", await staleResponse.ErrorCodeAsync());

        using var fresh = new HttpRequestMessage(HttpMethod.Put, $"{ServerFixture.Api}/requests/{id}") { Content = Http.Json("""{"status":"Canceled"}""") };
        fresh.Headers.IfMatch.Add(etag);
        Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(fresh)).StatusCode);
    }

    [Fact]
    public async Task Put_ThirtyTwoConcurrentCancelOrAbandon_OneTransitionWins()
    {
        var client = await _server.ClientAsync(await _server.UserAsync("alice"));
        var id = await client.CreateIdAsync(ServerFixture.UserCertificate);
        using var start = new SemaphoreSlim(0);
        var racers = Enumerable.Range(0, 32).Select(async i =>
        {
            await start.WaitAsync();
            var response = await client.PutStatusAsync(id, i % 2 == 0 ? "Canceled" : "Abandoned");
            var json = await response.JsonAsync();
            return (response.StatusCode, Status: response.StatusCode == HttpStatusCode.OK ? json.GetProperty("Status").GetInt32() : json.GetProperty("currentStatus").GetInt32());
        }).ToList();
        start.Release(32);
        var results = await Task.WhenAll(racers);

        Assert.All(results, r => Assert.Contains(r.StatusCode, new[] { HttpStatusCode.OK, HttpStatusCode.Conflict }));
        var winners = results.Where(r => r.StatusCode == HttpStatusCode.OK).Select(r => r.Status).Distinct().ToList();
        Assert.Single(winners);
        Assert.All(results.Where(r => r.StatusCode == HttpStatusCode.Conflict), r => Assert.Equal(winners[0], r.Status));
        Assert.Equal(1, await StatusChangesAsync(id));
        Assert.True((await AuditChain.VerifyAsync(_server.Services.GetRequiredService<IAuditLog>(), _server.Services.GetRequiredService<AuditChainKey>())).IsIntact);
    }

    [Fact]
    public async Task Approvals_TwoDistinctApprovers_MoveToApprovedEachCountingOnce()
    {
        var alice = await _server.ClientAsync(await _server.UserAsync("alice"));
        var id = await alice.CreateIdAsync(ServerFixture.ApprovedUserCertificate, """[{"Request Reason":"VPN"}]""");
        Assert.Equal(16, (await (await alice.GetAsync($"{ServerFixture.Api}/requests/{id}")).JsonAsync()).GetProperty("Status").GetInt32());

        var first = await _server.ClientAsync(await _server.UserAsync("appr1", "CM Approvers"));
        var second = await _server.ClientAsync(await _server.UserAsync("appr2", "CM Approvers"));
        Assert.Equal(16, (await (await first.VoteAsync(id, "Approve")).JsonAsync()).GetProperty("Status").GetInt32());
        Assert.Equal(16, (await (await first.VoteAsync(id, "approve")).JsonAsync()).GetProperty("Status").GetInt32());
        var approved = await second.VoteAsync(id, "Approve");
        Assert.Equal(HttpStatusCode.OK, approved.StatusCode);
        Assert.Equal(3, (await approved.JsonAsync()).GetProperty("Status").GetInt32());

        // Approving an Approved request that this approver never voted on is a state conflict.
        var third = await _server.ClientAsync(await _server.UserAsync("appr3", "CM Approvers"));
        Assert.Equal(HttpStatusCode.Conflict, (await third.VoteAsync(id, "Approve")).StatusCode);
        Assert.Equal(1, await StatusChangesAsync(id));
    }

    [Fact]
    public async Task Approvals_OneDeny_Denied()
    {
        var alice = await _server.ClientAsync(await _server.UserAsync("alice"));
        var id = await alice.CreateIdAsync(ServerFixture.ApprovedUserCertificate, """[{"Request Reason":"VPN"}]""");
        var approver = await _server.ClientAsync(await _server.UserAsync("appr", "CM Approvers"));
        var json = await (await approver.VoteAsync(id, "Deny")).JsonAsync();
        Assert.Equal((4, "2026-11-25T12:00:00Z"), (json.GetProperty("Status").GetInt32(), json.GetProperty("Completed").GetString()));
    }

    [Fact]
    public async Task Approvals_Originator_ForbiddenAndStrangerNotFound()
    {
        var alice = await _server.ClientAsync(await _server.UserAsync("alice"));
        var id = await alice.CreateIdAsync(ServerFixture.ApprovedUserCertificate, """[{"Request Reason":"VPN"}]""");
        var own = await alice.VoteAsync(id, "Approve");
        Assert.Equal(HttpStatusCode.Forbidden, own.StatusCode);
        Assert.Equal("Forbidden", await own.ErrorCodeAsync());
        var stranger = await _server.ClientAsync(await _server.UserAsync("eve"));
        Assert.Equal(HttpStatusCode.NotFound, (await stranger.VoteAsync(id, "Approve")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await alice.VoteAsync(id, "Maybe")).StatusCode);
    }

    [Fact]
    public async Task Approvals_ApproverWhoIsTheTarget_ForbiddenAndAnApproverVotesOnce()
    {
        // The attack of issue #7.4: a manager asks for bob, and bob, an approver, approves his own credential.
        var bob = await _server.UserAsync("bob", "CM Approvers");
        var admin = await _server.AdminAsync();
        var id = await admin.CreateIdAsync(ServerFixture.ApprovedUserCertificate, """[{"Request Reason":"VPN"}]""", $$""","target":"{{bob.Uuid}}" """);
        var self = await (await _server.ClientAsync(bob)).VoteAsync(id, "Approve");
        Assert.Equal((HttpStatusCode.Forbidden, "Forbidden"), (self.StatusCode, await self.ErrorCodeAsync()));

        // An approver who approved cannot deny afterwards: one vote each.
        var carol = await _server.ClientAsync(await _server.UserAsync("carol", "CM Approvers"));
        Assert.Equal(HttpStatusCode.OK, (await carol.VoteAsync(id, "Approve")).StatusCode);
        var flip = await carol.VoteAsync(id, "Deny");
        Assert.Equal((HttpStatusCode.Conflict, "Conflict"), (flip.StatusCode, await flip.ErrorCodeAsync()));
        Assert.Equal(16, (await (await admin.GetAsync($"{ServerFixture.Api}/requests/{id}")).JsonAsync()).GetProperty("Status").GetInt32());
    }

    [Fact]
    public async Task Approvals_ApproverWhoIsTheOriginator_Forbidden()
    {
        var both = await _server.ClientAsync(await _server.UserAsync("dual", "CM Approvers"));
        var id = await both.CreateIdAsync(ServerFixture.ApprovedUserCertificate, """[{"Request Reason":"VPN"}]""");
        var own = await both.VoteAsync(id, "Approve");
        Assert.Equal(HttpStatusCode.Forbidden, own.StatusCode);
        Assert.Contains("originator", (await own.JsonAsync()).GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cancel_PendingRequest_Allowed()
    {
        var alice = await _server.ClientAsync(await _server.UserAsync("alice"));
        var id = await alice.CreateIdAsync(ServerFixture.ApprovedUserCertificate, """[{"Request Reason":"VPN"}]""");
        Assert.Equal(HttpStatusCode.OK, (await alice.PutStatusAsync(id, "Canceled")).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await alice.PutStatusAsync(id, "Abandoned")).StatusCode);
    }

    [Fact]
    public async Task List_OwnRequestsOnly_PagedWithNextLink()
    {
        var alice = await _server.ClientAsync(await _server.UserAsync("alice"));
        var bob = await _server.ClientAsync(await _server.UserAsync("bob"));
        var ids = new List<Guid>();
        for (var i = 0; i < 5; i++)
        {
            ids.Add(await alice.CreateIdAsync(ServerFixture.UserCertificate));
        }

        await bob.CreateIdAsync(ServerFixture.UserCertificate);
        await alice.PutStatusAsync(ids[1], "Canceled");

        var seen = new List<Guid>();
        var url = $"{ServerFixture.Api}/requests?top=2";
        var pages = 0;
        while (url is not null)
        {
            var response = await alice.GetAsync(url);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            seen.AddRange((await response.JsonAsync()).EnumerateArray().Select(e => Guid.Parse(e.GetProperty("Uuid").GetString()!)));
            url = response.Headers.TryGetValues("Link", out var link) ? link.Single().Split('<', '>')[1] : null;
            pages++;
        }

        Assert.Equal(ids, seen);
        Assert.Equal(3, pages);

        var canceled = await (await alice.GetAsync($"{ServerFixture.Api}/requests?status=Canceled&targetuser=current")).JsonAsync();
        Assert.Equal([ids[1]], canceled.EnumerateArray().Select(e => Guid.Parse(e.GetProperty("Uuid").GetString()!)));
    }

    [Theory]
    [InlineData("top=0", "top")]
    [InlineData("top=1001", "top")]
    [InlineData("top=x", "top")]
    [InlineData("skiptoken=garbage", "skiptoken")]
    [InlineData("status=Sleeping", "status")]
    [InlineData("targetuser=bob", "targetuser")]
    public async Task List_BadQuery_400NamingParameter(string query, string field)
    {
        var alice = await _server.ClientAsync(await _server.UserAsync("alice"));
        var response = await alice.GetAsync($"{ServerFixture.Api}/requests?{query}");
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(field, (await response.JsonAsync()).GetProperty("field").GetString());
    }

    [Fact]
    public async Task List_Manager_SeesEveryonesRequests()
    {
        var alice = await _server.ClientAsync(await _server.UserAsync("alice"));
        var id = await alice.CreateIdAsync(ServerFixture.UserCertificate);
        var admin = await _server.AdminAsync();
        var all = new List<Guid>();
        string? url = $"{ServerFixture.Api}/requests";
        while (url is not null)
        {
            var response = await admin.GetAsync(url);
            all.AddRange((await response.JsonAsync()).EnumerateArray().Select(e => Guid.Parse(e.GetProperty("Uuid").GetString()!)));
            url = response.Headers.TryGetValues("Link", out var link) ? link.Single().Split('<', '>')[1] : null;
        }

        Assert.Contains(id, all);
    }
}
