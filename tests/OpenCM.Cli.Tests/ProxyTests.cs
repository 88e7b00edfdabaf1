using System.Net;
using System.Text.RegularExpressions;
using OpenCM.TestKit;

namespace OpenCM.Cli.Tests;

/// <summary>Forwarded headers are believed from the configured proxies only (the sign-in limit is per client address).</summary>
public sealed partial class ProxyTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [GeneratedRegex("name=\"__RequestVerificationToken\" type=\"hidden\" value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryField();

    // Sign-in attempts for one forwarded client address; the statuses.
    private static async Task<List<HttpStatusCode>> AttemptsAsync(ServerProcess server, string forwardedFor, int count)
    {
        using var http = new HttpClient(new HttpClientHandler { CookieContainer = new CookieContainer(), AllowAutoRedirect = false }) { BaseAddress = new Uri(server.Address) };
        var token = AntiforgeryField().Match(await http.GetStringAsync("/CertificateManagement/signin")).Groups[1].Value;
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < count; i++)
        {
            using var post = new HttpRequestMessage(HttpMethod.Post, "/CertificateManagement/signin")
            {
                Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["__RequestVerificationToken"] = token, ["name"] = "x", ["password"] = "guess" }),
            };
            post.Headers.Add("X-Forwarded-For", forwardedFor);
            statuses.Add((await http.SendAsync(post)).StatusCode);
        }

        return statuses;
    }

    [Fact]
    public async Task ForwardedFor_FromAConfiguredProxy_KeysTheLimitFromAnyoneElse_Ignored()
    {
        // Behind a known proxy (here: loopback), each client address has its own sign-in budget.
        await using (var behindProxy = await ServerProcess.StartAsync(rateLimits: true, "--data", _dir.File("a"), "--RateLimits:SignInPerMinute=2", "--Proxies:Known:0=127.0.0.1"))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, (await AttemptsAsync(behindProxy, "10.0.0.1", 3))[^1]);
            Assert.Equal(HttpStatusCode.Unauthorized, (await AttemptsAsync(behindProxy, "10.0.0.2", 1))[^1]);
        }

        // With no proxy configured the header is a client's claim, and is not believed.
        await using var direct = await ServerProcess.StartAsync(rateLimits: true, "--data", _dir.File("b"), "--RateLimits:SignInPerMinute=2");
        Assert.Equal(HttpStatusCode.TooManyRequests, (await AttemptsAsync(direct, "10.0.0.1", 3))[^1]);
        Assert.Equal(HttpStatusCode.TooManyRequests, (await AttemptsAsync(direct, "10.0.0.2", 1))[^1]);
    }
}
