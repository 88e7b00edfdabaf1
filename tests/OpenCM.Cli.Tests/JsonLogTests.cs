using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.RegularExpressions;
using OpenCM.TestKit;

namespace OpenCM.Cli.Tests;

/// <summary>
/// Issue #21.6: with <c>Logging:Console:FormatterName=json</c> every log line is one JSON object,
/// each request's lines carry its correlation id (a scope), and no line carries a bearer token or a password.
/// </summary>
public sealed partial class JsonLogTests : IDisposable
{
    private const string Root = "/CertificateManagement";
    private const string Password = "json-logs password 31337";
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [GeneratedRegex("name=\"__RequestVerificationToken\" type=\"hidden\" value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryField();

    // What `serve` prints for the operator besides its logs (OpenCmServer.ReportAsync), plain text by design.
    private static readonly string[] ReportLines = ["OpenCM is serving", "Version: ", "First start", "Note: ", "CA: ", "Portal: ", "Get a token", "  (from a source checkout"];

    [Fact]
    public async Task JsonLogs_RequestsWithTokenAndPassword_EveryLineJsonCorrelatedAndNoSecret()
    {
        var data = _dir.File("data");
        Assert.Equal(0, (await Cli.RunAsync("init", "--data", data)).Exit);
        Assert.Equal(0, (await Cli.RunWithInputAsync(Password + "\n", "users", "add", "--data", data, "--name", "jess", "--password-stdin")).Exit);
        var token = (await Cli.RunAsync("token", "--data", data, "--user", "admin")).Out.Trim();
        Assert.StartsWith("ey", token, StringComparison.Ordinal);

        await using var server = await ServerProcess.StartAsync("--data", data, "--Logging:Console:FormatterName=json",
            "--Logging:LogLevel:Microsoft.AspNetCore=Information", "--Logging:LogLevel:OpenCM=Information");

        // A bearer-token call, and a portal password sign-in.
        using var api = new HttpClient { BaseAddress = new Uri(server.Address) };
        using var me = new HttpRequestMessage(HttpMethod.Get, $"{Root}/api/v1.0/me");
        me.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var meResponse = await api.SendAsync(me);
        Assert.Equal(HttpStatusCode.OK, meResponse.StatusCode);
        var meId = meResponse.Headers.GetValues("X-Correlation-Id").Single();

        using var handler = new HttpClientHandler { AllowAutoRedirect = false, CookieContainer = new CookieContainer() };
        using var browser = new HttpClient(handler) { BaseAddress = new Uri(server.Address) };
        var antiforgery = AntiforgeryField().Match(await browser.GetStringAsync($"{Root}/signin")).Groups[1].Value;
        using var form = new FormUrlEncodedContent([new("__RequestVerificationToken", antiforgery), new("name", "jess"), new("password", Password)]);
        using var signIn = await browser.PostAsync($"{Root}/signin", form);
        Assert.Equal(HttpStatusCode.Redirect, signIn.StatusCode);
        var signInId = signIn.Headers.GetValues("X-Correlation-Id").Single();

        // The console logger writes from a queue of its own: wait for both requests' lines.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!(server.Output.Contains(meId, StringComparison.Ordinal) && server.Output.Contains(signInId, StringComparison.Ordinal)) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        var output = server.Output;
        var entries = new List<JsonElement>();
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')))
        {
            if (ReportLines.Any(r => line.StartsWith(r, StringComparison.Ordinal)))
            {
                continue;
            }

            using var parsed = JsonDocument.Parse(line);
            entries.Add(parsed.RootElement.Clone());
        }

        // Every line a request logged (ASP.NET Core's RequestId scope) carries one correlation id, the
        // one its response named; both requests above logged some.
        string? Scope(JsonElement entry, string name) =>
            Scopes(entry).Select(s => s.TryGetProperty(name, out var v) ? v.GetString() : null).FirstOrDefault(v => v is not null);
        var requests = entries.Where(e => Scope(e, "RequestId") is not null).GroupBy(e => Scope(e, "RequestId")).ToList();
        Assert.All(requests, r => Assert.Single(r.Select(e => Scope(e, "CorrelationId")).Distinct()));
        Assert.All(requests, r => Assert.NotNull(Scope(r.First(), "CorrelationId")));
        foreach (var (path, id) in new[] { ($"{Root}/api/v1.0/me", meId), ($"{Root}/signin", signInId) })
        {
            Assert.Contains(requests, r => Scope(r.First(), "RequestPath") == path && Scope(r.First(), "CorrelationId") == id);
        }

        Assert.DoesNotContain(token, output, StringComparison.Ordinal);
        Assert.DoesNotContain(token.Split('.')[2], output, StringComparison.Ordinal);
        Assert.DoesNotContain(Password, output, StringComparison.Ordinal);
        Assert.DoesNotContain(Uri.EscapeDataString(Password), output, StringComparison.Ordinal);
        Assert.DoesNotContain(Password.Replace(' ', '+'), output, StringComparison.Ordinal);
    }

    private static List<JsonElement> Scopes(JsonElement entry) =>
        entry.TryGetProperty("Scopes", out var scopes) && scopes.ValueKind == JsonValueKind.Array ? [.. scopes.EnumerateArray()] : [];
}
