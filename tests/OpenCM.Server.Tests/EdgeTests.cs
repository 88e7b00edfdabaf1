using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using OpenCM.Server.Hosting;

namespace OpenCM.Server.Tests;

/// <summary>Issue #18.8: the connection cap's log, and proxies given as one value.</summary>
public sealed class EdgeTests
{
    // A flood past the cap needs no login: Kestrel's own limit logged a warning per refused
    // connection (2.6 MiB in 10 s); now at most one line a second says how many went unlogged.
    [Fact]
    public async Task ConnectionCap_FloodOfRefusals_AtMostOneLogLineASecond()
    {
        var logs = new CapturingLoggerProvider();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(logs);
        builder.Logging.SetMinimumLevel(LogLevel.Information);
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.WebHost.ConfigureKestrel(k => ConnectionLimits.Apply(k, new ConnectionOptions { MaxConcurrent = 1 }));
        await using var app = builder.Build();
        app.MapGet("/", () => "ok");
        await app.StartAsync();
        var port = new Uri(app.Urls.First()).Port;

        // One connection is open (a request answered on it, so the server has counted it)...
        using var held = new TcpClient();
        await held.ConnectAsync(IPAddress.Loopback, port);
        var stream = held.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        var buffer = new byte[1024];
        Assert.True(await stream.ReadAsync(buffer) > 0);

        // ...so every further one is refused: closed at once.
        var start = DateTime.UtcNow;
        for (var i = 0; i < 40; i++)
        {
            using var refused = new TcpClient();
            await refused.ConnectAsync(IPAddress.Loopback, port);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            Assert.Equal(0, await refused.GetStream().ReadAsync(buffer, timeout.Token));
        }

        var seconds = (DateTime.UtcNow - start).TotalSeconds;
        await app.StopAsync();
        var lines = logs.Lines.Where(l => l.Level >= LogLevel.Warning
            && (l.Text.Contains("Refused a connection", StringComparison.Ordinal) || l.Text.Contains("maximum number of concurrent connections", StringComparison.Ordinal))).ToList();
        Assert.NotEmpty(lines);
        Assert.True(lines.Count <= 1 + (int)Math.Ceiling(seconds), $"{lines.Count} lines for 40 refusals in {seconds:F1} s");
    }

    public static TheoryData<string, string?, string[]> KnownProxies() => new()
    {
        { "one value (--Proxies:Known=…)", "127.0.0.1", ["127.0.0.1"] },
        { "comma-separated", "10.0.0.1, 10.0.0.2,10.1.0.0/16", ["10.0.0.1", "10.0.0.2", "10.1.0.0/16"] },
        { "a list", null, ["10.0.0.3", "10.0.0.4"] },
        { "nothing", "", [] },
    };

    // Proxies__Known=127.0.0.1 bound to an empty list: no forwarded header believed, cookies
    // lost Secure and every sign-in shared the proxy's address bucket, silently.
    [Theory]
    [MemberData(nameof(KnownProxies))]
    public void ProxiesKnown_ScalarCommaListOrList_AllRead(string form, string? value, string[] expected)
    {
        var settings = value is null
            ? new Dictionary<string, string?> { ["Proxies:Known:0"] = "10.0.0.3", ["Proxies:Known:1"] = "10.0.0.4" }
            : new Dictionary<string, string?> { ["Proxies:Known"] = value };
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        Assert.True(expected.SequenceEqual(Proxies.Known(configuration)), form);
    }
}
