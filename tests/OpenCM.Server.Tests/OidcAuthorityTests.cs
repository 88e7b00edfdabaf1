using System.Net;
using System.Net.Http.Headers;
using System.Security.Claims;
using System.Security.Cryptography;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.Tokens;
using OpenCM.Application;
using OpenCM.TestKit;

namespace OpenCM.Server.Tests;

public sealed class OidcFixture : ServerFixture
{
    public const string Audience = "urn:opencm:test";

    public OidcFixture() => Provider = TestOidcProvider.StartAsync().GetAwaiter().GetResult();

    public TestOidcProvider Provider { get; }

    protected override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>
    {
        ["Auth:Authority"] = Provider.Issuer,
        ["Auth:AuthorityAudience"] = Audience,
        ["Auth:RequireHttpsMetadata"] = "false",
    };

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        await Provider.DisposeAsync();
    }
}

public class OidcAuthorityTests : IClassFixture<OidcFixture>
{
    private readonly OidcFixture _server;

    public OidcAuthorityTests(OidcFixture server) => _server = server;

    private async Task<HttpResponseMessage> MeAsync(string token)
    {
        var client = _server.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return await client.GetAsync($"{ServerFixture.Api}/me");
    }

    [Fact]
    public async Task AdfsToken_ObjectGuidAndSidClaimUris_BecomeTheCaller()
    {
        var user = Guid.NewGuid();
        var approvers = await _server.Services.GetRequiredService<IDirectory>().FindByNameAsync("CM Approvers");
        var token = _server.Provider.Token(new Dictionary<string, object>
        {
            ["objectguid"] = Convert.ToBase64String(user.ToByteArray()),
            [ClaimTypes.PrimarySid] = "S-1-5-21-2127521184-1604012920-1887927527-14134865",
            [ClaimTypes.GroupSid] = new[] { approvers!.Sid.Value },
            ["upn"] = "alice@contoso.com",
        });
        var response = await MeAsync(token);
        var json = await response.JsonAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(user.ToString("D"), json.GetProperty("Uuid").GetString());
        Assert.Equal("alice@contoso.com", json.GetProperty("Name").GetString());
        Assert.Equal("S-1-5-21-2127521184-1604012920-1887927527-14134865", json.GetProperty("Sid").GetString());
        Assert.Contains(approvers.Sid.Value, json.GetProperty("GroupSids").EnumerateArray().Select(g => g.GetString()));
    }

    [Fact]
    public async Task OidToken_WithoutSids_LooksUpTheDirectory()
    {
        var bob = await _server.UserAsync("bob", "CM Approvers");
        var json = await (await MeAsync(_server.Provider.Token(new Dictionary<string, object> { ["oid"] = bob.Uuid.ToString() }))).JsonAsync();
        var approvers = await _server.Services.GetRequiredService<IDirectory>().FindByNameAsync("CM Approvers");
        Assert.Equal(bob.Sid.Value, json.GetProperty("Sid").GetString());
        Assert.Equal(bob.Name, json.GetProperty("Name").GetString());
        Assert.Contains(approvers!.Sid.Value, json.GetProperty("GroupSids").EnumerateArray().Select(g => g.GetString()));
    }

    [Fact]
    public async Task UnknownUserWithoutSid_Forbidden()
    {
        var response = await MeAsync(_server.Provider.Token(new Dictionary<string, object> { ["sub"] = Guid.NewGuid().ToString() }));
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("Forbidden", await response.ErrorCodeAsync());
    }

    [Fact]
    public async Task TokenWithoutUserGuid_Unauthenticated()
    {
        var response = await MeAsync(_server.Provider.Token(new Dictionary<string, object> { ["sub"] = "alice", [ClaimTypes.PrimarySid] = "S-1-5-21-1-2-3-4" }));
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Theory]
    [InlineData("wrong-audience")]
    [InlineData("wrong-key")]
    [InlineData("wrong-issuer")]
    public async Task AuthorityToken_Tampered_401(string fault)
    {
        using var other = RSA.Create(2048);
        var claims = new Dictionary<string, object> { ["oid"] = Guid.NewGuid().ToString(), [ClaimTypes.PrimarySid] = "S-1-5-21-1-2-3-4" };
        var token = fault switch
        {
            "wrong-audience" => _server.Provider.Token(claims, audience: "urn:someone-else"),
            "wrong-key" => _server.Provider.Token(claims, key: new RsaSecurityKey(other) { KeyId = "adfs-test" }),
            _ => _server.Provider.Token(claims, issuer: "https://evil.example"),
        };
        Assert.Equal(HttpStatusCode.Unauthorized, (await MeAsync(token)).StatusCode);
    }

    [Fact]
    public async Task LocalTokens_StillAccepted()
    {
        var client = await _server.ClientAsync(await _server.UserAsync("carol"));
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"{ServerFixture.Api}/me")).StatusCode);
    }
}
