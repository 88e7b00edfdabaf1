using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using OpenCM.Application;
using OpenCM.Cards;
using OpenCM.Server.Auth;

namespace OpenCM.Server.Tests;

/// <summary>Issue #10 (first slice): the portal's sign-in, session cookie, security headers and home page.</summary>
public sealed partial class PortalTests : IClassFixture<ServerFixture>
{
    private const string Root = "/CertificateManagement";
    private const string Password = "portal password 1";
    private readonly ServerFixture _server;

    public PortalTests(ServerFixture server) => _server = server;

    private HttpClient Browser() => _server.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });

    private async Task<Principal> UserWithPasswordAsync(string name)
    {
        var user = await _server.UserAsync(name);
        await _server.Services.GetRequiredService<Passwords>().SetAsync(new AuditContext(Guid.Empty, "test"), user, Password);
        return user;
    }

    [GeneratedRegex("name=\"__RequestVerificationToken\" type=\"hidden\" value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryField();

    private static async Task<string> AntiforgeryAsync(HttpClient browser, string path)
    {
        var page = await browser.GetStringAsync(path);
        return AntiforgeryField().Match(page).Groups[1].Value;
    }

    private static FormUrlEncodedContent Form(params (string Name, string Value)[] fields) => new(fields.Select(f => KeyValuePair.Create(f.Name, f.Value)));

    private static async Task<HttpResponseMessage> SignInAsync(HttpClient browser, string name, string password, string? token = null) =>
        await browser.PostAsync($"{Root}/signin", Form(("__RequestVerificationToken", token ?? await AntiforgeryAsync(browser, $"{Root}/signin")), ("name", name), ("password", password)));

    [Fact]
    public async Task Home_NotSignedIn_RedirectsToSignIn()
    {
        var response = await Browser().GetAsync($"{Root}/");
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.StartsWith($"{Root}/signin", response.Headers.Location!.PathAndQuery, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SignIn_RightPassword_SessionCookieThenHomeWithTemplatesAndRequests()
    {
        var user = await UserWithPasswordAsync("portal");
        using var api = await _server.ClientAsync(user);
        var request = await api.CreateIdAsync(ServerFixture.UserCertificate);
        var browser = Browser();

        var signedIn = await SignInAsync(browser, user.Name.ToUpperInvariant(), Password);
        Assert.Equal(HttpStatusCode.Redirect, signedIn.StatusCode);
        Assert.Equal($"{Root}/", signedIn.Headers.Location!.OriginalString);
        var cookie = signedIn.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("opencm.portal=", StringComparison.Ordinal));
        Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains($"path={Root}/", cookie, StringComparison.OrdinalIgnoreCase);

        var home = await browser.GetAsync($"{Root}/");
        var html = await home.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, home.StatusCode);
        Assert.Contains(user.Name, html, StringComparison.Ordinal);
        Assert.Contains("User Certificate", html, StringComparison.Ordinal);
        Assert.Contains(request.ToString("D"), html, StringComparison.Ordinal);
        Assert.DoesNotContain(Password, html, StringComparison.Ordinal);

        // The API stays bearer-only: the portal's cookie does not act there.
        Assert.Equal(HttpStatusCode.Unauthorized, (await browser.GetAsync($"{Root}/api/v1.0/requests")).StatusCode);

        // Signing out (a POST with its antiforgery token) ends the session.
        var token = await AntiforgeryAsync(browser, $"{Root}/");
        Assert.Equal(HttpStatusCode.Redirect, (await browser.PostAsync($"{Root}/signout", Form(("__RequestVerificationToken", token)))).StatusCode);
        Assert.Equal(HttpStatusCode.Redirect, (await browser.GetAsync($"{Root}/")).StatusCode);
    }

    [Theory]
    [InlineData("portal-wrong", "not the password")]
    [InlineData("nobody-at-all", Password)]
    [InlineData("", "")]
    public async Task SignIn_WrongNameOrPassword_SameGenericAnswerNoSession(string name, string password)
    {
        await UserWithPasswordAsync("portal-wrong");
        var browser = Browser();
        var response = await SignInAsync(browser, name == "portal-wrong" ? (await _server.Services.GetRequiredService<IDirectoryAdministration>().ListUsersAsync())
            .First(u => u.User.Name.StartsWith("portal-wrong", StringComparison.Ordinal)).User.Name : name, password);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains("The name or password is not right.", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.False(response.Headers.TryGetValues("Set-Cookie", out var cookies) && cookies.Any(c => c.StartsWith("opencm.portal=", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task SignIn_WithoutAntiforgeryToken_Refused()
    {
        var user = await UserWithPasswordAsync("portal-csrf");
        var response = await Browser().PostAsync($"{Root}/signin", Form(("name", user.Name), ("password", Password)));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [Fact]
    public async Task Pages_SecurityHeaders_NoInlineScriptNoFraming()
    {
        var response = await Browser().GetAsync($"{Root}/signin");
        var csp = response.Headers.GetValues("Content-Security-Policy").Single();
        Assert.Contains("script-src 'self'", csp, StringComparison.Ordinal);
        Assert.Contains("frame-ancestors 'none'", csp, StringComparison.Ordinal);
        Assert.DoesNotContain("unsafe-inline", csp, StringComparison.Ordinal);
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
        Assert.DoesNotContain("<script", await response.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);
        var css = await Browser().GetAsync($"{Root}/static/portal.css");
        Assert.Equal(("text/css", HttpStatusCode.OK), (css.Content.Headers.ContentType?.MediaType, css.StatusCode));
    }

    [Theory]
    [InlineData("/", Root + "/")]
    [InlineData("/favicon.ico", Root + "/static/favicon.svg")]
    public async Task BareAddress_OrTheBrowsersFavicon_RedirectsIntoThePortal(string path, string target)
    {
        var response = await Browser().GetAsync(path);
        Assert.Equal((HttpStatusCode.Redirect, target), (response.StatusCode, response.Headers.Location?.OriginalString));
    }

    [Fact]
    public async Task UnknownRequestPage_InABrowser_OpenCmsErrorPageNotAnEmpty404()
    {
        var browser = await SignedInAsync(await UserWithPasswordAsync("portal-lost"));
        browser.DefaultRequestHeaders.Accept.ParseAdd("text/html");
        var response = await browser.GetAsync($"{Root}/requests/{Guid.NewGuid()}");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        var page = await response.Content.ReadAsStringAsync();
        Assert.Contains("Back to the portal", page, StringComparison.Ordinal);

        // The API's own 404 stays problem JSON, browser or not.
        var api = await browser.GetAsync($"{Root}/api/v1.0/nothing-here");
        Assert.Equal("application/problem+json", api.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Favicon_ServedAsSvgAndNamedByEveryPage()
    {
        var icon = await Browser().GetAsync($"{Root}/static/favicon.svg");
        Assert.Equal(("image/svg+xml", HttpStatusCode.OK), (icon.Content.Headers.ContentType?.MediaType, icon.StatusCode));
        Assert.StartsWith("<svg", await icon.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var page = await (await Browser().GetAsync($"{Root}/signin")).Content.ReadAsStringAsync();
        Assert.Contains($"<link rel=\"icon\" href=\"{Root}/static/favicon.svg\"", page, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SignIn_ManyAttemptsFromOneAddress_429ThenNoMoreGuesses()
    {
        // The fixture's limits are raised for functional tests; this server keeps the default ten a minute.
        await using var strict = new SignInLimitFixture();
        var browser = strict.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 12; i++)
        {
            statuses.Add((await SignInAsync(browser, "whoever", "guess " + i)).StatusCode);
        }

        Assert.Equal(10, statuses.Count(s => s == HttpStatusCode.Unauthorized));
        Assert.Equal(HttpStatusCode.TooManyRequests, statuses[^1]);
        Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync($"{Root}/signin")).StatusCode); // reading the form is not limited
    }

    private sealed class SignInLimitFixture : ServerFixture
    {
        protected override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string> { ["RateLimits:SignInPerMinute"] = "10" };
    }

    private async Task<HttpClient> SignedInAsync(Principal user)
    {
        var browser = Browser();
        Assert.Equal(HttpStatusCode.Redirect, (await SignInAsync(browser, user.Name, Password)).StatusCode);
        return browser;
    }

    [Fact]
    public async Task NewRequest_FormFromThePolicy_CreatesTheRequestAsTheApiWould()
    {
        var user = await UserWithPasswordAsync("portal-new");
        var browser = await SignedInAsync(user);
        var page = $"{Root}/requests/new/{ServerFixture.ApprovedUserCertificate}";

        // The form shows what the policy collects: the required reason, a comment, a priority.
        var form = await browser.GetStringAsync(page);
        Assert.Contains("Request Reason (required)", form, StringComparison.Ordinal);
        Assert.Contains("name=\"comment\"", form, StringComparison.Ordinal);
        Assert.Contains("name=\"priority\"", form, StringComparison.Ordinal);
        Assert.Contains($"href=\"{Root}/requests/new/{ServerFixture.ApprovedUserCertificate}\"", await browser.GetStringAsync($"{Root}/"), StringComparison.Ordinal);

        // Submitted: a request exists for the user, pending its two approvals, with what was typed.
        var token = AntiforgeryField().Match(form).Groups[1].Value;
        var created = await browser.PostAsync(page, Form(("__RequestVerificationToken", token), ("item[Request Reason]", "lab work"), ("comment", "from the portal"), ("priority", "7")));
        Assert.Equal(HttpStatusCode.Redirect, created.StatusCode);
        using var api = await _server.ClientAsync(user);
        var mine = (await (await api.GetAsync($"{ServerFixture.Api}/requests")).JsonAsync()).EnumerateArray().Single();
        Assert.Equal((16, "from the portal", 7), (mine.GetProperty("Status").GetInt32(), mine.GetProperty("Comment").GetString(), mine.GetProperty("Priority").GetInt32()));
        Assert.Contains("lab work", mine.GetProperty("DataCollection").ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("item[Request Reason]", "", "Request Reason", 400)]
    [InlineData("priority", "999", "priority", 400)]
    [InlineData("priority", "seven", "priority", 400)]
    [InlineData("item[Not Collected]", "x", "Not Collected", 400)]
    public async Task NewRequest_HostileOrInvalidForm_SameRefusalAsTheApiNothingCreated(string field, string value, string named, int status)
    {
        var user = await UserWithPasswordAsync("portal-bad");
        var browser = await SignedInAsync(user);
        var page = $"{Root}/requests/new/{ServerFixture.ApprovedUserCertificate}";
        var token = AntiforgeryField().Match(await browser.GetStringAsync(page)).Groups[1].Value;
        var fields = new List<(string, string)> { ("__RequestVerificationToken", token), ("item[Request Reason]", "ok") };
        fields.RemoveAll(f => f.Item1 == field);
        fields.Add((field, value));
        var response = await browser.PostAsync(page, Form([.. fields]));
        Assert.Equal(status, (int)response.StatusCode);
        var html = await response.Content.ReadAsStringAsync();
        var alert = Regex.Match(html, "role=\"alert\"[^>]*>([^<]*)<").Groups[1].Value;
        Assert.Contains(named, System.Net.WebUtility.HtmlDecode(alert), StringComparison.OrdinalIgnoreCase);
        using var api = await _server.ClientAsync(user);
        Assert.Empty((await (await api.GetAsync($"{ServerFixture.Api}/requests")).JsonAsync()).EnumerateArray());
    }

    [Fact]
    public async Task NewRequest_UnknownOrHiddenTemplate_404()
    {
        var browser = await SignedInAsync(await UserWithPasswordAsync("portal-404"));
        Assert.Equal(HttpStatusCode.NotFound, (await browser.GetAsync($"{Root}/requests/new/{Guid.NewGuid()}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await browser.GetAsync($"{Root}/requests/new/not-a-guid")).StatusCode);
    }

    private async Task<Principal> ApproverAsync(string name)
    {
        var user = await _server.UserAsync(name, "CM Approvers");
        await _server.Services.GetRequiredService<Passwords>().SetAsync(new AuditContext(Guid.Empty, "test"), user, Password);
        return user;
    }

    private static async Task<HttpResponseMessage> PostOnPageAsync(HttpClient browser, string page, string handler, params (string, string)[] fields)
    {
        var token = AntiforgeryField().Match(await browser.GetStringAsync(page)).Groups[1].Value;
        return await browser.PostAsync($"{page}?handler={handler}", Form([("__RequestVerificationToken", token), .. fields]));
    }

    [Fact]
    public async Task Approvals_TwoApproversInTheBrowser_RequestApprovedOriginatorNeverVotes()
    {
        // Alice asks for a certificate that needs two approvals.
        var alice = await UserWithPasswordAsync("portal-alice");
        using var api = await _server.ClientAsync(alice);
        var id = await api.CreateIdAsync(ServerFixture.ApprovedUserCertificate, """[{"Request Reason":"portal"}]""");
        var page = $"{Root}/requests/{id}";

        // She sees it pending, may cancel it, and has nothing to vote on.
        var asAlice = await SignedInAsync(alice);
        var hers = await asAlice.GetStringAsync(page);
        Assert.Contains("Pending", hers, StringComparison.Ordinal);
        Assert.Contains("Cancel the request", hers, StringComparison.Ordinal);
        Assert.DoesNotContain("value=\"approve\"", hers, StringComparison.Ordinal);
        Assert.DoesNotContain(id.ToString("D"), await asAlice.GetStringAsync($"{Root}/approvals"), StringComparison.Ordinal);

        // Two approvers find it in their queue and approve it there.
        foreach (var name in new[] { "portal-ann", "portal-bob" })
        {
            var approver = await SignedInAsync(await ApproverAsync(name));
            Assert.Contains(id.ToString("D"), await approver.GetStringAsync($"{Root}/approvals"), StringComparison.Ordinal);
            var voted = await PostOnPageAsync(approver, page, "Vote", ("decision", "approve"), ("comment", "fine by " + name));
            Assert.Equal(HttpStatusCode.Redirect, voted.StatusCode);

            // A second vote by the same approver is what the API makes of it: counted once while
            // pending (an idempotent success), refused once the request has moved on.
            var again = await PostOnPageAsync(approver, page, "Vote", ("decision", "approve"));
            Assert.True(again.StatusCode is HttpStatusCode.Redirect or HttpStatusCode.Conflict, $"{again.StatusCode}");
        }

        var request = (await (await api.GetAsync($"{ServerFixture.Api}/requests/{id}")).JsonAsync());
        Assert.Equal(3, request.GetProperty("Status").GetInt32());
        var approved = await asAlice.GetStringAsync(page);
        Assert.Contains("fine by portal-ann", approved, StringComparison.Ordinal);
        Assert.Contains("Approvals (2 of 2)", approved, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RequestPage_CancelInTheBrowser_CanceledOthersSee404()
    {
        var carol = await UserWithPasswordAsync("portal-carol");
        using var api = await _server.ClientAsync(carol);
        var id = await api.CreateIdAsync(ServerFixture.UserCertificate);
        var page = $"{Root}/requests/{id}";

        // Another user, and an id that does not exist, look alike: 404.
        var eve = await SignedInAsync(await UserWithPasswordAsync("portal-eve"));
        Assert.Equal(HttpStatusCode.NotFound, (await eve.GetAsync(page)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await eve.GetAsync($"{Root}/requests/{Guid.NewGuid()}")).StatusCode);

        var asCarol = await SignedInAsync(carol);
        var bogus = await PostOnPageAsync(asCarol, page, "End", ("status", "Retired"));
        Assert.Equal(HttpStatusCode.BadRequest, bogus.StatusCode);

        // Completed before anything was issued: the state machine's answer, as through the API.
        Assert.Equal(HttpStatusCode.Conflict, (await PostOnPageAsync(asCarol, page, "End", ("status", "Completed"))).StatusCode);
        Assert.Equal(HttpStatusCode.Redirect, (await PostOnPageAsync(asCarol, page, "End", ("status", "Canceled"))).StatusCode);
        Assert.Equal(17, (await (await api.GetAsync($"{ServerFixture.Api}/requests/{id}")).JsonAsync()).GetProperty("Status").GetInt32());
        Assert.DoesNotContain("Cancel the request", await asCarol.GetStringAsync(page), StringComparison.Ordinal);
    }

    // A software profile in use for the user (enrolled through the API with a key made here).
    private async Task<Guid> ActiveProfileAsync(Principal user)
    {
        using var api = await _server.ClientAsync(user);
        var enroll = await api.CreateIdAsync(ServerFixture.UserCertificate);
        using var key = System.Security.Cryptography.RSA.Create(2048);
        var csr = Convert.ToBase64String(new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=x", key,
            System.Security.Cryptography.HashAlgorithmName.SHA256, System.Security.Cryptography.RSASignaturePadding.Pkcs1).CreateSigningRequest());
        Assert.Equal(HttpStatusCode.OK, (await api.PostAsync($"{ServerFixture.Api}/requests/{enroll}/certificatedata", Http.Json($$"""{"certificaterequests":["{{csr}}"]}"""))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await api.PutStatusAsync(enroll, "Completed")).StatusCode);
        return Guid.Parse((await (await api.GetAsync($"{ServerFixture.Api}/requests/{enroll}")).JsonAsync()).GetProperty("NewProfileUuid").GetString()!);
    }

    [Fact]
    public async Task HelpDesk_UsersProfile_ManagerRevokesItOnTheirBehalf()
    {
        var user = await _server.UserAsync("portal-revokee");
        var profile = await ActiveProfileAsync(user);
        var admin = (await _server.Services.GetRequiredService<IDirectory>().FindByNameAsync("admin"))!;
        await _server.Services.GetRequiredService<Passwords>().SetAsync(new AuditContext(Guid.Empty, "test"), admin, Password);
        var desk = await SignedInAsync(admin);

        // The help desk lists the user's profile with what a manager may start on it: Revoke among them.
        var found = System.Net.WebUtility.HtmlDecode(await desk.GetStringAsync($"{Root}/helpdesk?name={user.Name}"));
        var revoke = Regex.Match(found, "href=\"([^\"]*type=Revoke[^\"]*)\"").Groups[1].Value;
        Assert.Contains($"profile={profile}", revoke, StringComparison.Ordinal);
        var form = await desk.GetStringAsync(revoke);
        var token = AntiforgeryField().Match(form).Groups[1].Value;
        Assert.Equal(HttpStatusCode.Redirect, (await desk.PostAsync(revoke, Form(("__RequestVerificationToken", token), ("item[Revocation Reason]", "keyCompromise")))).StatusCode);

        // Revoked on the user's behalf, as the API would: the profile is disabled.
        using var api = await _server.ClientAsync(user);
        Assert.Equal("4", (await (await api.GetAsync($"{ServerFixture.Api}/profiles/{profile}")).JsonAsync()).GetProperty("Status").ToString());
    }

    [Fact]
    public async Task Home_ActiveProfile_OffersItsOperationsAndRetireRunsLikeTheApi()
    {
        var user = await UserWithPasswordAsync("portal-profile");
        using var api = await _server.ClientAsync(user);
        var profile = await ActiveProfileAsync(user);

        // The home page lists it with what the operations route offers; Retire goes through the same form.
        var browser = await SignedInAsync(user);
        var home = System.Net.WebUtility.HtmlDecode(await browser.GetStringAsync($"{Root}/"));
        var retire = $"{Root}/requests/new/{ServerFixture.UserCertificate}?type=Retire&profile={profile}";
        Assert.Contains("Your certificates", home, StringComparison.Ordinal);
        Assert.Contains($"href=\"{retire}\"", home, StringComparison.Ordinal);
        var form = await browser.GetStringAsync(retire);
        Assert.Contains("<h1>Retire: User Certificate</h1>", form, StringComparison.Ordinal);
        var token = AntiforgeryField().Match(form).Groups[1].Value;
        Assert.Equal(HttpStatusCode.Redirect, (await browser.PostAsync(retire, Form(("__RequestVerificationToken", token)))).StatusCode);
        Assert.Equal("5", (await (await api.GetAsync($"{ServerFixture.Api}/profiles/{profile}")).JsonAsync()).GetProperty("Status").ToString());

        // Another user's profile through the same form: the API's answer (unknown and not-yours alike), nothing created.
        var eve = await SignedInAsync(await UserWithPasswordAsync("portal-eve2"));
        var hostile = $"{Root}/requests/new/{ServerFixture.UserCertificate}?type=Revoke&profile={profile}";
        var eveToken = AntiforgeryField().Match(await eve.GetStringAsync(hostile)).Groups[1].Value;
        Assert.Equal(HttpStatusCode.BadRequest, (await eve.PostAsync(hostile, Form(("__RequestVerificationToken", eveToken)))).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await eve.GetAsync($"{Root}/requests/new/{ServerFixture.UserCertificate}?type=Bogus")).StatusCode);
    }

    [Fact]
    public async Task Errors_BrowserOnThePortal_HtmlPageApiClientsStillProblemJson()
    {
        var browser = await SignedInAsync(await UserWithPasswordAsync("portal-errors"));
        using var page = new HttpRequestMessage(HttpMethod.Get, $"{Root}/no/such/page");
        page.Headers.Accept.ParseAdd("text/html");
        var missing = await browser.SendAsync(page);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal("text/html", missing.Content.Headers.ContentType?.MediaType);
        var html = await missing.Content.ReadAsStringAsync();
        Assert.Contains("<h1>The resource does not exist.</h1>", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);

        // The API answers problem JSON whatever the client accepts.
        using var api = new HttpRequestMessage(HttpMethod.Get, $"{Root}/api/v1.0/no/such/route");
        api.Headers.Accept.ParseAdd("text/html");
        Assert.Equal("application/problem+json", (await browser.SendAsync(api)).Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task HelpDesk_ManagerAnswersAnOfflineUnblock_TheCardTakesTheResponseOthersSee404()
    {
        // A user with a card in use whose PIN is blocked.
        var owner = await _server.UserAsync("portal-card");
        using var client = new OpenCM.Client.OpenCmClient(_server.CreateClient(), await _server.TokenAsync(owner));
        var enroll = await client.CreateRequestAsync(new OpenCM.Contracts.CreateRequestBody(OpenCM.Contracts.WireRequestType.Enroll, ServerFixture.VirtualSmartcardVpn, [], Comment: ""));
        using var device = OpenCM.Cards.EmulatedCard.CreateVirtual(OpenCM.Smartcards.AdminKeys.FromHex("010203040506070801020304050607080102030405060708"));
        await new OpenCM.Client.CardClient(client).PersonalizeAsync(enroll, device, "246813");
        for (var i = 0; i < OpenCM.Cards.EmulatedCard.PinTries; i++)
        {
            Assert.Throws<OpenCM.Cards.CardException>(() => device.VerifyPin("000000"));
        }

        // Not a manager: the page is not there.
        var plain = await SignedInAsync(await UserWithPasswordAsync("portal-plain"));
        Assert.Equal(HttpStatusCode.NotFound, (await plain.GetAsync($"{Root}/helpdesk?name={owner.Name}")).StatusCode);

        // A manager finds the user and their card, and answers the challenge the user reads out.
        var admin = (await _server.Services.GetRequiredService<IDirectory>().FindByNameAsync("admin"))!;
        await _server.Services.GetRequiredService<Passwords>().SetAsync(new AuditContext(Guid.Empty, "test"), admin, Password);
        var desk = await SignedInAsync(admin);
        var page = $"{Root}/helpdesk?name={owner.Name}";
        var found = await desk.GetStringAsync(page);
        Assert.Contains(device.CardId.ToLowerInvariant(), found, StringComparison.Ordinal);
        var cardUuid = (await _server.Services.GetRequiredService<ISmartcardStore>().ForUserAsync(owner.Uuid)).Single().Uuid;
        var token = AntiforgeryField().Match(found).Groups[1].Value;

        var bad = await desk.PostAsync($"{page}&handler=Unblock", Form(("__RequestVerificationToken", token), ("name", owner.Name), ("card", cardUuid.ToString()), ("challenge", "xyz")));
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);

        // Post/redirect/get (issue #18.8): the answer is on the page the post redirects to.
        var posted = await desk.PostAsync($"{page}&handler=Unblock", Form(("__RequestVerificationToken", token), ("name", owner.Name), ("card", cardUuid.ToString()),
            ("challenge", Convert.ToHexString(device.GetChallenge()))));
        Assert.Equal(HttpStatusCode.Redirect, posted.StatusCode);
        var answered = await desk.GetAsync(posted.Headers.Location);
        Assert.Equal(HttpStatusCode.OK, answered.StatusCode);
        var response = Regex.Match(await answered.Content.ReadAsStringAsync(), "<strong><code>([0-9A-F]{16})</code></strong>").Groups[1].Value;
        device.UnblockPin(Convert.FromHexString(response), "975310");
        device.VerifyPin("975310");

        // The manager sees the unblock request's audit trail, and checks the whole chain.
        var unblock = Regex.Match(await answered.Content.ReadAsStringAsync(), "\\(request <code>([0-9a-f-]{36})</code>").Groups[1].Value;
        var trail = System.Net.WebUtility.HtmlDecode(await desk.GetStringAsync($"{Root}/requests/{unblock}"));
        Assert.Contains("Audit trail", trail, StringComparison.Ordinal);
        Assert.Contains("AdminChallengeAnswered", trail, StringComparison.Ordinal);
        Assert.Contains("RequestCreated", trail, StringComparison.Ordinal);
        await _server.Services.GetRequiredService<Passwords>().SetAsync(new AuditContext(Guid.Empty, "test"), owner, Password);
        var ownerPage = await (await SignedInAsync(owner)).GetStringAsync($"{Root}/requests/{unblock}");
        Assert.Contains("OfflineUnblock request", ownerPage, StringComparison.Ordinal); // the user may read the request…
        Assert.DoesNotContain("Audit trail", ownerPage, StringComparison.Ordinal);     // …but the trail is the help desk's
        Assert.Contains("The audit chain is intact", await desk.GetStringAsync($"{Root}/helpdesk?verify=chain"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task NewRequest_OnBehalf_OnlyForAnInitiatorAndForAUserThatExists()
    {
        var dora = await UserWithPasswordAsync("portal-dora");
        var page = $"{Root}/requests/new/{ServerFixture.UserCertificate}";

        // A plain user is not offered the field, and posting it anyway is the API's 403.
        var plain = await SignedInAsync(await UserWithPasswordAsync("portal-plain2"));
        var form = await plain.GetStringAsync(page);
        Assert.DoesNotContain("name=\"onbehalf\"", form, StringComparison.Ordinal);
        var refused = await plain.PostAsync(page, Form(("__RequestVerificationToken", AntiforgeryField().Match(form).Groups[1].Value), ("onbehalf", dora.Name)));
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);

        // A manager (the sample's initiator) asks for Dora; an unknown name is a 400.
        var admin = (await _server.Services.GetRequiredService<IDirectory>().FindByNameAsync("admin"))!;
        await _server.Services.GetRequiredService<Passwords>().SetAsync(new AuditContext(Guid.Empty, "test"), admin, Password);
        var desk = await SignedInAsync(admin);
        var deskForm = await desk.GetStringAsync(page);
        Assert.Contains("name=\"onbehalf\"", deskForm, StringComparison.Ordinal);
        var token = AntiforgeryField().Match(deskForm).Groups[1].Value;
        Assert.Equal(HttpStatusCode.BadRequest, (await desk.PostAsync(page, Form(("__RequestVerificationToken", token), ("onbehalf", "nobody-here")))).StatusCode);
        Assert.Equal(HttpStatusCode.Redirect, (await desk.PostAsync(page, Form(("__RequestVerificationToken", token), ("onbehalf", dora.Name)))).StatusCode);
        using var api = await _server.ClientAsync(dora);
        var hers = (await (await api.GetAsync($"{ServerFixture.Api}/requests")).JsonAsync()).EnumerateArray().Single();
        Assert.Equal((dora.Uuid, admin.Uuid), (hers.GetProperty("TargetUserUuid").GetGuid(), hers.GetProperty("OriginatorUserUuid").GetGuid()));
    }

    [Fact]
    public async Task NewRequest_OnBehalfByANonInitiator_SameAnswerForANameThatExistsAndOneThatDoesNot()
    {
        // Issue #18.8: 403 for an existing name and 400 for an unknown one told any user which names exist.
        var dora = await UserWithPasswordAsync("portal-dora2");
        var page = $"{Root}/requests/new/{ServerFixture.UserCertificate}";
        var plain = await SignedInAsync(await UserWithPasswordAsync("portal-probe"));
        var token = AntiforgeryField().Match(await plain.GetStringAsync(page)).Groups[1].Value;
        var answers = new List<(HttpStatusCode, string)>();
        foreach (var name in new[] { dora.Name, "nobody-by-this-name", "admin" })
        {
            var response = await plain.PostAsync(page, Form(("__RequestVerificationToken", token), ("onbehalf", name)));
            var alert = Regex.Match(await response.Content.ReadAsStringAsync(), "role=\"alert\"[^>]*>([^<]*)<").Groups[1].Value;
            answers.Add((response.StatusCode, alert));
        }

        Assert.Equal(HttpStatusCode.Forbidden, answers[0].Item1);
        Assert.All(answers, a => Assert.Equal(answers[0], a));
    }

    [Fact]
    public async Task Antiforgery_Cookie_ScopedToThePortalsPath()
    {
        var response = await Browser().GetAsync($"{Root}/signin");
        var cookie = response.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("opencm.antiforgery=", StringComparison.Ordinal));
        Assert.Contains($"path={Root}/", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", cookie, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task HelpDesk_UnblockFormPostedTwice_OneRequestAndTheSecondPostSaysSo()
    {
        var owner = await _server.UserAsync("portal-card2");
        using var client = new OpenCM.Client.OpenCmClient(_server.CreateClient(), await _server.TokenAsync(owner));
        var enroll = await client.CreateRequestAsync(new OpenCM.Contracts.CreateRequestBody(OpenCM.Contracts.WireRequestType.Enroll, ServerFixture.VirtualSmartcardVpn, [], Comment: ""));
        using var device = OpenCM.Cards.EmulatedCard.CreateVirtual(OpenCM.Smartcards.AdminKeys.FromHex("010203040506070801020304050607080102030405060708"));
        await new OpenCM.Client.CardClient(client).PersonalizeAsync(enroll, device, "246813");
        var admin = (await _server.Services.GetRequiredService<IDirectory>().FindByNameAsync("admin"))!;
        await _server.Services.GetRequiredService<Passwords>().SetAsync(new AuditContext(Guid.Empty, "test"), admin, Password);
        var desk = await SignedInAsync(admin);
        var page = $"{Root}/helpdesk?name={owner.Name}";
        var found = await desk.GetStringAsync(page);
        var cardUuid = (await _server.Services.GetRequiredService<ISmartcardStore>().ForUserAsync(owner.Uuid)).Single().Uuid;
        var form = Form(("__RequestVerificationToken", AntiforgeryField().Match(found).Groups[1].Value), ("name", owner.Name), ("card", cardUuid.ToString()),
            ("once", Regex.Match(found, "name=\"once\" value=\"([0-9a-f]{32})\"").Groups[1].Value), ("challenge", Convert.ToHexString(device.GetChallenge())));

        // The same form twice (a reload of the post, a double click): both redirect, one request is made.
        var first = await desk.PostAsync($"{page}&handler=Unblock", form);
        var firstPage = await desk.GetStringAsync(first.Headers.Location);
        var second = await desk.PostAsync($"{page}&handler=Unblock", form);
        Assert.Equal((HttpStatusCode.Redirect, HttpStatusCode.Redirect), (first.StatusCode, second.StatusCode));
        Assert.Matches("<strong><code>[0-9A-F]{16}</code></strong>", firstPage);
        var secondPage = await desk.GetStringAsync(second.Headers.Location);
        Assert.Contains("answered already", secondPage, StringComparison.Ordinal);
        Assert.DoesNotMatch("<strong><code>[0-9A-F]{16}</code></strong>", secondPage);
        Assert.Single(Regex.Matches(secondPage, "OfflineUnblock, Completed"));
    }

    // Hostile values on every portal form: a page that says no (4xx), never a 5xx or a stack trace.
    public static TheoryData<string, string, string, string, int> HostileForms() => new()
    {
        { "/signin", "", "name", new string('n', 5000), 401 },
        { "/signin", "", "name", "ad\u0000min", 400 }, // refused before the password is looked at
        { "/signin", "", "password", new string('p', 200_000), 401 },
        { "/signin", "", "returnUrl", "//evil.example/%2e%2e", 401 },
        { "/requests/new/{template}", "", "priority", "99999999999999999999", 400 },
        { "/requests/new/{template}", "", "item[Request Reason]", "\u0000\ud800", 400 },
        { "/requests/new/{template}", "", "onbehalf", new string('u', 5000), 403 }, // not an initiator: refused before any name is looked up
        { "/requests/{request}", "Vote", "decision", "maybe", 400 },
        { "/requests/{request}", "End", "status", "Completed\u0000", 400 },
        { "/requests/{request}", "Bogus", "x", "y", 400 },
        { "/requests/{request}", "Issue", "csr", "MIIB", 409 }, // pending: nothing to issue yet
        { "/requests/{approved}", "Issue", "csr", "not base64 !!", 400 },
        { "/requests/{approved}", "Issue", "csr", new string('A', 300_000), 400 },
        { "/requests/{approved}", "Issue", "csr", "-----BEGIN CERTIFICATE REQUEST-----\nMAA=\n-----END CERTIFICATE REQUEST-----", 400 },
        { "/requests/{approved}", "Issue", "password", "pass\u0000word", 400 },
        { "/requests/{approved}", "Issue", "password", new string('p', 5000), 400 },
        { "/approvals", "", "x", "y", 400 }, // a page without a POST at all
        { "/signin", "Authority", "returnUrl", "https://evil.example/", 404 }, // no authority configured here
        { "/helpdesk?name={admin}", "Unblock", "challenge", new string('F', 5000), 400 },
        { "/helpdesk?name={admin}", "Unblock", "card", "not-a-guid", 400 },
    };

    [Theory]
    [MemberData(nameof(HostileForms))]
    public async Task Forms_HostileValues_4xxNever5xx(string path, string handler, string field, string value, int status)
    {
        var user = await UserWithPasswordAsync("portal-hostile");
        var admin = (await _server.Services.GetRequiredService<IDirectory>().FindByNameAsync("admin"))!;
        await _server.Services.GetRequiredService<Passwords>().SetAsync(new AuditContext(Guid.Empty, "test"), admin, Password);
        var browser = path.StartsWith("/helpdesk", StringComparison.Ordinal) ? await SignedInAsync(admin) : path == "/signin" ? Browser() : await SignedInAsync(user);
        using var api = await _server.ClientAsync(user);
        var request = path.Contains("{request}", StringComparison.Ordinal)
            ? await api.CreateIdAsync(ServerFixture.ApprovedUserCertificate, """[{"Request Reason":"x"}]""")
            : path.Contains("{approved}", StringComparison.Ordinal) ? await api.CreateIdAsync(ServerFixture.UserCertificate) : Guid.Empty;
        var page = Root + path.Replace("{template}", ServerFixture.ApprovedUserCertificate.ToString(), StringComparison.Ordinal)
            .Replace("{request}", request.ToString(), StringComparison.Ordinal).Replace("{approved}", request.ToString(), StringComparison.Ordinal).Replace("{admin}", "admin", StringComparison.Ordinal);
        var token = AntiforgeryField().Match(await browser.GetStringAsync(page)).Groups[1].Value;
        var fields = new List<(string, string)> { ("__RequestVerificationToken", token), ("name", user.Name), ("password", "wrong one"), ("item[Request Reason]", "ok") };
        fields.RemoveAll(f => f.Item1 == field);
        fields.Add((field, value));
        var target = handler.Length == 0 ? page : $"{page}{(page.Contains('?', StringComparison.Ordinal) ? "&" : "?")}handler={handler}";
        var response = await browser.PostAsync(target, Form([.. fields]));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == status, $"{(int)response.StatusCode} for {path} {field}: {body[..Math.Min(300, body.Length)]}");
        Assert.DoesNotContain("Exception", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SignIn_ReturnUrlOffSite_GoesHomeInstead()
    {
        var user = await UserWithPasswordAsync("portal-redirect");
        var browser = Browser();
        var token = await AntiforgeryAsync(browser, $"{Root}/signin");
        var response = await browser.PostAsync($"{Root}/signin?returnUrl=https%3A%2F%2Fevil.example%2F",
            Form(("__RequestVerificationToken", token), ("name", user.Name), ("password", Password), ("returnUrl", "https://evil.example/")));
        Assert.Equal($"{Root}/", response.Headers.Location!.OriginalString);
    }

    [Fact]
    public async Task IssueStep_CsrFromThePage_Pkcs7OnceThenComplete()
    {
        var user = await UserWithPasswordAsync("portal-keys");
        using var api = await _server.ClientAsync(user);
        var id = await api.CreateIdAsync(ServerFixture.UserCertificate);
        var browser = await SignedInAsync(user);

        // 1. The page offers the key step with what the browser needs to make the key, and its script.
        var page = await browser.GetStringAsync($"{Root}/requests/{id}");
        Assert.Contains("id=\"issue-keys\"", page, StringComparison.Ordinal);
        Assert.Contains("&quot;algorithm&quot;:&quot;Rsa&quot;", page, StringComparison.Ordinal);
        Assert.Contains($"{Root}/static/enroll.js", page, StringComparison.Ordinal);
        var token = AntiforgeryField().Match(page).Groups[1].Value;

        // 2. A CSR posted as the page's script does: the PKCS#7 of the certificate, for this user.
        using var rsa = System.Security.Cryptography.RSA.Create(2048);
        var csr = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=x", rsa, System.Security.Cryptography.HashAlgorithmName.SHA256,
            System.Security.Cryptography.RSASignaturePadding.Pkcs1).CreateSigningRequestPem();
        var issued = await browser.PostAsync($"{Root}/requests/{id}?handler=Issue", Form(("__RequestVerificationToken", token), ("csr", csr)));
        Assert.Equal(HttpStatusCode.OK, issued.StatusCode);
        var file = (await issued.JsonAsync()).GetProperty("files").EnumerateArray().Single();
        Assert.Equal("pkcs7", file.GetProperty("kind").GetString());
        var cms = new System.Security.Cryptography.Pkcs.SignedCms();
        cms.Decode(Convert.FromBase64String(file.GetProperty("data").GetString()!));
        var leaf = cms.Certificates.Single(c => c.GetRSAPublicKey()?.ExportSubjectPublicKeyInfo().SequenceEqual(rsa.ExportSubjectPublicKeyInfo()) == true);
        Assert.Contains($"CN={user.Name}", leaf.Subject, StringComparison.Ordinal);
        Assert.Matches("^OpenCMUser-[0-9a-f]+\\.pfx$", file.GetProperty("name").GetString()!);

        // 3. Once per execution, as through the API: a second post is a conflict, and the page now offers Complete instead.
        var again = await browser.PostAsync($"{Root}/requests/{id}?handler=Issue", Form(("__RequestVerificationToken", token), ("csr", csr)));
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        var executing = await browser.GetStringAsync($"{Root}/requests/{id}");
        Assert.DoesNotContain("id=\"issue-keys\"", executing, StringComparison.Ordinal);
        Assert.Contains("value=\"Completed\"", executing, StringComparison.Ordinal);
        var done = await browser.PostAsync($"{Root}/requests/{id}?handler=End", Form(("__RequestVerificationToken", token), ("status", "Completed")));
        Assert.Equal(HttpStatusCode.Redirect, done.StatusCode);
        Assert.Equal((int)OpenCM.Domain.RequestStatus.Completed, (await (await api.GetAsync($"{ServerFixture.Api}/requests/{id}")).JsonAsync()).GetProperty("Status").GetInt32());
    }

    [Fact]
    public async Task IssueStep_SomeoneElsesRequest_404LikeUnknown()
    {
        var owner = await UserWithPasswordAsync("portal-keys-owner");
        using var api = await _server.ClientAsync(owner);
        var id = await api.CreateIdAsync(ServerFixture.UserCertificate);
        var other = await SignedInAsync(await UserWithPasswordAsync("portal-keys-other"));
        var token = await AntiforgeryAsync(other, $"{Root}/");
        var theirs = await other.PostAsync($"{Root}/requests/{id}?handler=Issue", Form(("__RequestVerificationToken", token), ("csr", "MIIB")));
        var unknown = await other.PostAsync($"{Root}/requests/{Guid.NewGuid()}?handler=Issue", Form(("__RequestVerificationToken", token), ("csr", "MIIB")));
        Assert.Equal(HttpStatusCode.NotFound, theirs.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal((await unknown.JsonAsync()).GetProperty("errorCode").GetString(), (await theirs.JsonAsync()).GetProperty("errorCode").GetString());

        // Without the antiforgery token nothing is even looked at.
        Assert.Equal(HttpStatusCode.BadRequest, (await other.PostAsync($"{Root}/requests/{id}?handler=Issue", Form(("csr", "MIIB")))).StatusCode);
    }

    [Theory]
    [InlineData("portal.css", "text/css")]
    [InlineData("enroll.js", "text/javascript")]
    [InlineData("keys.js", "text/javascript")]
    [InlineData("vendor/pkijs.bundle.js", "text/javascript")]
    public async Task StaticFiles_Known_ServedWithTypeAndETag(string file, string type)
    {
        var response = await Browser().GetAsync($"{Root}/static/{file}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(type, response.Content.Headers.ContentType!.MediaType);
        Assert.NotNull(response.Headers.ETag);
        Assert.Contains("script-src 'self'", response.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("vendor/README.md")]
    [InlineData("vendor/make-bundle.sh")]
    [InlineData("../appsettings.json")]
    [InlineData("%2e%2e/%2e%2e/Program.cs")]
    [InlineData("nothing.js")]
    public async Task StaticFiles_NotEmbedded_404(string file)
    {
        Assert.Equal(HttpStatusCode.NotFound, (await Browser().GetAsync($"{Root}/static/{file}")).StatusCode);
    }

    private static string RsaCsr()
    {
        using var rsa = System.Security.Cryptography.RSA.Create(2048);
        return new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=x", rsa, System.Security.Cryptography.HashAlgorithmName.SHA256,
            System.Security.Cryptography.RSASignaturePadding.Pkcs1).CreateSigningRequestPem();
    }

    private static async Task<HttpResponseMessage> IssueOnPageAsync(HttpClient browser, Guid id, params (string, string)[] fields)
    {
        var token = AntiforgeryField().Match(await browser.GetStringAsync($"{Root}/requests/{id}")).Groups[1].Value;
        return await browser.PostAsync($"{Root}/requests/{id}?handler=Issue", Form([("__RequestVerificationToken", token), .. fields]));
    }

    private static StringContent OnProfile(string type, Guid profile) =>
        Http.Json($$"""{"type":"{{type}}","profile":"{{profile}}","datacollection":[],"comment":""}""");

    [Fact]
    public async Task IssueStep_RenewAndRecover_TheKeyStepEachNeeds()
    {
        var user = await UserWithPasswordAsync("portal-renew");
        using var api = await _server.ClientAsync(user);
        var browser = await SignedInAsync(user);

        // 1. A software certificate issued through the page and completed.
        var enroll = await api.CreateIdAsync(ServerFixture.UserCertificate);
        Assert.Equal(HttpStatusCode.OK, (await IssueOnPageAsync(browser, enroll, ("csr", RsaCsr()))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await api.PutStatusAsync(enroll, "Completed")).StatusCode);
        var profile = Guid.Parse((await (await api.GetAsync($"{ServerFixture.Api}/requests/{enroll}")).JsonAsync()).GetProperty("NewProfileUuid").GetString()!);

        // 2. Renew: a new key made in the browser, as for Enroll.
        var renew = Guid.Parse((await (await api.PostAsync($"{ServerFixture.Api}/requests", OnProfile("Renew", profile))).JsonAsync()).GetString()!.Split('/')[^1]);
        var renewPage = await browser.GetStringAsync($"{Root}/requests/{renew}");
        Assert.Contains("id=\"issue-keys\"", renewPage, StringComparison.Ordinal);
        Assert.Contains("data-server-keys=\"false\"", renewPage, StringComparison.Ordinal);
        var renewed = await IssueOnPageAsync(browser, renew, ("csr", RsaCsr()));
        Assert.Equal("pkcs7", (await renewed.JsonAsync()).GetProperty("files")[0].GetProperty("kind").GetString());

        // 3. Recover of an archived key: nothing to make here; the server's PFX under the password given now.
        var archived = await api.CreateIdAsync(Guid.Parse("2c7e9a51-64d8-4b3f-9a0e-5f1d2b3c4a75"));
        var first = await IssueOnPageAsync(browser, archived, ("password", "first password"));
        Assert.Equal("pfx", (await first.JsonAsync()).GetProperty("files")[0].GetProperty("kind").GetString());
        Assert.Equal(HttpStatusCode.OK, (await api.PutStatusAsync(archived, "Completed")).StatusCode);
        var archivedProfile = Guid.Parse((await (await api.GetAsync($"{ServerFixture.Api}/requests/{archived}")).JsonAsync()).GetProperty("NewProfileUuid").GetString()!);
        var recover = Guid.Parse((await (await api.PostAsync($"{ServerFixture.Api}/requests", OnProfile("Recover", archivedProfile))).JsonAsync()).GetString()!.Split('/')[^1]);
        var recoverPage = await browser.GetStringAsync($"{Root}/requests/{recover}");
        Assert.Contains("data-options=\"[]\"", recoverPage, StringComparison.Ordinal);
        Assert.Contains("data-server-keys=\"true\"", recoverPage, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, (await IssueOnPageAsync(browser, recover)).StatusCode); // no password, nothing claimed
        var recovered = (await (await IssueOnPageAsync(browser, recover, ("password", "second password"))).JsonAsync()).GetProperty("files")[0];
        Assert.True(recovered.GetProperty("keyHistory").GetBoolean());
        using var key = X509CertificateLoader.LoadPkcs12(Convert.FromBase64String(recovered.GetProperty("data").GetString()!), "second password");
        Assert.True(key.HasPrivateKey);
    }

    [Fact]
    public async Task RequestPage_SmartcardRequest_SaysTheCardClientRunsItAndOffersNoBrowserKey()
    {
        var user = await UserWithPasswordAsync("portal-vsc");
        using var api = await _server.ClientAsync(user);
        var id = await api.CreateIdAsync(ServerFixture.VirtualSmartcardVpn);
        var page = await (await SignedInAsync(user)).GetStringAsync($"{Root}/requests/{id}");
        Assert.Contains("At the card", page, StringComparison.Ordinal);
        Assert.DoesNotContain("id=\"issue-keys\"", page, StringComparison.Ordinal);
    }

    // Issue #22: the page names the command that carries the request out on the card's computer, with the request's values.
    [Fact]
    public async Task RequestPage_ApprovedSmartcardEnroll_ShowsTheCardEnrollCommandWithThisRequest()
    {
        var user = await UserWithPasswordAsync("portal-cmd");
        using var api = await _server.ClientAsync(user);
        var id = await api.CreateIdAsync(ServerFixture.VirtualSmartcardVpn);
        var page = WebUtility.HtmlDecode(await (await SignedInAsync(user)).GetStringAsync($"{Root}/requests/{id}"));
        var command = Regex.Match(page, "<code id=\"card-command\">([^<]*)</code>").Groups[1].Value;
        Assert.Matches($"^opencm card enroll --server \"https?://[^\"]+\" --reader \"READER\" --request {id}$", command);
        Assert.Contains("opencm card readers", page, StringComparison.Ordinal);
    }
}
