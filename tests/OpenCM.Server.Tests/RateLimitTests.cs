using System.Net;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using OpenCM.Application;

namespace OpenCM.Server.Tests;

public sealed class TightRateLimitFixture : ServerFixture
{
    protected override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>
    {
        ["RateLimits:ExpensiveBurst"] = "3",
        ["RateLimits:ExpensivePerMinute"] = "1",
        ["RateLimits:WriteBurst"] = "3",
        ["RateLimits:WritePerMinute"] = "1",
    };
}

/// <summary>Issue #7.8: per-user limits on the routes that cost real work.</summary>
public sealed partial class RateLimitTests : IClassFixture<TightRateLimitFixture>
{
    private readonly TightRateLimitFixture _server;

    public RateLimitTests(TightRateLimitFixture server) => _server = server;

    [Fact]
    public async Task CreateRequests_OverTheBurst_429ProblemWithRetryAfterForThatUserOnly()
    {
        var greedy = await _server.ClientAsync(await _server.UserAsync("greedy"));
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.Created, (await greedy.CreateAsync(ServerFixture.UserCertificate)).StatusCode);
        }

        var refused = await greedy.CreateAsync(ServerFixture.UserCertificate);
        Assert.Equal((HttpStatusCode.TooManyRequests, "RateLimited"), (refused.StatusCode, await refused.ErrorCodeAsync()));
        Assert.True(refused.Headers.RetryAfter is not null);

        // Reads are not limited, and another user has a bucket of their own.
        Assert.Equal(HttpStatusCode.OK, (await greedy.GetAsync($"{ServerFixture.Api}/requests")).StatusCode);
        var other = await _server.ClientAsync(await _server.UserAsync("other"));
        Assert.Equal(HttpStatusCode.Created, (await other.CreateAsync(ServerFixture.UserCertificate)).StatusCode);
    }

    [Fact]
    public async Task CertificateData_SharesTheBucket_429()
    {
        var user = await _server.ClientAsync(await _server.UserAsync("cd"));
        var ids = new List<Guid>();
        for (var i = 0; i < 3; i++)
        {
            ids.Add(await user.CreateIdAsync(ServerFixture.UserCertificate));
        }

        var refused = await user.PostAsync($"{ServerFixture.Api}/requests/{ids[0]}/certificatedata", Http.Json("""{"certificaterequests":[]}"""));
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
    }

    // Issue #18.4: the portal called the same use cases unlimited, and the API's bucket stayed full.
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task CreateRequests_PortalAndApi_DrawFromOneBucket(bool portalFirst)
    {
        var user = await _server.UserAsync(portalFirst ? "portal-first" : "api-first");
        await _server.Services.GetRequiredService<Passwords>().SetAsync(new AuditContext(Guid.Empty, "test"), user, Password);
        var api = await _server.ClientAsync(user);
        var browser = _server.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });
        var signIn = AntiforgeryField().Match(await browser.GetStringAsync($"{Root}/signin")).Groups[1].Value;
        Assert.Equal(HttpStatusCode.Redirect, (await browser.PostAsync($"{Root}/signin", Form(("__RequestVerificationToken", signIn), ("name", user.Name), ("password", Password)))).StatusCode);
        var page = $"{Root}/requests/new/{ServerFixture.UserCertificate}";
        var token = AntiforgeryField().Match(await browser.GetStringAsync(page)).Groups[1].Value;
        Task<HttpResponseMessage> ViaPortal() => browser.PostAsync(page, Form(("__RequestVerificationToken", token)));

        for (var i = 0; i < 3; i++)
        {
            var made = portalFirst ? await ViaPortal() : await api.CreateAsync(ServerFixture.UserCertificate);
            Assert.Equal(portalFirst ? HttpStatusCode.Redirect : HttpStatusCode.Created, made.StatusCode);
        }

        if (portalFirst)
        {
            var refused = await api.CreateAsync(ServerFixture.UserCertificate);
            Assert.Equal((HttpStatusCode.TooManyRequests, "RateLimited"), (refused.StatusCode, await refused.ErrorCodeAsync()));
            Assert.True(refused.Headers.RetryAfter?.Delta > TimeSpan.Zero);
        }
        else
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, (await ViaPortal()).StatusCode);
        }
    }

    // Issue #18.4: binding cards and voting had no limit at all (1,000 card requests in 11 s).
    [Theory]
    [InlineData("smartcards")]
    [InlineData("approvals")]
    public async Task CheapWrites_OverTheirBurst_429WithRetryAfter(string route)
    {
        var user = await _server.ClientAsync(await _server.UserAsync("writer-" + route[..4]));
        Task<HttpResponseMessage> WriteAsync() => route == "smartcards"
            ? user.PostAsync($"{ServerFixture.Api}/smartcards", Http.Json($$"""{"requestid":"{{Guid.NewGuid()}}","cardid":"{{Guid.NewGuid()}}","atr":"3B8D0180FBA000000397425446590301C8"}"""))
            : user.VoteAsync(Guid.NewGuid(), "Approve");

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.NotFound, (await WriteAsync()).StatusCode);
        }

        var refused = await WriteAsync();
        Assert.Equal((HttpStatusCode.TooManyRequests, "RateLimited"), (refused.StatusCode, await refused.ErrorCodeAsync()));
        Assert.True(refused.Headers.RetryAfter?.Delta > TimeSpan.Zero);

        // Expensive calls keep their own bucket.
        Assert.Equal(HttpStatusCode.Created, (await user.CreateAsync(ServerFixture.UserCertificate)).StatusCode);
    }

    private const string Root = "/CertificateManagement";
    private const string Password = "rate limit password 1";

    [GeneratedRegex("name=\"__RequestVerificationToken\" type=\"hidden\" value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryField();

    private static FormUrlEncodedContent Form(params (string Name, string Value)[] fields) => new(fields.Select(f => KeyValuePair.Create(f.Name, f.Value)));
}
