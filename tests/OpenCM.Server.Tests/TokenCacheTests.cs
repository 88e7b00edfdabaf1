using System.Net;
using System.Net.Http.Headers;

namespace OpenCM.Server.Tests;

/// <summary>A server of its own, because these tests move its clock forward.</summary>
public sealed class MovingClockFixture : ServerFixture;

public class TokenCacheTests : IClassFixture<MovingClockFixture>
{
    private readonly MovingClockFixture _server;

    public TokenCacheTests(MovingClockFixture server) => _server = server;

    [Fact]
    public async Task CachedToken_AfterExpiry_RefusedByTheServerClock()
    {
        var client = _server.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", await _server.TokenAsync(await _server.UserAsync("alice")));
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"{ServerFixture.Api}/me")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"{ServerFixture.Api}/me")).StatusCode);

        // The token lives 30 minutes and the skew is 2: at +31 it is still good, at +33 it is not.
        _server.Clock.Advance(TimeSpan.FromMinutes(31));
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"{ServerFixture.Api}/me")).StatusCode);
        _server.Clock.Advance(TimeSpan.FromMinutes(2));
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync($"{ServerFixture.Api}/me")).StatusCode);
    }

    [Fact]
    public async Task TamperedCopyOfACachedToken_Refused()
    {
        var token = await _server.TokenAsync(await _server.UserAsync("bob"));
        var client = _server.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"{ServerFixture.Api}/me")).StatusCode);

        // Same header and signature, another payload: a different string, so no cache hit, and a bad signature.
        var parts = token.Split('.');
        var payload = System.Text.Encoding.UTF8.GetString(Microsoft.IdentityModel.Tokens.Base64UrlEncoder.DecodeBytes(parts[1]))
            .Replace("\"name\":\"bob", "\"name\":\"eve", StringComparison.Ordinal);
        var forged = $"{parts[0]}.{Microsoft.IdentityModel.Tokens.Base64UrlEncoder.Encode(payload)}.{parts[2]}";
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", forged);
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync($"{ServerFixture.Api}/me")).StatusCode);
    }
}
