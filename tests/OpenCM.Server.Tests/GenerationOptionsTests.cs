using System.Net;

namespace OpenCM.Server.Tests;

public class GenerationOptionsTests : IClassFixture<ServerFixture>
{
    private static readonly Guid ArchivedEncryption = Guid.Parse("2c7e9a51-64d8-4b3f-9a0e-5f1d2b3c4a75");
    private readonly ServerFixture _server;

    public GenerationOptionsTests(ServerFixture server) => _server = server;

    private static string Route(Guid id) => $"{ServerFixture.Api}/requests/{id}/certificaterequestgenerationoptions";

    [Fact]
    public async Task Options_UserCertificate_OneRsaOptionInReferenceShape()
    {
        var alice = await _server.UserAsync("alice");
        var client = await _server.ClientAsync(alice);
        var id = await client.CreateIdAsync(ServerFixture.UserCertificate);
        var response = await client.GetAsync(Route(id));
        var json = await response.JsonAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var option = Assert.Single(json.EnumerateArray());
        Assert.Equal(
            ["Subject", "KeyAlgorithmName", "KeySize", "FriendlyName", "HashAlgorithmName", "KeyStorageProviderNames", "Exportable", "KeyProtectionLevel", "KeyUsages"],
            option.EnumerateObject().Select(p => p.Name));
        Assert.Equal($"CN={alice.Name}, OU=Users, O=OpenCM", option.GetProperty("Subject").GetString());
        Assert.Equal(("RSA", 2048, "SHA256", 3), (option.GetProperty("KeyAlgorithmName").GetString(), option.GetProperty("KeySize").GetInt32(),
            option.GetProperty("HashAlgorithmName").GetString(), option.GetProperty("KeyUsages").GetInt32()));
        Assert.Equal("Microsoft Software Key Storage Provider", option.GetProperty("KeyStorageProviderNames")[0].GetString());
    }

    [Fact]
    public async Task Options_VirtualSmartcard_SmartCardKsp()
    {
        var client = await _server.ClientAsync(await _server.UserAsync("alice"));
        var id = await client.CreateIdAsync(ServerFixture.VirtualSmartcardVpn, """[{"Request Reason":"VPN"}]""");
        var option = Assert.Single((await (await client.GetAsync(Route(id))).JsonAsync()).EnumerateArray());
        Assert.Equal("Microsoft Smart Card Key Storage Provider", option.GetProperty("KeyStorageProviderNames")[0].GetString());
    }

    [Fact]
    public async Task Options_ServerGeneratedKeysOnly_EmptyList()
    {
        var client = await _server.ClientAsync(await _server.UserAsync("alice"));
        var id = await client.CreateIdAsync(ArchivedEncryption);
        Assert.Empty((await (await client.GetAsync(Route(id))).JsonAsync()).EnumerateArray());
    }

    [Fact]
    public async Task Options_PendingOrCanceled_409WithStatus()
    {
        var client = await _server.ClientAsync(await _server.UserAsync("alice"));
        var pending = await client.CreateIdAsync(ServerFixture.ApprovedUserCertificate, """[{"Request Reason":"VPN"}]""");
        var response = await client.GetAsync(Route(pending));
        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        Assert.Equal(16, (await response.JsonAsync()).GetProperty("currentStatus").GetInt32());

        var canceled = await client.CreateIdAsync(ServerFixture.UserCertificate);
        await client.PutStatusAsync(canceled, "Canceled");
        Assert.Equal(HttpStatusCode.Conflict, (await client.GetAsync(Route(canceled))).StatusCode);
    }

    [Fact]
    public async Task Options_ApproverWithoutExecute_403_Stranger_404()
    {
        var alice = await _server.ClientAsync(await _server.UserAsync("alice"));
        var id = await alice.CreateIdAsync(ServerFixture.ApprovedUserCertificate, """[{"Request Reason":"VPN"}]""");
        var approver = await _server.ClientAsync(await _server.UserAsync("appr", "CM Approvers"));
        var forbidden = await approver.GetAsync(Route(id));
        Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);
        var stranger = await _server.ClientAsync(await _server.UserAsync("eve"));
        Assert.Equal(HttpStatusCode.NotFound, (await stranger.GetAsync(Route(id))).StatusCode);
    }
}
