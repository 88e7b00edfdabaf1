using System.Net;

namespace OpenCM.Server.Tests;

public sealed class TightRateLimitFixture : ServerFixture
{
    protected override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>
    {
        ["RateLimits:ExpensiveBurst"] = "3",
        ["RateLimits:ExpensivePerMinute"] = "1",
    };
}

/// <summary>Issue #7.8: per-user limits on the routes that cost real work.</summary>
public sealed class RateLimitTests : IClassFixture<TightRateLimitFixture>
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
}
