using System.Net;
using System.Net.Http.Headers;
using System.Security.Claims;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using OpenCM.Application;

namespace OpenCM.Server.Tests;

/// <summary>A minimal OIDC provider on loopback Kestrel: discovery document and JWKS, RSA-signed tokens.</summary>
public sealed class TestOidcProvider : IAsyncDisposable
{
    private readonly WebApplication _app;

    private TestOidcProvider(WebApplication app, string issuer, RsaSecurityKey key)
    {
        _app = app;
        Issuer = issuer;
        Key = key;
    }

    public string Issuer { get; }

    public RsaSecurityKey Key { get; }

    public static async Task<TestOidcProvider> StartAsync()
    {
        var key = new RsaSecurityKey(RSA.Create(2048)) { KeyId = "adfs-test" };
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        string? issuer = null;
        app.MapGet("/.well-known/openid-configuration", () => Results.Json(new Dictionary<string, object>
        {
            ["issuer"] = issuer!,
            ["jwks_uri"] = issuer + "/keys",
        }));
        app.MapGet("/keys", () =>
        {
            var jwk = JsonWebKeyConverter.ConvertFromRSASecurityKey(new RsaSecurityKey(key.Rsa.ExportParameters(false)) { KeyId = key.KeyId });
            return Results.Json(new Dictionary<string, object>
            {
                ["keys"] = new[] { new Dictionary<string, string> { ["kty"] = "RSA", ["kid"] = jwk.Kid, ["n"] = jwk.N, ["e"] = jwk.E, ["use"] = "sig", ["alg"] = "RS256" } },
            });
        });
        await app.StartAsync();
        issuer = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new TestOidcProvider(app, issuer, key);
    }

    public string Token(IDictionary<string, object> claims, string audience = OidcFixture.Audience, SecurityKey? key = null, string? issuer = null) =>
        new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = issuer ?? Issuer,
            Audience = audience,
            IssuedAt = TestKit.Samples.Now.UtcDateTime,
            NotBefore = TestKit.Samples.Now.UtcDateTime,
            Expires = TestKit.Samples.Now.UtcDateTime.AddMinutes(30),
            Claims = claims,
            SigningCredentials = new SigningCredentials(key ?? Key, SecurityAlgorithms.RsaSha256),
        });

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        Key.Rsa.Dispose();
    }
}

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
