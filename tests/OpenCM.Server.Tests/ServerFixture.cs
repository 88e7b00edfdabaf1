using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using OpenCM.Application;
using OpenCM.Server.Auth;
using OpenCM.TestKit;

namespace OpenCM.Server.Tests;

/// <summary>The real server on a fresh SQLite data directory, with time pinned.</summary>
public class ServerFixture : WebApplicationFactory<Program>
{
    public const string Api = "/CertificateManagement/api/v1.0";
    public static readonly Guid UserCertificate = Guid.Parse("5b0e3c1e-7f3a-4a55-9c8e-1b2d3e4f5a60");
    public static readonly Guid ApprovedUserCertificate = Guid.Parse("9d6f2a4b-3c8e-4f1a-b7d5-2e6c8a0f1b23");
    public static readonly Guid VirtualSmartcardVpn = Guid.Parse("97cd65fa-af4b-4587-9309-0dd6bfd8b4e1");
    private readonly TempDirectory _dir = new();

    public FakeTimeProvider Clock { get; } = new(Samples.Now);

    protected virtual IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>();

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseSetting("OpenCM:DataDirectory", _dir.Path);

        // Functional tests make many calls as one user; RateLimitTests checks the limits themselves.
        builder.UseSetting("RateLimits:ExpensiveBurst", "1000000");
        builder.UseSetting("RateLimits:WriteBurst", "1000000");
        builder.UseSetting("RateLimits:SignInPerMinute", "1000000");
        foreach (var (key, value) in Settings)
        {
            builder.UseSetting(key, value);
        }

        builder.ConfigureTestServices(services =>
        {
            services.AddSingleton<TimeProvider>(Clock);
            ConfigureServices(services);
        });
    }

    protected virtual void ConfigureServices(IServiceCollection services)
    {
    }

    /// <summary>Creates a directory user (unique per call), with an e-mail address as the encryption sample needs, and returns it.</summary>
    public async Task<Principal> UserAsync(string prefix, params string[] groups)
    {
        var administration = Services.GetRequiredService<DirectoryAdministration>();
        // Twelve hex digits of randomness at least: cut at 20 characters, "portal-hostile" kept
        // five, and two of one theory's users met (CI, 2026-12-05: "already exists").
        var name = $"{prefix}-{Guid.NewGuid():N}"[..Math.Max(20, prefix.Length + 13)];
        return await administration.AddUserAsync(new AuditContext(Guid.Empty, "test"), name, groups, $"{name}@contoso.test", upn: null);
    }

    public async Task<string> TokenAsync(Principal user)
    {
        var directory = Services.GetRequiredService<IDirectory>();
        var groups = await directory.GroupsOfAsync(user.Uuid);
        return Services.GetRequiredService<TokenService>().Mint(user, groups, TimeSpan.FromMinutes(30));
    }

    public async Task<HttpClient> ClientAsync(Principal user)
    {
        var client = CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", await TokenAsync(user));
        return client;
    }

    public async Task<HttpClient> AdminAsync() =>
        await ClientAsync((await Services.GetRequiredService<IDirectory>().FindByNameAsync("admin"))!);

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            _dir.Dispose();
        }
    }
}

/// <summary>HTTP helpers for the tests.</summary>
public static class Http
{
    public static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    public static async Task<HttpResponseMessage> CreateAsync(this HttpClient client, Guid template, string dataCollection = "\"[]\"", string extra = "") =>
        await client.PostAsync($"{ServerFixture.Api}/requests",
            Json($$"""{"datacollection":{{dataCollection}},"type":"Enroll","profiletemplateuuid":"{{template}}","comment":""{{extra}}}"""));

    /// <summary>Creates a request and returns its id.</summary>
    public static async Task<Guid> CreateIdAsync(this HttpClient client, Guid template, string dataCollection = "\"[]\"", string extra = "")
    {
        var response = await client.CreateAsync(template, dataCollection, extra);
        Assert.Equal(System.Net.HttpStatusCode.Created, response.StatusCode);
        var relative = await response.Content.ReadFromJsonAsync<string>();
        return Guid.Parse(relative!.Split('/')[^1]);
    }

    public static Task<HttpResponseMessage> PutStatusAsync(this HttpClient client, Guid id, string status) =>
        client.PutAsync($"{ServerFixture.Api}/requests/{id}", Json($$"""{"status":"{{status}}"}"""));

    public static Task<HttpResponseMessage> VoteAsync(this HttpClient client, Guid id, string decision) =>
        client.PostAsync($"{ServerFixture.Api}/requests/{id}/approvals", Json($$"""{"decision":"{{decision}}","comment":"ok"}"""));

    public static async Task<JsonElement> JsonAsync(this HttpResponseMessage response)
    {
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return doc.RootElement.Clone();
    }

    public static async Task<string> ErrorCodeAsync(this HttpResponseMessage response) =>
        (await response.JsonAsync()).GetProperty("errorCode").GetString()!;
}
