using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using OpenCM.Application;
using OpenCM.Authority;
using OpenCM.Server.Auth;
using OpenCM.Server.Hosting;
using OpenCM.TestKit;

namespace OpenCM.Server.Tests;

/// <summary>
/// Issue #21.1: the real server on 127.0.0.1 with metrics on a management address of their own.
/// What was committed shows on /metrics there (the queue, approval latency, issuance, signing,
/// CRL, OCSP), the text passes <c>promtool check metrics</c>, the API's port has no /metrics, and
/// no line carries the tokens, password or PIN the test sent.
/// </summary>
public sealed partial class MetricsTests
{
    private const string Promtool = "/usr/bin/promtool";
    private const string Password = "Corr3ct-Horse-Battery-Staple";
    private const string Pin = "73019548";

    // Every label OpenCM's metrics may carry: closed sets only, never a user, serial or id.
    private static readonly HashSet<string> ClosedLabels = ["type", "from", "to", "status", "template", "ca", "backend", "limit", "dependency", "le"];

    [SkippableFact]
    public async Task Metrics_PendingRequestApproved_QueueLatencyAndIssuanceOnTheManagementAddressOnly()
    {
        using var dir = new TempDirectory();
        await using var server = await RunningServer.StartAsync(["--data", dir.Path, "--urls", "http://127.0.0.1:0", "--Metrics:Urls", "http://127.0.0.1:0", "--Metrics:RefreshSeconds", "0"]);
        var app = server.App;
        var api = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        var metricsAt = new Uri(Assert.Single(app.Services.GetRequiredService<MetricsListener>().Addresses));
        Assert.NotEqual(api.Port, metricsAt.Port);
        using var scraper = new HttpClient { BaseAddress = metricsAt };

        // A request that waits for two approvers...
        var tokens = new List<string>();
        var alice = await ClientAsync(app, api, tokens, "alice");
        var first = await ClientAsync(app, api, tokens, "appr1", "CM Approvers");
        var second = await ClientAsync(app, api, tokens, "appr2", "CM Approvers");
        var id = await alice.CreateIdAsync(ServerFixture.ApprovedUserCertificate, $$"""[{"Request Reason":"{{Password}}"}]""");
        var pending = await scraper.GetStringAsync("/metrics");
        Assert.Equal(1, Sample(pending, "opencm_requests", ("status", "Pending")));
        Assert.Equal(0, Sample(pending, "opencm_requests", ("status", "Approved")));
        Assert.Equal(1, Sample(pending, "opencm_requests_created_total", ("type", "Enroll")));

        // ...is approved: the queue moves, and the wait is one observation of approval latency.
        Assert.Equal(HttpStatusCode.OK, (await first.VoteAsync(id, "Approve")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await second.VoteAsync(id, "Approve")).StatusCode);

        // A certificate signed and stored, the CRL fetched, an OCSP request that is none, and a password and PIN sent where a client may put them.
        await TestIssuance.IssueAsync(app.Services);
        using var anonymous = new HttpClient { BaseAddress = api };
        var ca = app.Services.GetRequiredService<CertificateAuthorities>().Active.Slug;
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync($"{ServerFixture.Api[..ServerFixture.Api.IndexOf("/api", StringComparison.Ordinal)]}/crl/{ca}.crl")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync($"{ServerFixture.Api[..ServerFixture.Api.IndexOf("/api", StringComparison.Ordinal)]}/ocsp/not-a-request")).StatusCode);
        _ = await alice.GetAsync($"{ServerFixture.Api}/requests?password={Password}&pin={Pin}");

        var text = await scraper.GetStringAsync("/metrics");
        Assert.Equal(0, Sample(text, "opencm_requests", ("status", "Pending")));
        Assert.Equal(1, Sample(text, "opencm_requests", ("status", "Approved")));
        Assert.Equal(0, Sample(text, "opencm_requests", ("status", "Executing")));
        Assert.Equal(1, Sample(text, "opencm_request_approval_duration_seconds_count"));
        Assert.Equal(1, Sample(text, "opencm_request_transitions_total", ("from", "Pending"), ("to", "Approved")));
        Assert.Equal(1, Sample(text, "opencm_certificates_issued_total", ("ca", ca), ("template", "T")));
        Assert.Equal(1, Sample(text, "opencm_signing_duration_seconds_count", ("backend", "software"), ("ca", ca)));
        Assert.Equal(1, Sample(text, "opencm_crl_built_total", ("ca", ca)));
        Assert.True(Sample(text, "opencm_crl_next_update_timestamp_seconds", ("ca", ca)) > DateTimeOffset.UtcNow.ToUnixTimeSeconds() - (30L * 86400));
        Assert.Equal(1, Sample(text, "opencm_ocsp_responses_total", ("status", "MalformedRequest")));
        Assert.Equal(0, Sample(text, "opencm_certificates_expiring"));
        Assert.Equal(1, Sample(text, "opencm_dependency_up", ("dependency", "database")));

        // The host's own meters come along: ASP.NET Core's request durations and Kestrel's connections.
        Assert.Matches("(?m)^microsoft_aspnetcore_hosting_http_server_request_duration", text);
        Assert.Matches("(?m)^microsoft_aspnetcore_server_kestrel_kestrel_", text);

        // Labels from closed sets only; nothing the clients sent as a secret.
        foreach (Match m in LabelName().Matches(string.Join('\n', text.Split('\n').Where(l => l.StartsWith("opencm_", StringComparison.Ordinal)))))
        {
            Assert.Contains(m.Groups[1].Value, ClosedLabels);
        }

        foreach (var secret in tokens.Append(Password).Append(Pin).Append(id.ToString()))
        {
            Assert.DoesNotContain(secret, text, StringComparison.OrdinalIgnoreCase);
        }

        // Only on the management address: the API's port has no /metrics, the management one nothing else.
        Assert.Equal(HttpStatusCode.NotFound, (await anonymous.GetAsync("/metrics")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await scraper.GetAsync($"{ServerFixture.Api}/requests")).StatusCode);

        await CheckWithPromtoolAsync(text);
    }

    [Fact]
    public void MetricsUrls_NotAnAbsoluteHttpAddress_RefusedNamingTheSetting()
    {
        foreach (var bad in new[] { "9464", "tcp://127.0.0.1:9464", "http://127.0.0.1:9464/metrics" })
        {
            var refused = Assert.Throws<ConfigurationRefusedException>(() => new MetricsOptions { Urls = bad }.Addresses());
            Assert.Contains("Metrics:Urls", refused.Message, StringComparison.Ordinal);
        }

        Assert.Empty(new MetricsOptions().Addresses());
        Assert.Equal(["http://127.0.0.1:9464", "https://[::1]:9465"], new MetricsOptions { Urls = " http://127.0.0.1:9464 ; https://[::1]:9465" }.Addresses());
    }

    private static async Task<HttpClient> ClientAsync(Microsoft.AspNetCore.Builder.WebApplication app, Uri api, List<string> tokens, string prefix, params string[] groups)
    {
        var administration = app.Services.GetRequiredService<DirectoryAdministration>();
        var name = $"{prefix}-{Guid.NewGuid():N}"[..20];
        var user = await administration.AddUserAsync(new AuditContext(Guid.Empty, "test"), name, groups, $"{name}@contoso.test", upn: null);
        var token = app.Services.GetRequiredService<TokenService>().Mint(user, await app.Services.GetRequiredService<IDirectory>().GroupsOfAsync(user.Uuid), TimeSpan.FromMinutes(30));
        tokens.Add(token);
        var client = new HttpClient { BaseAddress = api };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    // The value of the one sample of `name` with exactly these labels (none: the unlabelled one).
    private static double Sample(string text, string name, params (string Name, string Value)[] labels)
    {
        var want = string.Join(',', labels.OrderBy(l => l.Name, StringComparer.Ordinal).Select(l => $"{l.Name}=\"{l.Value}\""));
        foreach (var line in text.Split('\n'))
        {
            var m = SampleLine().Match(line);
            if (m.Success && m.Groups["name"].Value == name)
            {
                var got = m.Groups["labels"].Success ? string.Join(',', m.Groups["labels"].Value.Split(',', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal)) : "";
                if (got == want)
                {
                    return double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture);
                }
            }
        }

        Assert.Fail($"No sample {name}{{{want}}} in:\n{string.Join('\n', text.Split('\n').Where(l => l.StartsWith(name, StringComparison.Ordinal)))}");
        return double.NaN;
    }

    private static async Task CheckWithPromtoolAsync(string text)
    {
        Prerequisite.SkipIfMissing(!File.Exists(Promtool), $"{Promtool} is not installed (Debian package prometheus).");
        // No timeout, as before ToolProcess.
        var (exit, output, error) = await ToolProcess.RunAsync(Promtool, ["check", "metrics"], Timeout.InfiniteTimeSpan, stdin: text);
        Assert.True(exit == 0, $"promtool check metrics exited {exit}:\n{output + error}");
    }

    [GeneratedRegex("""^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>[^}]*)\})? (?<value>\S+)""")]
    private static partial Regex SampleLine();

    [GeneratedRegex("""[{,]([a-zA-Z_][a-zA-Z0-9_]*)=""")]
    private static partial Regex LabelName();
}

/// <summary>Issue #21.1: the same metrics pushed over OTLP/HTTP to a collector, here a receiver on loopback.</summary>
public sealed class OtlpMetricsTests
{
    [Fact]
    public async Task Otlp_EndpointSet_RequestMetricsPushedWithoutTheToken()
    {
        // The collector: records every OTLP/HTTP metrics export it is sent.
        var bodies = new System.Collections.Concurrent.ConcurrentQueue<byte[]>();
        var receiverBuilder = WebApplication.CreateSlimBuilder();
        receiverBuilder.WebHost.UseUrls("http://127.0.0.1:0");
        await using var receiver = receiverBuilder.Build();
        receiver.MapPost("/v1/metrics", async (HttpRequest request) =>
        {
            using var body = new MemoryStream();
            await request.Body.CopyToAsync(body);
            bodies.Enqueue(body.ToArray());
            return Results.Ok();
        });
        await receiver.StartAsync();
        var endpoint = receiver.Urls.First().TrimEnd('/') + "/v1/metrics";

        using var dir = new TempDirectory();
        await using var server = await RunningServer.StartAsync(["--data", dir.Path, "--urls", "http://127.0.0.1:0", "--Metrics:Otlp:Endpoint", endpoint, "--Metrics:Otlp:IntervalSeconds", "1"]);
        var app = server.App;
        var api = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        var administration = app.Services.GetRequiredService<DirectoryAdministration>();
        var user = await administration.AddUserAsync(new AuditContext(Guid.Empty, "test"), $"otlp-{Guid.NewGuid():N}"[..20], [], "otlp@contoso.test", upn: null);
        var token = app.Services.GetRequiredService<TokenService>().Mint(user, await app.Services.GetRequiredService<IDirectory>().GroupsOfAsync(user.Uuid), TimeSpan.FromMinutes(30));
        using var client = new HttpClient { BaseAddress = api };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        var id = await client.CreateIdAsync(ServerFixture.ApprovedUserCertificate, """[{"Request Reason":"VPN"}]""");

        // Names and label values travel as UTF-8 strings in the protobuf: look for them. A push
        // comes every second; the wait is long only for a loaded machine (30 s once ran out, with
        // the load average at 10), and ends at the first body that has them.
        string? seen = null;
        for (var waited = 0; waited < 180 && seen is null; waited++)
        {
            await Task.Delay(500);
            seen = bodies.Select(b => System.Text.Encoding.UTF8.GetString(b)).FirstOrDefault(t => t.Contains("opencm.requests.created", StringComparison.Ordinal) && t.Contains("Enroll", StringComparison.Ordinal));
        }

        Assert.NotNull(seen);
        foreach (var body in bodies.Select(b => System.Text.Encoding.UTF8.GetString(b)))
        {
            Assert.DoesNotContain(token, body, StringComparison.Ordinal);
            Assert.DoesNotContain(id.ToString(), body, StringComparison.OrdinalIgnoreCase);
        }
    }
}

/// <summary>The real server on 127.0.0.1, run as <c>serve</c> runs it (OpenCmServer), stopped when disposed.</summary>
internal sealed class RunningServer : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private Task _running = Task.CompletedTask;

    private RunningServer(WebApplication app) => App = app;

    public WebApplication App { get; }

    public static async Task<RunningServer> StartAsync(string[] args)
    {
        var server = new RunningServer(OpenCmServer.Build(args));
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        server._running = OpenCmServer.RunAsync(server.App, (_, _) =>
        {
            started.SetResult();
            return Task.CompletedTask;
        }, server._stop.Token);
        await Task.WhenAny(started.Task, server._running);
        await started.Task;
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _running;
        await App.DisposeAsync();
        _stop.Dispose();
    }
}
