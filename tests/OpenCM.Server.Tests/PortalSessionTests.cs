using System.Net;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using OpenCM.Application;

namespace OpenCM.Server.Tests;

/// <summary>A server of its own: these tests move its clock.</summary>
public sealed class SessionFixture : ServerFixture
{
}

/// <summary>Issue #18.6: portal sessions end on the server, not when a copied cookie stops being sent.</summary>
public sealed partial class PortalSessionTests : IClassFixture<SessionFixture>
{
    private const string Root = "/CertificateManagement";
    private const string Password = "session password 1";
    private readonly SessionFixture _server;

    public PortalSessionTests(SessionFixture server) => _server = server;

    [GeneratedRegex("name=\"__RequestVerificationToken\" type=\"hidden\" value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryField();

    private static FormUrlEncodedContent Form(params (string Name, string Value)[] fields) => new(fields.Select(f => KeyValuePair.Create(f.Name, f.Value)));

    private HttpClient Browser() => _server.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });

    private async Task<(Principal User, HttpClient Browser, string Cookie)> SignedInAsync(string name)
    {
        var user = await _server.UserAsync(name);
        await _server.Services.GetRequiredService<Passwords>().SetAsync(new AuditContext(Guid.Empty, "test"), user, Password);
        var browser = Browser();
        var token = AntiforgeryField().Match(await browser.GetStringAsync($"{Root}/signin")).Groups[1].Value;
        var signedIn = await browser.PostAsync($"{Root}/signin", Form(("__RequestVerificationToken", token), ("name", user.Name), ("password", Password)));
        Assert.Equal(HttpStatusCode.Redirect, signedIn.StatusCode);
        var cookie = signedIn.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("opencm.portal=", StringComparison.Ordinal)).Split(';')[0];
        return (user, browser, cookie);
    }

    // Another browser holding a copy of the cookie (stolen, or left on a shared machine).
    private async Task<HttpResponseMessage> WithCopyAsync(string cookie)
    {
        var copy = _server.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = false });
        copy.DefaultRequestHeaders.Add("Cookie", cookie);
        return await copy.GetAsync($"{Root}/");
    }

    private static void AssertSignInAsked(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.StartsWith($"{Root}/signin", response.Headers.Location!.PathAndQuery, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CopiedCookie_AfterSignOut_SignInAsked()
    {
        var (_, browser, cookie) = await SignedInAsync("session-out");
        Assert.Equal(HttpStatusCode.OK, (await WithCopyAsync(cookie)).StatusCode);

        var token = AntiforgeryField().Match(await browser.GetStringAsync($"{Root}/")).Groups[1].Value;
        Assert.Equal(HttpStatusCode.Redirect, (await browser.PostAsync($"{Root}/signout", Form(("__RequestVerificationToken", token)))).StatusCode);

        AssertSignInAsked(await WithCopyAsync(cookie));
    }

    [Fact]
    public async Task CopiedCookie_AfterSetPassword_SignInAskedOtherUsersKept()
    {
        var (user, _, cookie) = await SignedInAsync("session-pw");
        var (_, _, otherCookie) = await SignedInAsync("session-kept");
        Assert.Equal(HttpStatusCode.OK, (await WithCopyAsync(cookie)).StatusCode);

        // As `opencm users set-password` does.
        await _server.Services.GetRequiredService<Passwords>().SetAsync(new AuditContext(Guid.Empty, "test"), user, "another password 2");

        AssertSignInAsked(await WithCopyAsync(cookie));
        Assert.Equal(HttpStatusCode.OK, (await WithCopyAsync(otherCookie)).StatusCode);
    }

    [Fact]
    public async Task ActiveSession_PastTheAbsoluteLifetime_SignInAsked()
    {
        var (_, browser, _) = await SignedInAsync("session-old");

        // Active within every sliding window (8 hours), the session still ends 12 hours after sign-in.
        _server.Clock.Advance(TimeSpan.FromHours(6));
        Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync($"{Root}/")).StatusCode);
        _server.Clock.Advance(TimeSpan.FromHours(5));
        Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync($"{Root}/")).StatusCode);
        _server.Clock.Advance(TimeSpan.FromHours(1.5));

        AssertSignInAsked(await browser.GetAsync($"{Root}/"));
    }
}
