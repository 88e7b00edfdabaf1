using System.Net;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using OpenCM.Application;
using OpenCM.TestKit;

namespace OpenCM.Server.Tests;

/// <summary>A server whose portal signs in with a test OIDC authority; its clock starts at the wall clock, since browsers (and HttpClient) drop cookies that expired by it.</summary>
public sealed class PortalAuthorityFixture : ServerFixture
{
    public PortalAuthorityFixture()
    {
        Clock.SetUtcNow(DateTimeOffset.UtcNow);
        Provider = TestOidcProvider.StartAsync(Clock).GetAwaiter().GetResult();
    }

    public TestOidcProvider Provider { get; }

    protected override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>
    {
        ["Auth:Authority"] = Provider.Issuer,
        ["Auth:RequireHttpsMetadata"] = "false",
        ["Auth:PortalClientId"] = TestOidcProvider.ClientId,
        ["Auth:PortalClientSecret"] = TestOidcProvider.ClientSecret,
        ["Auth:PortalDisplayName"] = "Test authority",
    };

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        await Provider.DisposeAsync();
    }
}

/// <summary>Issue #10.1: portal sign-in with the configured OIDC authority (authorization code flow with PKCE).</summary>
public sealed partial class PortalAuthorityTests : IClassFixture<PortalAuthorityFixture>
{
    private const string Root = "/CertificateManagement";
    private readonly PortalAuthorityFixture _server;

    public PortalAuthorityTests(PortalAuthorityFixture server) => _server = server;

    [GeneratedRegex("name=\"__RequestVerificationToken\" type=\"hidden\" value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryField();

    [GeneratedRegex("<input type=\"hidden\" name=\"([^\"]+)\" value=\"([^\"]*)\">")]
    private static partial Regex HiddenField();

    private HttpClient Browser() => _server.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });

    private static FormUrlEncodedContent Form(IEnumerable<(string Name, string Value)> fields) => new(fields.Select(f => KeyValuePair.Create(f.Name, f.Value)));

    // 1. The sign-in page's authority button; 2. the authority's form, answered as `user`. Returns where the authority sent the browser back.
    private async Task<Uri> AtTheAuthorityAsync(HttpClient browser, string user, string returnUrl = "")
    {
        var page = await browser.GetStringAsync($"{Root}/signin");
        var token = AntiforgeryField().Match(page).Groups[1].Value;
        var challenge = await browser.PostAsync($"{Root}/signin?handler=Authority", Form([("__RequestVerificationToken", token), ("returnUrl", returnUrl)]));
        Assert.Equal(HttpStatusCode.Redirect, challenge.StatusCode);
        var authorize = challenge.Headers.Location!;
        Assert.StartsWith(_server.Provider.Issuer + "/authorize?", authorize.AbsoluteUri, StringComparison.Ordinal);
        Assert.Contains("code_challenge_method=S256", authorize.Query, StringComparison.Ordinal);
        Assert.DoesNotContain("response_mode=form_post", authorize.Query, StringComparison.Ordinal); // query, the code flow's default

        using var authority = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false });
        var form = await authority.GetStringAsync(authorize);
        var fields = HiddenField().Matches(form).Select(m => (m.Groups[1].Value, WebUtility.HtmlDecode(m.Groups[2].Value))).Append(("user", user));
        var back = await authority.PostAsync(_server.Provider.Issuer + "/authorize", Form(fields));
        Assert.Equal(HttpStatusCode.Redirect, back.StatusCode);
        return back.Headers.Location!;
    }

    [Fact]
    public async Task SignInPage_AuthorityConfigured_OffersItBesidePasswords()
    {
        var page = await Browser().GetStringAsync($"{Root}/signin");
        Assert.Contains("Sign in with Test authority", page, StringComparison.Ordinal);
        Assert.Contains("name=\"password\"", page, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Authority_KnownUser_SessionThroughLandingPageThenHome()
    {
        // 1. A directory user the authority knows by oid (as Entra ID sends it), with no SID in the token.
        var user = await _server.UserAsync("oidc");
        _server.Provider.Users[user.Name] = new Dictionary<string, object> { ["sub"] = "pairwise-" + user.Name, ["oid"] = user.Uuid.ToString(), ["name"] = user.Name };
        var browser = Browser();
        var back = await AtTheAuthorityAsync(browser, user.Name, $"{Root}/approvals");

        // 2. The callback redeems the code (PKCE, client secret) and lands on the portal's own page.
        var callback = await browser.GetAsync(back.PathAndQuery);
        Assert.Equal(HttpStatusCode.Redirect, callback.StatusCode);
        Assert.StartsWith($"{Root}/signedin?returnUrl=", callback.Headers.Location!.OriginalString, StringComparison.Ordinal);
        var cookie = callback.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("opencm.portal=", StringComparison.Ordinal));
        Assert.Contains("samesite=strict", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);

        // 3. The landing page opens the return URL from the portal's own page (so the Strict cookie goes with it).
        var landing = await browser.GetStringAsync(callback.Headers.Location!.OriginalString);
        Assert.Contains($"<meta http-equiv=\"refresh\" content=\"0;url={Root}/approvals\">", landing, StringComparison.Ordinal);
        var home = await browser.GetAsync($"{Root}/");
        Assert.Equal(HttpStatusCode.OK, home.StatusCode);
        Assert.Contains($"Hello, {user.Name}", await home.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // 4. The same caller as the API: a request made in the portal is the directory user's.
        using var api = await _server.ClientAsync(user);
        var id = await api.CreateIdAsync(ServerFixture.UserCertificate);
        Assert.Contains(id.ToString("D"), await browser.GetStringAsync($"{Root}/"), StringComparison.Ordinal);

        // 5. The code was single-use: the same callback again signs no one in, and is no 500.
        var replay = await Browser().GetAsync(back.PathAndQuery);
        Assert.Equal(HttpStatusCode.Redirect, replay.StatusCode);
        Assert.Equal($"{Root}/signin?failed=authority", replay.Headers.Location!.OriginalString);
    }

    [Fact]
    public async Task Authority_UserNotInDirectoryAndNoSid_NoSession()
    {
        _server.Provider.Users["stranger"] = new Dictionary<string, object> { ["sub"] = Guid.NewGuid().ToString(), ["name"] = "stranger" };
        var browser = Browser();
        var callback = await browser.GetAsync((await AtTheAuthorityAsync(browser, "stranger")).PathAndQuery);
        Assert.Equal($"{Root}/signin?failed=authority", callback.Headers.Location!.OriginalString);
        Assert.DoesNotContain(callback.Headers.TryGetValues("Set-Cookie", out var set) ? set : [], c => c.StartsWith("opencm.portal=", StringComparison.Ordinal));
        var page = await browser.GetAsync(callback.Headers.Location!.OriginalString);
        Assert.Equal(HttpStatusCode.Unauthorized, page.StatusCode);
        Assert.Contains("did not name a user OpenCM knows", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Redirect, (await browser.GetAsync($"{Root}/")).StatusCode);
    }

    [Fact]
    public async Task Authority_UserWithSidAndGroups_RightsFromTheToken()
    {
        // ADFS sends the SID and group SIDs: a manager by token sees the help desk.
        var managers = (await _server.Services.GetRequiredService<IDirectory>().FindByNameAsync("CM Managers"))!;
        var uuid = Guid.NewGuid();
        _server.Provider.Users["manager"] = new Dictionary<string, object>
        {
            ["sub"] = "adfs-subject", // OIDC requires it; OpenCM reads the user from objectguid first
            ["objectguid"] = Convert.ToBase64String(uuid.ToByteArray()),
            ["primarysid"] = "S-1-5-21-7-7-7-1201",
            ["groupsid"] = new[] { managers.Sid.Value },
            ["name"] = "Mona Manager",
        };
        var browser = Browser();
        var callback = await browser.GetAsync((await AtTheAuthorityAsync(browser, "manager")).PathAndQuery);
        Assert.Equal(HttpStatusCode.Redirect, callback.StatusCode);
        Assert.StartsWith($"{Root}/signedin", callback.Headers.Location!.OriginalString, StringComparison.Ordinal);
        var desk = await browser.GetAsync($"{Root}/helpdesk");
        Assert.Equal(HttpStatusCode.OK, desk.StatusCode);
        Assert.Contains("Mona Manager", await desk.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Authority_Refused_BackToSignInWithoutSession()
    {
        var browser = Browser();
        var back = await AtTheAuthorityAsync(browser, "nobody-at-the-authority");
        Assert.Contains("error=access_denied", back.Query, StringComparison.Ordinal);
        var callback = await browser.GetAsync(back.PathAndQuery);
        Assert.Equal(HttpStatusCode.Redirect, callback.StatusCode);
        Assert.Equal($"{Root}/signin?failed=authority", callback.Headers.Location!.OriginalString);
    }

    [Theory]
    [InlineData("/signin-oidc")]
    [InlineData("/signin-oidc?code=forged&state=forged")]
    [InlineData("/signin-oidc?state=%00%ff&code=")]
    [InlineData("/signin-oidc?error=server_error&error_description=%3Cscript%3E")]
    public async Task Callback_Forged_BackToSignInNever5xx(string query)
    {
        var response = await Browser().GetAsync(Root + query);
        Assert.True((int)response.StatusCode < 500, $"{(int)response.StatusCode}");
        Assert.DoesNotContain("<script>", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.DoesNotContain(response.Headers.TryGetValues("Set-Cookie", out var set) ? set : [], c => c.StartsWith("opencm.portal=", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("https://evil.example/")]
    [InlineData("//evil.example/")]
    [InlineData("/elsewhere")]
    public async Task Landing_ReturnUrlOffSite_GoesHome(string returnUrl)
    {
        var landing = await Browser().GetStringAsync($"{Root}/signedin?returnUrl={Uri.EscapeDataString(returnUrl)}");
        Assert.Contains($"content=\"0;url={Root}/\"", landing, StringComparison.Ordinal);
    }
}
