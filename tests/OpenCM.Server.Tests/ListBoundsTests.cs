using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.WebUtilities;

namespace OpenCM.Server.Tests;

/// <summary>
/// Issue #18.1: GET /requests is bounded by bytes as well as rows. A page stops early once its
/// JSON reaches <c>OpenCM:MaxPageBytes</c> and its next link resumes right after the last item
/// sent; hostile paging parameters are 4xx.
/// </summary>
public sealed class ListBoundsTests : IClassFixture<ListBoundsTests.SmallPagesFixture>
{
    private const int Budget = 20_000;
    private readonly SmallPagesFixture _server;

    public ListBoundsTests(SmallPagesFixture server) => _server = server;

    /// <summary>The real server, with pages of at most 20,000 bytes and comments of at most 5,000.</summary>
    public sealed class SmallPagesFixture : ServerFixture
    {
        protected override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>
        {
            ["OpenCM:MaxPageBytes"] = Budget.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["OpenCM:TextLimits:CommentBytes"] = "5000",

            // One user's many pending requests of one template are the data here; the cap on them
            // (issue #18.5) has tests of its own.
            ["OpenCM:MaxPendingRequestsPerTemplate"] = "0",
        };
    }

    [Theory]
    [InlineData(4500, HttpStatusCode.Created)]
    [InlineData(5000, HttpStatusCode.Created)]
    [InlineData(5001, HttpStatusCode.BadRequest)]
    public async Task Create_CommentCapFromConfiguration_Applied(int length, HttpStatusCode status)
    {
        using var client = await _server.ClientAsync(await _server.UserAsync("configured"));
        using var response = await client.PostAsync($"{ServerFixture.Api}/requests", Http.Json(
            $$"""{"type":"Enroll","profiletemplateuuid":"{{ServerFixture.ApprovedUserCertificate}}","datacollection":[{"Request Reason":"x"}],"comment":"{{new string('c', length)}}"}"""));
        Assert.Equal(status, response.StatusCode);
        if (status == HttpStatusCode.BadRequest)
        {
            Assert.Contains("5000 bytes", (await response.JsonAsync()).GetProperty("detail").GetString(), StringComparison.Ordinal);
        }
    }

    /// <summary>Walks every page from <paramref name="first"/>, following the next links; returns the pages' bodies.</summary>
    internal static async Task<List<byte[]>> WalkAsync(HttpClient client, string first)
    {
        var pages = new List<byte[]>();
        string? next = first;
        while (next is not null)
        {
            using var response = await client.GetAsync(next);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            pages.Add(await response.Content.ReadAsByteArrayAsync());
            Assert.Equal(pages[^1].Length, response.Content.Headers.ContentLength);
            next = response.Headers.TryGetValues("Link", out var links) ? links.Single().Split('>')[0].TrimStart('<') : null;
            Assert.True(pages.Count < 10_000, "The next links do not end.");
        }

        return pages;
    }

    private static List<Guid> Ids(IEnumerable<byte[]> pages) =>
        [.. pages.SelectMany(p => JsonDocument.Parse(p).RootElement.EnumerateArray().Select(r => r.GetProperty("Uuid").GetGuid()).ToList())];

    [Theory]
    [InlineData("top=1000")]
    [InlineData("")]
    [InlineData("top=3")]
    public async Task List_LongComments_PagesStopAtTheByteBudgetEveryItemOnceInOrder(string query)
    {
        using var client = await _server.ClientAsync(await _server.UserAsync("paged"));
        var created = new List<Guid>();
        for (var i = 0; i < 30; i++)
        {
            var comment = new string((char)('a' + (i % 26)), 4000 + i);
            var response = await client.PostAsync($"{ServerFixture.Api}/requests", Http.Json(
                $$"""{"type":"Enroll","profiletemplateuuid":"{{ServerFixture.ApprovedUserCertificate}}","datacollection":[{"Request Reason":"{{new string('r', 1024)}}"}],"comment":"{{comment}}"}"""));
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
            created.Add(Guid.Parse((await response.JsonAsync()).GetString()!.Split('/')[^1]));
        }

        var pages = await WalkAsync(client, $"{ServerFixture.Api}/requests?{query}");

        // Every request once, in submission order; each page within the budget (about 5.3 KB an item: 3 a page).
        Assert.Equal(created, Ids(pages));
        Assert.All(pages, p => Assert.InRange(p.Length, 2, Budget));
        Assert.Equal(10, pages.Count);
        Assert.All(pages, p => Assert.Equal(3, JsonDocument.Parse(p).RootElement.GetArrayLength()));
    }

    [Fact]
    public async Task List_ItemLargerThanTheBudget_SentAloneThenTheRest()
    {
        // A row stored before the caps (or under larger ones) is sent on a page of its own: pages always progress.
        var user = await _server.UserAsync("big-row");
        using var client = await _server.ClientAsync(user);
        var small = await client.CreateIdAsync(ServerFixture.ApprovedUserCertificate, """[{"Request Reason":"x"}]""");
        var big = await MemoryCeilingTests.InsertLegacyAsync(_server, user, small, 3 * Budget);
        var after = await client.CreateIdAsync(ServerFixture.ApprovedUserCertificate, """[{"Request Reason":"y"}]""");

        var pages = await WalkAsync(client, $"{ServerFixture.Api}/requests?top=1000");

        Assert.Equal([small, big, after], Ids(pages));
        Assert.Equal([1, 1, 1], pages.Select(p => JsonDocument.Parse(p).RootElement.GetArrayLength()));
        Assert.True(pages[1].Length > Budget);
    }

    private static string Token(string text) => WebEncoders.Base64UrlEncode(Encoding.ASCII.GetBytes(text));

    public static TheoryData<string, string> HostileQueries() => new()
    {
        { "top=0", "top" },
        { "top=-1", "top" },
        { "top=1001", "top" },
        { "top=2147483647", "top" },
        { "top=99999999999999999999", "top" },
        { "top=abc", "top" },
        { "top=1e3", "top" },
        { "top=%205", "top" },
        { "top=0x10", "top" },
        { "skiptoken=!!!", "skiptoken" },
        { "skiptoken=" + Token("r:abc"), "skiptoken" },
        { "skiptoken=" + Token("r:-1"), "skiptoken" },
        { "skiptoken=" + Token("r:99999999999999999999"), "skiptoken" },
        { "skiptoken=" + Token("x:5"), "skiptoken" },
        { "skiptoken=" + Token("r:5 "), "skiptoken" },
        { "skiptoken=" + new string('A', 4000), "skiptoken" },
        { "skiptoken=%00", "skiptoken" },
        { "status=Bogus", "status" },
        { "targetuser=someone", "targetuser" },
    };

    [Theory]
    [MemberData(nameof(HostileQueries))]
    public async Task List_HostilePagingParameters_400NamingTheParameter(string query, string field)
    {
        using var client = await _server.ClientAsync(await _server.UserAsync("hostile"));
        using var response = await client.GetAsync($"{ServerFixture.Api}/requests?{query}");
        var json = await response.JsonAsync();
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(("ValidationFailed", field), (json.GetProperty("errorCode").GetString(), json.GetProperty("field").GetString()));
    }

    [Fact]
    public async Task List_WellFormedTokenOfAnotherPosition_OnlyWhatTheCallerMayRead()
    {
        // A token is a position, not a capability: one the client makes up reveals nothing the
        // access check would not show (decision 0003); far past the end it is an empty page.
        var alice = await _server.UserAsync("alice");
        using var asAlice = await _server.ClientAsync(alice);
        var hers = await asAlice.CreateIdAsync(ServerFixture.ApprovedUserCertificate, """[{"Request Reason":"x"}]""");
        using var asBob = await _server.ClientAsync(await _server.UserAsync("bob"));
        foreach (var token in new[] { Token("r:0"), Token("r:1"), Token("r:9223372036854775807") })
        {
            using var response = await asBob.GetAsync($"{ServerFixture.Api}/requests?skiptoken={token}");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.DoesNotContain(hers.ToString(), await response.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);
        }
    }
}
