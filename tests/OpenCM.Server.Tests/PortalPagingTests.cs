using System.Net;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using OpenCM.Application;

namespace OpenCM.Server.Tests;

/// <summary>A server whose portal pages hold three rows or about 8 KB of request text, and whose users may have four requests from one template waiting for approval.</summary>
public sealed class PagingFixture : ServerFixture
{
    protected override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>
    {
        ["OpenCM:PortalPageRows"] = "3",
        ["OpenCM:PortalPageBytes"] = "8000",
        ["OpenCM:MaxPendingRequestsPerTemplate"] = "4",
    };
}

/// <summary>
/// Issue #18.5: the portal's lists are paged newest first, by rows and by bytes, with an opaque
/// link to older rows (the approvals page listed the oldest 200 and stopped); and one user's
/// pending requests from one template are capped, for the API and the portal alike.
/// </summary>
public sealed partial class PortalPagingTests : IClassFixture<PagingFixture>
{
    private const string Root = "/CertificateManagement";
    private const string Password = "portal password 1";
    private readonly PagingFixture _server;

    public PortalPagingTests(PagingFixture server) => _server = server;

    [GeneratedRegex("name=\"__RequestVerificationToken\" type=\"hidden\" value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryField();

    [GeneratedRegex("<a rel=\"next\" href=\"([^\"]+)\"")]
    private static partial Regex OlderLink();

    [GeneratedRegex("/requests/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\"")]
    private static partial Regex RequestLink();

    private async Task<HttpClient> SignedInAsync(Principal user)
    {
        await _server.Services.GetRequiredService<Passwords>().SetAsync(new AuditContext(Guid.Empty, "test"), user, Password);
        var browser = _server.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });
        var token = AntiforgeryField().Match(await browser.GetStringAsync($"{Root}/signin")).Groups[1].Value;
        var signedIn = await browser.PostAsync($"{Root}/signin", Form(("__RequestVerificationToken", token), ("name", user.Name), ("password", Password)));
        Assert.Equal(HttpStatusCode.Redirect, signedIn.StatusCode);
        return browser;
    }

    private static FormUrlEncodedContent Form(params (string Name, string Value)[] fields) => new(fields.Select(f => KeyValuePair.Create(f.Name, f.Value)));

    // Every page of a list from `first`, following its "older" links: the request ids on each page.
    private static async Task<List<List<Guid>>> PagesAsync(HttpClient browser, string first)
    {
        var pages = new List<List<Guid>>();
        for (var path = first; path is not null && pages.Count < 50;)
        {
            var response = await browser.GetAsync(path);
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{response.StatusCode} for {path}: {response.Headers.Location}");
            var html = await response.Content.ReadAsStringAsync();
            pages.Add([.. RequestLink().Matches(html).Select(m => Guid.Parse(m.Groups[1].Value)).Distinct()]);
            var older = OlderLink().Match(html);
            path = older.Success ? WebUtility.HtmlDecode(older.Groups[1].Value) : null;
        }

        return pages;
    }

    private static StringContent Pending(string comment = "") =>
        Http.Json($$"""{"datacollection":[{"Request Reason":"paging"}],"type":"Enroll","profiletemplateuuid":"{{ServerFixture.ApprovedUserCertificate}}","comment":"{{comment}}"}""");

    private static async Task<Guid> CreatePendingAsync(HttpClient api, string comment = "")
    {
        var response = await api.PostAsync($"{ServerFixture.Api}/requests", Pending(comment));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return Guid.Parse((await response.Content.ReadAsStringAsync()).Trim('"').Split('/')[^1]);
    }

    [Fact]
    public async Task Approvals_MoreThanAPage_NewestFirstAndOlderLinksReachEveryRequest()
    {
        // Seven pending requests from two users (the cap is four each); the newest is made last.
        var ids = new List<Guid>();
        foreach (var (name, count) in new[] { ("paging-old", 4), ("paging-new", 3) })
        {
            using var api = await _server.ClientAsync(await _server.UserAsync(name));
            for (var i = 0; i < count; i++)
            {
                ids.Add(await CreatePendingAsync(api));
            }
        }

        var approver = await SignedInAsync(await _server.UserAsync("paging-approver", "CM Approvers"));
        var pages = await PagesAsync(approver, $"{Root}/approvals");

        // Three rows a page, newest first, and the older links reach every one of them once.
        Assert.All(pages, p => Assert.True(p.Count <= 3, $"{p.Count} rows"));
        Assert.Equal(ids[^1], pages[0][0]);
        var seen = pages.SelectMany(p => p).Where(ids.Contains).ToList();
        Assert.Equal(Enumerable.Reverse(ids), seen);
    }

    [Fact]
    public async Task Approvals_LongComments_PageStopsEarlyByBytesAndLinksOn()
    {
        using var api = await _server.ClientAsync(await _server.UserAsync("paging-long"));
        var ids = new List<Guid>();
        for (var i = 0; i < 3; i++)
        {
            ids.Add(await CreatePendingAsync(api, new string((char)('a' + i), 3000)));
        }

        var approver = await SignedInAsync(await _server.UserAsync("paging-appr2", "CM Approvers"));
        var pages = await PagesAsync(approver, $"{Root}/approvals");

        // About 3 KB each against 8 KB a page: two rows, then the third on the next page.
        Assert.Equal([ids[2], ids[1]], pages[0].Where(ids.Contains));
        Assert.Equal(2, pages[0].Count);
        Assert.Contains(ids[0], pages[1]);
    }

    [Fact]
    public async Task Home_AndHelpDesk_RequestsPagedNewestFirst()
    {
        var user = await _server.UserAsync("paging-home");
        using var api = await _server.ClientAsync(user);
        var ids = new List<Guid>();
        for (var i = 0; i < 5; i++)
        {
            ids.Add(await api.CreateIdAsync(ServerFixture.UserCertificate));
        }

        var home = await PagesAsync(await SignedInAsync(user), $"{Root}/");
        Assert.Equal([[ids[4], ids[3], ids[2]], [ids[1], ids[0]]], home.Select(p => p.Where(ids.Contains).ToList()));

        var admin = (await _server.Services.GetRequiredService<IDirectory>().FindByNameAsync("admin"))!;
        var desk = await PagesAsync(await SignedInAsync(admin), $"{Root}/helpdesk?name={user.Name}");
        Assert.Equal([[ids[4], ids[3], ids[2]], [ids[1], ids[0]]], desk.Select(p => p.Where(ids.Contains).ToList()));
    }

    [Theory]
    [InlineData("/approvals?older=bm90LWEtdG9rZW4")]
    [InlineData("/?older=%00%01")]
    [InlineData("/approvals?older=bzotNQ")] // "o:-5"
    public async Task Pages_OlderNotIssuedHere_400(string path)
    {
        var browser = await SignedInAsync(await _server.UserAsync("paging-bad"));
        Assert.Equal(HttpStatusCode.BadRequest, (await browser.GetAsync(Root + path)).StatusCode);
    }

    [Fact]
    public async Task Create_PendingBeyondTheCap_409ConflictOnTheApiAndThePortalUntilOneIsDecided()
    {
        var user = await _server.UserAsync("paging-cap");
        using var api = await _server.ClientAsync(user);
        var ids = new List<Guid>();
        for (var i = 0; i < 4; i++)
        {
            ids.Add(await CreatePendingAsync(api));
        }

        // The fifth from the template: a 409 naming the template, through either front-end.
        var refused = await api.PostAsync($"{ServerFixture.Api}/requests", Pending());
        Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
        var problem = await refused.JsonAsync();
        Assert.Equal(("Conflict", "profiletemplateuuid"), (problem.GetProperty("errorCode").GetString(), problem.GetProperty("field").GetString()));
        var browser = await SignedInAsync(user);
        var page = $"{Root}/requests/new/{ServerFixture.ApprovedUserCertificate}";
        var token = AntiforgeryField().Match(await browser.GetStringAsync(page)).Groups[1].Value;
        var form = await browser.PostAsync(page, Form(("__RequestVerificationToken", token), ("item[Request Reason]", "one more")));
        Assert.Equal(HttpStatusCode.Conflict, form.StatusCode);
        Assert.Contains("waiting for approval already", await form.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // Requests that need no approval are not counted; one canceled makes room again.
        Assert.Equal(HttpStatusCode.Created, (await api.CreateAsync(ServerFixture.UserCertificate)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await api.PutStatusAsync(ids[0], "Canceled")).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await api.PostAsync($"{ServerFixture.Api}/requests", Pending())).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await api.PostAsync($"{ServerFixture.Api}/requests", Pending())).StatusCode);
    }

    [Fact]
    public async Task Create_PendingRacingPastTheCap_ExactlyTheCapCreated()
    {
        var user = await _server.UserAsync("paging-race");
        using var api = await _server.ClientAsync(user);
        var statuses = await Task.WhenAll(Enumerable.Range(0, 12).Select(async _ => (await api.PostAsync($"{ServerFixture.Api}/requests", Pending())).StatusCode));
        Assert.Equal((4, 8), (statuses.Count(s => s == HttpStatusCode.Created), statuses.Count(s => s == HttpStatusCode.Conflict)));
    }
}
