using System.Net;
using Microsoft.Extensions.DependencyInjection;
using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.Security.Sddl;
using OpenCM.TestKit;

namespace OpenCM.Server.Tests;

/// <summary>
/// The server with Active Directory as its directory (issue #19, <c>Directory:Source=ldap</c>),
/// against a real domain controller (Samba AD DC): users are AD users (objectGUID, objectSid),
/// approvers an AD group (nested groups count), rights follow AD within the cache time, and the
/// directory down is a 503 that OpenCM recovers from by itself.
/// </summary>
public sealed class ActiveDirectoryServerFixture : ServerFixture, IAsyncLifetime
{
    public SambaDomainController? Dc { get; private set; }

    protected override IReadOnlyDictionary<string, string> Settings => Dc is null ? new Dictionary<string, string>() : new Dictionary<string, string>
    {
        ["Directory:Source"] = "ldap",
        ["Directory:Ldap:Url"] = SambaDomainController.Url,
        ["Directory:Ldap:BaseDn"] = SambaDomainController.BaseDn,
        ["Directory:Ldap:BindDn"] = SambaDomainController.AdminDn,
        ["Directory:Ldap:BindPassword"] = SambaDomainController.AdminPassword,
        ["Directory:Ldap:CaFile"] = Dc.CaFile,
        ["Directory:Ldap:CacheSeconds"] = "30",
    };

    /// <summary>The groups the sample templates name exist in the domain before the server's first start.</summary>
    public async Task InitializeAsync()
    {
        Dc = await SambaDomainController.AcquireAsync();
        if (Dc is not null)
        {
            Managers = await Dc.EnsureGroupAsync("CM Managers");
            Approvers = await Dc.EnsureGroupAsync("CM Approvers");
        }
    }

    public DomainPrincipal? Managers { get; private set; }

    public DomainPrincipal? Approvers { get; private set; }

    async Task IAsyncLifetime.DisposeAsync()
    {
        if (Dc is not null)
        {
            await Dc.ReleaseAsync();
        }
    }

    /// <summary>A bearer token of this server's for an AD user, as <c>opencm token --user</c> mints one.</summary>
    public Task<HttpClient> ClientAsync(DomainPrincipal user) =>
        ClientAsync(new Principal(user.Uuid, user.Name, Sid.Parse(user.Sid), PrincipalKind.User));
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ActiveDirectoryCollection
{
    public const string Name = "Active Directory";
}

[Collection(ActiveDirectoryCollection.Name)]
public sealed class ActiveDirectoryTests : IClassFixture<ActiveDirectoryServerFixture>
{
    private readonly ActiveDirectoryServerFixture _server;

    public ActiveDirectoryTests(ActiveDirectoryServerFixture server) => _server = server;

    private SambaDomainController Dc()
    {
        Prerequisite.SkipIfMissing(_server.Dc is null, SambaDomainController.SkipReason);
        return _server.Dc!;
    }

    [SkippableFact]
    public async Task Me_AdUserToken_ObjectGuidObjectSidAndAdGroups()
    {
        var dc = Dc();
        var alice = await dc.CreateUserAsync(dc.UniqueName("alice"));
        await dc.AddMemberAsync(_server.Approvers!, alice);
        var client = await _server.ClientAsync(alice);

        var me = await (await client.GetAsync($"{ServerFixture.Api}/me")).JsonAsync();
        Assert.Equal(alice.Uuid.ToString("D"), me.GetProperty("Uuid").GetString());
        Assert.Equal(alice.Sid, me.GetProperty("Sid").GetString());
        Assert.Equal(alice.Name, me.GetProperty("Name").GetString());
        Assert.Contains(me.GetProperty("GroupSids").EnumerateArray(), g => g.GetString() == _server.Approvers!.Sid);
    }

    [SkippableFact]
    public async Task TwoApprovals_OneThroughANestedGroup_Approved()
    {
        var dc = Dc();
        var alice = await dc.CreateUserAsync(dc.UniqueName("req"));
        var direct = await dc.CreateUserAsync(dc.UniqueName("appr"));
        var nested = await dc.CreateUserAsync(dc.UniqueName("nest"));
        var team = await dc.CreateGroupAsync(dc.UniqueName("Team"));
        await dc.AddMemberAsync(_server.Approvers!, direct);
        await dc.AddMemberAsync(_server.Approvers!, team);
        await dc.AddMemberAsync(team, nested);

        var id = await (await _server.ClientAsync(alice)).CreateIdAsync(ServerFixture.ApprovedUserCertificate, """[{"Request Reason":"VPN"}]""");
        Assert.Equal(HttpStatusCode.OK, (await (await _server.ClientAsync(direct)).VoteAsync(id, "Approve")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await (await _server.ClientAsync(nested)).VoteAsync(id, "Approve")).StatusCode);
        var request = await (await (await _server.ClientAsync(alice)).GetAsync($"{ServerFixture.Api}/requests/{id}")).JsonAsync();
        Assert.Equal((int)RequestStatus.Approved, request.GetProperty("Status").GetInt32());
    }

    // Rights follow AD within the cache time: a membership removed there, or the account disabled.
    [SkippableFact]
    public async Task RemovedFromGroupOrDisabledInAd_LosesTheRightsWithTheSameToken()
    {
        var dc = Dc();
        var alice = await dc.CreateUserAsync(dc.UniqueName("owner"));
        var approver = await dc.CreateUserAsync(dc.UniqueName("gone"));
        await dc.AddMemberAsync(_server.Approvers!, approver);
        var id = await (await _server.ClientAsync(alice)).CreateIdAsync(ServerFixture.ApprovedUserCertificate, """[{"Request Reason":"VPN"}]""");
        var client = await _server.ClientAsync(approver);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"{ServerFixture.Api}/requests/{id}")).StatusCode);

        await dc.RemoveMemberAsync(_server.Approvers!, approver);
        _server.Clock.Advance(TimeSpan.FromSeconds(31)); // Directory:Ldap:CacheSeconds, and nothing kept beside it
        Assert.Equal(HttpStatusCode.NotFound, (await client.VoteAsync(id, "Approve")).StatusCode);

        await dc.SetEnabledAsync(approver, enabled: false);
        _server.Clock.Advance(TimeSpan.FromSeconds(31));
        var refused = await client.GetAsync($"{ServerFixture.Api}/me");
        Assert.Equal((HttpStatusCode.Unauthorized, "Unauthenticated"), (refused.StatusCode, await refused.ErrorCodeAsync()));
    }

    [SkippableFact]
    public async Task DirectoryAdministration_AdSource_RefusedNamingActiveDirectory()
    {
        Dc();
        var administration = _server.Services.GetRequiredService<DirectoryAdministration>();
        var refused = await Assert.ThrowsAsync<OpenCmException>(() => administration.AddUserAsync(new AuditContext(Guid.Empty, "test"), "someone", []));
        Assert.Equal(ErrorKind.Conflict, refused.Error.Kind);
        Assert.Contains("Active Directory", refused.Error.Detail, StringComparison.Ordinal);
        Assert.Null(await _server.Services.GetRequiredService<IDirectoryAdministration>().PasswordHashAsync(Guid.NewGuid()));
    }

    // The DC down: 503 problems with Retry-After (never a 500, never older rights), and OpenCM
    // answers again by itself once the DC is back. Runs alone in its collection's order.
    [SkippableFact]
    public async Task DirectoryDown_503ProblemThenRecoversByItself()
    {
        var dc = Dc();
        var user = await dc.CreateUserAsync(dc.UniqueName("outage"));
        var client = await _server.ClientAsync(user);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"{ServerFixture.Api}/me")).StatusCode);

        await dc.StopAsync();
        try
        {
            _server.Clock.Advance(TimeSpan.FromSeconds(31));
            var down = await client.GetAsync($"{ServerFixture.Api}/me");
            Assert.Equal((HttpStatusCode.ServiceUnavailable, "Unavailable"), (down.StatusCode, await down.ErrorCodeAsync()));
            Assert.NotNull(down.Headers.RetryAfter);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, (await _server.CreateClient().GetAsync("/health/ready")).StatusCode);
        }
        finally
        {
            await dc.RestartAsync();
        }

        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"{ServerFixture.Api}/me")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await _server.CreateClient().GetAsync("/health/ready")).StatusCode);
    }
}
