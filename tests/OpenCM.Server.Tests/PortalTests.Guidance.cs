using System.Net;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using OpenCM.Application;

namespace OpenCM.Server.Tests;

/// <summary>Issue #23.11-13: a portal that says what happens next, refuses with pages, and a help desk that finds people by what they say.</summary>
public sealed partial class PortalTests
{
    private async Task<Principal> ManagerAsync()
    {
        var admin = (await _server.Services.GetRequiredService<IDirectory>().FindByNameAsync("admin"))!;
        await _server.Services.GetRequiredService<Passwords>().SetAsync(new AuditContext(Guid.Empty, "test"), admin, Password);
        return admin;
    }

    // The first 8 hex digits of a uuid, as the lists show it.
    private static string Short(Guid id) => id.ToString("N")[..8];

    [Fact]
    public async Task NewRequest_Submitted_OpensItsPageSayingWhatHappensNextAndHomeListsItByTemplateAndShortId()
    {
        var user = await UserWithPasswordAsync("portal-next");
        var browser = await SignedInAsync(user);
        var page = $"{Root}/requests/new/{ServerFixture.ApprovedUserCertificate}";
        var token = AntiforgeryField().Match(await browser.GetStringAsync(page)).Groups[1].Value;

        var created = await browser.PostAsync(page, Form(("__RequestVerificationToken", token), ("item[Request Reason]", "lab work")));
        Assert.Equal(HttpStatusCode.Redirect, created.StatusCode);
        var location = created.Headers.Location!.OriginalString;
        var id = Guid.Parse(Regex.Match(location, $"^{Root}/requests/([0-9a-f-]{{36}})$").Groups[1].Value);
        var html = WebUtility.HtmlDecode(await browser.GetStringAsync(location));
        Assert.Contains("<h2 id=\"next-heading\">Waiting for 2 more approvals</h2>", html, StringComparison.Ordinal);

        // The home page lists it newest first by its template's name and a short id, the full uuid in the link and its title.
        using var api = await _server.ClientAsync(user);
        var older = await api.CreateIdAsync(ServerFixture.UserCertificate);
        var home = WebUtility.HtmlDecode(await browser.GetStringAsync($"{Root}/"));
        var rows = Regex.Matches(home, "<tr>\\s*<td data-label=\"Request\"><a href=\"[^\"]*/requests/([0-9a-f-]{36})\" title=\"Request \\1\"><code>([0-9a-f]{8})</code></a></td>\\s*<td data-label=\"Template\">([^<]*)</td>");
        Assert.Equal([(older, Short(older), "User Certificate"), (id, Short(id), "Approved User Certificate")],
            rows.Select(m => (Guid.Parse(m.Groups[1].Value), m.Groups[2].Value, m.Groups[3].Value)));
    }

    [Fact]
    public async Task RequestPage_Approver_ApproveAndDenyLookDifferentWithAccessibleNames()
    {
        var alice = await UserWithPasswordAsync("portal-styles");
        using var api = await _server.ClientAsync(alice);
        var id = await api.CreateIdAsync(ServerFixture.ApprovedUserCertificate, """[{"Request Reason":"styles"}]""");
        var approver = await SignedInAsync(await ApproverAsync("portal-styler"));
        var html = await approver.GetStringAsync($"{Root}/requests/{id}");
        Assert.Contains("value=\"approve\" class=\"primary\" aria-label=\"Approve this request\">Approve</button>", html, StringComparison.Ordinal);
        Assert.Contains("value=\"deny\" class=\"danger\" aria-label=\"Deny this request\">Deny</button>", html, StringComparison.Ordinal);
        Assert.Contains("Your decision is needed", html, StringComparison.Ordinal);

        // The queue names the template and the request's short id.
        var queue = await approver.GetStringAsync($"{Root}/approvals");
        Assert.Contains($"title=\"Request {id:D}\"><code>{Short(id)}</code></a>", queue, StringComparison.Ordinal);
    }

    public enum Who
    {
        Plain,
        Approver,
        Manager,
    }

    // The navigation offers a page to exactly those the page serves (PortalAccess, the pages' rule).
    [Theory]
    [InlineData(Who.Plain, false, false, false)]
    [InlineData(Who.Approver, true, false, false)]
    [InlineData(Who.Manager, true, true, true)]
    public async Task Navigation_ByRole_OffersApprovalsHelpDeskAndReportsOnlyToThoseThePagesServe(Who who, bool approvals, bool helpDesk, bool reports)
    {
        var user = who switch
        {
            Who.Plain => await UserWithPasswordAsync("portal-nav"),
            Who.Approver => await ApproverAsync("portal-nav-appr"),
            _ => await ManagerAsync(),
        };
        var browser = await SignedInAsync(user);
        var header = Regex.Match(await browser.GetStringAsync($"{Root}/"), "<header>.*</header>", RegexOptions.Singleline).Value;
        Assert.Equal(
            (approvals, helpDesk, reports),
            (header.Contains($"href=\"{Root}/approvals\"", StringComparison.Ordinal),
             header.Contains($"href=\"{Root}/helpdesk\"", StringComparison.Ordinal),
             header.Contains($"href=\"{Root}/reports\"", StringComparison.Ordinal)));
        Assert.Equal(helpDesk ? HttpStatusCode.OK : HttpStatusCode.NotFound, (await browser.GetAsync($"{Root}/helpdesk")).StatusCode);
        Assert.Equal(reports ? HttpStatusCode.OK : HttpStatusCode.NotFound, (await browser.GetAsync($"{Root}/reports")).StatusCode);
    }

    // Refusals are pages (issue #23.12): a browser gets OpenCM's page with what happened and a way
    // home, no stack trace; unknown and not-yours read the same, but for the reference.
    [Theory]
    [InlineData("/helpdesk")]
    [InlineData("/helpdesk?name=admin")]
    [InlineData("/reports")]
    [InlineData("/requests/{unknown}")]
    [InlineData("/requests/{theirs}")]
    [InlineData("/requests/new/{unknown}")]
    public async Task Refusal_InABrowser_OpenCmsErrorPageWithTextAndLinkHomeNoStack(string path)
    {
        var owner = await _server.UserAsync("portal-owner");
        using var api = await _server.ClientAsync(owner);
        var theirs = await api.CreateIdAsync(ServerFixture.UserCertificate);
        var browser = await SignedInAsync(await UserWithPasswordAsync("portal-refused"));
        browser.DefaultRequestHeaders.Accept.ParseAdd("text/html");

        var response = await browser.GetAsync(Root + path.Replace("{unknown}", Guid.NewGuid().ToString(), StringComparison.Ordinal).Replace("{theirs}", theirs.ToString(), StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        var html = await response.Content.ReadAsStringAsync();
        Assert.Contains("<h1>The resource does not exist.</h1>", html, StringComparison.Ordinal);
        Assert.Contains("There is no such page, or it is not yours to see.", html, StringComparison.Ordinal);
        Assert.Contains($"<a href=\"{Root}/\">Back to the portal</a>", html, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", html, StringComparison.Ordinal);
        Assert.DoesNotContain(" at OpenCM.", html, StringComparison.Ordinal);
        Assert.DoesNotContain(theirs.ToString(), html, StringComparison.Ordinal);

        // The same page as for a request that does not exist, but for its reference.
        var unknown = await (await browser.GetAsync($"{Root}/requests/{Guid.NewGuid()}")).Content.ReadAsStringAsync();
        Assert.Equal(Unreferenced(unknown), Unreferenced(html));
    }

    private static string Unreferenced(string page) => Regex.Replace(page, "Reference: <code>[^<]*</code>", "");

    // A user with a certificate in use, and its serial (lower case, as pages show it).
    private async Task<(Guid Profile, string Serial)> CertificateOfAsync(Principal user)
    {
        var profile = await ActiveProfileAsync(user);
        var serial = Assert.Single(await _server.Services.GetRequiredService<IProfileStore>().CertificatesOfProfileAsync(profile)).SerialHex.ToLowerInvariant();
        return (profile, serial);
    }

    [Fact]
    public async Task HelpDesk_Search_ByPartOfTheNameOrSerial_FindsTheUserWithTheirCertificates()
    {
        var user = await _server.UserAsync("portal-sought");
        var (_, serial) = await CertificateOfAsync(user);
        var desk = await SignedInAsync(await ManagerAsync());

        // 1. Part of the name (the tail only this user has), in another case: the user, their certificates as the home page lists them.
        var byName = WebUtility.HtmlDecode(await desk.GetStringAsync($"{Root}/helpdesk?name={user.Name[^9..].ToUpperInvariant()}"));
        Assert.Contains($"<h2>{user.Name}</h2>", byName, StringComparison.Ordinal);
        var row = Regex.Match(byName, "<td data-label=\"Template\">([^<]*)</td>\\s*<td data-label=\"Serial\"><code>([0-9a-f]+)</code></td>\\s*<td data-label=\"Subject\">([^<]*)</td>\\s*<td data-label=\"Valid until\"><time datetime=\"[^\"]+\">(\\d{4}-\\d{2}-\\d{2})</time></td>");
        Assert.True(row.Success, byName);
        Assert.Equal((serial, $"CN={user.Name}"), (row.Groups[2].Value, row.Groups[3].Value.Split(',')[0]));
        Assert.NotEmpty(row.Groups[1].Value);

        // 2. The serial as people copy it (colons, upper case): the same user, found by it.
        var colons = string.Join(':', serial.ToUpperInvariant().Chunk(2).Select(c => new string(c)));
        var bySerial = WebUtility.HtmlDecode(await desk.GetStringAsync($"{Root}/helpdesk?name={Uri.EscapeDataString(colons)}"));
        Assert.Contains($"<h2>{user.Name}</h2>", bySerial, StringComparison.Ordinal);
        Assert.Contains($"Found by serial {serial}.", bySerial, StringComparison.Ordinal);

        // 3. A part several names share: a list to choose from; nothing at all: said so.
        await _server.UserAsync("portal-twin");
        await _server.UserAsync("portal-twin");
        var several = WebUtility.HtmlDecode(await desk.GetStringAsync($"{Root}/helpdesk?name=portal-twin"));
        Assert.True(Regex.Count(several, "<li><a href=\"[^\"]*helpdesk\\?name=portal-twin-") >= 2, several);
        var none = WebUtility.HtmlDecode(await desk.GetStringAsync($"{Root}/helpdesk?name=no-such-person-{Guid.NewGuid():N}"));
        Assert.Contains("No user, card or certificate matches", none, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await desk.GetAsync($"{Root}/helpdesk?name=%25")).StatusCode);
    }

    [Fact]
    public async Task HelpDesk_Search_ByCardId_FindsTheCardsUser()
    {
        var owner = await _server.UserAsync("portal-cardid");
        using var client = new OpenCM.Client.OpenCmClient(_server.CreateClient(), await _server.TokenAsync(owner));
        var enroll = await client.CreateRequestAsync(new OpenCM.Contracts.CreateRequestBody(OpenCM.Contracts.WireRequestType.Enroll, ServerFixture.VirtualSmartcardVpn, [], Comment: ""));
        using var device = OpenCM.Cards.EmulatedCard.CreateVirtual(OpenCM.Smartcards.AdminKeys.FromHex("010203040506070801020304050607080102030405060708"));
        await new OpenCM.Client.CardClient(client).PersonalizeAsync(enroll, device, "246813");
        var desk = await SignedInAsync(await ManagerAsync());

        var found = WebUtility.HtmlDecode(await desk.GetStringAsync($"{Root}/helpdesk?name={device.CardId.ToLowerInvariant()}"));
        Assert.Contains($"<h2>{owner.Name}</h2>", found, StringComparison.Ordinal);
        Assert.Contains("Found by card ", found, StringComparison.Ordinal);
        Assert.Contains(device.CardId, found, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task HelpDesk_RevokeOnBehalf_ReasonFromAListThenAPageNamingWhoseCertificateWasRevoked()
    {
        var user = await _server.UserAsync("portal-revoked");
        var (profile, serial) = await CertificateOfAsync(user);
        var desk = await SignedInAsync(await ManagerAsync());
        var found = WebUtility.HtmlDecode(await desk.GetStringAsync($"{Root}/helpdesk?name={user.Name}"));
        var revoke = Regex.Match(found, "href=\"([^\"]*type=Revoke[^\"]*)\"").Groups[1].Value;

        // The reasons are a list with words, each option's value the RFC 5280 name the request carries.
        var form = await desk.GetStringAsync(revoke);
        Assert.Matches("<select id=\"item-\\d+\" name=\"item\\[Revocation Reason\\]\"", form);
        Assert.Contains("<option value=\"keyCompromise\">The private key was lost or exposed (key compromise)</option>", form, StringComparison.Ordinal);
        Assert.DoesNotContain("<input id=\"item-0\" name=\"item[Revocation Reason]\"", form, StringComparison.Ordinal);

        // Revoked: the request's page says so, naming the user, the template and the serial.
        var token = AntiforgeryField().Match(form).Groups[1].Value;
        var posted = await desk.PostAsync(revoke, Form(("__RequestVerificationToken", token), ("item[Revocation Reason]", "keyCompromise")));
        Assert.Equal(HttpStatusCode.Redirect, posted.StatusCode);
        Assert.StartsWith($"{Root}/requests/", posted.Headers.Location!.OriginalString, StringComparison.Ordinal);
        var page = WebUtility.HtmlDecode(await desk.GetStringAsync(posted.Headers.Location));
        Assert.Contains("<h2 id=\"next-heading\">Completed</h2>", page, StringComparison.Ordinal);
        var revoked = Regex.Match(page, "<ul id=\"revoked\">\\s*<li>([^<]*)<code>([0-9a-f]+)</code>").Groups;
        Assert.Equal(($"{user.Name}'s certificate, template OpenCMUser, serial ", serial), (revoked[1].Value, revoked[2].Value));
        Assert.Equal(CertificateStatus.Revoked, Assert.Single(await _server.Services.GetRequiredService<IProfileStore>().CertificatesOfProfileAsync(profile)).Status);
    }
}
