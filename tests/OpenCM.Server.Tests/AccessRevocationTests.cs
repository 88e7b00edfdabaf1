using System.Net;
using Microsoft.Extensions.DependencyInjection;
using OpenCM.Application;
using OpenCM.Server.Auth;

namespace OpenCM.Server.Tests;

/// <summary>Issue #7.7: what the directory takes away, an old token stops granting within a minute.</summary>
public sealed class AccessRevocationTests : IClassFixture<ServerFixture>
{
    private readonly ServerFixture _server;

    public AccessRevocationTests(ServerFixture server) => _server = server;

    [Fact]
    public async Task Approver_RemovedFromGroup_LosesTheRoleWithTheSameToken()
    {
        var alice = await _server.ClientAsync(await _server.UserAsync("alice"));
        var id = await alice.CreateIdAsync(ServerFixture.ApprovedUserCertificate, """[{"Request Reason":"VPN"}]""");
        var approver = await _server.UserAsync("appr", "CM Approvers");
        var client = await _server.ClientAsync(approver);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"{ServerFixture.Api}/requests/{id}")).StatusCode);

        var directory = _server.Services.GetRequiredService<IDirectory>();
        Assert.True(await _server.Services.GetRequiredService<IDirectoryAdministration>().RemoveMembershipAsync(approver.Uuid, (await directory.FindByNameAsync("CM Approvers"))!.Uuid));
        _server.Clock.Advance(CallerResolver.DirectoryRefresh);

        // Same token, still unexpired: the role is gone, so is the right to read the request.
        Assert.Equal(HttpStatusCode.NotFound, (await client.VoteAsync(id, "Approve")).StatusCode);
    }

    [Fact]
    public async Task User_RemovedFromDirectory_TokenRefused()
    {
        var user = await _server.UserAsync("leaver");
        var client = await _server.ClientAsync(user);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"{ServerFixture.Api}/me")).StatusCode);

        Assert.True(await _server.Services.GetRequiredService<IDirectoryAdministration>().RemoveUserAsync(user.Uuid));
        _server.Clock.Advance(CallerResolver.DirectoryRefresh);

        var refused = await client.GetAsync($"{ServerFixture.Api}/me");
        Assert.Equal((HttpStatusCode.Unauthorized, "Unauthenticated"), (refused.StatusCode, await refused.ErrorCodeAsync()));
    }
}
