using System.Net;
using System.Security.Claims;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using OpenCM.Application;

namespace OpenCM.Server.Tests;

/// <summary>A caller source registered ahead of the others, that only counts what it is asked.</summary>
public sealed class CountingSource : ICallerSource
{
    private int _asked;

    public int Asked => _asked;

    public void Reset() => Interlocked.Exchange(ref _asked, 0);

    public ValueTask<Caller?> TryResolveAsync(ClaimsPrincipal principal, CancellationToken ct)
    {
        Interlocked.Increment(ref _asked);
        return ValueTask.FromResult<Caller?>(null);
    }
}

public sealed class CountingSourceFixture : ServerFixture
{
    public CountingSource Source { get; } = new();

    protected override void ConfigureServices(IServiceCollection services) => services.Insert(0, ServiceDescriptor.Singleton<ICallerSource>(Source));
}

/// <summary>Issue #17.5: one chain of caller sources, asked once per HTTP request whatever the front-end.</summary>
public sealed partial class CallerChainTests : IClassFixture<CountingSourceFixture>
{
    private const string Root = "/CertificateManagement";
    private const string Password = "chain password 1";
    private readonly CountingSourceFixture _server;

    public CallerChainTests(CountingSourceFixture server) => _server = server;

    [GeneratedRegex("name=\"__RequestVerificationToken\" type=\"hidden\" value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryField();

    private static FormUrlEncodedContent Form(params (string Name, string Value)[] fields) => new(fields.Select(f => KeyValuePair.Create(f.Name, f.Value)));

    [Fact]
    public async Task PortalPost_ReadsTheCallerTwice_ResolvedOnce()
    {
        var user = await _server.UserAsync("chain-portal");
        await _server.Services.GetRequiredService<Passwords>().SetAsync(new AuditContext(Guid.Empty, "test"), user, Password);
        var browser = _server.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });
        var signIn = AntiforgeryField().Match(await browser.GetStringAsync($"{Root}/signin")).Groups[1].Value;
        Assert.Equal(HttpStatusCode.Redirect, (await browser.PostAsync($"{Root}/signin", Form(("__RequestVerificationToken", signIn), ("name", user.Name), ("password", Password)))).StatusCode);
        var page = $"{Root}/requests/new/{ServerFixture.UserCertificate}";
        var token = AntiforgeryField().Match(await browser.GetStringAsync(page)).Groups[1].Value;

        // The new-request post loads the template as the caller sees it, then creates as the caller.
        _server.Source.Reset();
        Assert.Equal(HttpStatusCode.Redirect, (await browser.PostAsync(page, Form(("__RequestVerificationToken", token)))).StatusCode);
        Assert.Equal(1, _server.Source.Asked);
    }

    [Fact]
    public async Task ApiCall_ThroughTheChain_ResolvedOnce()
    {
        var api = await _server.ClientAsync(await _server.UserAsync("chain-api"));
        _server.Source.Reset();
        Assert.Equal(HttpStatusCode.Created, (await api.CreateAsync(ServerFixture.UserCertificate)).StatusCode);
        Assert.Equal(1, _server.Source.Asked);
    }
}
