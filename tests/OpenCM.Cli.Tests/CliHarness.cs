using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenCM.Server.Hosting;
using OpenCM.TestKit;

namespace OpenCM.Cli.Tests;

/// <summary>Runs <c>opencm</c> in-process and captures what it prints.</summary>
public static class Cli
{
    public static Task<(int Exit, string Out, string Err)> RunAsync(params string[] args) => RunWithInputAsync("", args);

    /// <summary>
    /// opencm as its own process (the built opencm.dll beside the tests), <paramref name="environment"/>
    /// added to its environment as given, stdout and stderr apart; killed, and the test failed, after 3 minutes.
    /// </summary>
    public static Task<(int Exit, string Out, string Err)> ProcessAsync(IReadOnlyDictionary<string, string>? environment, params string[] args) =>
        ToolProcess.RunAsync("dotnet", [Path.Combine(AppContext.BaseDirectory, "opencm.dll"), .. args], TimeSpan.FromMinutes(3),
            environment: environment is null ? null : new Dictionary<string, string>(environment));

    /// <summary>Runs with <paramref name="stdin"/> as standard input.</summary>
    public static async Task<(int Exit, string Out, string Err)> RunWithInputAsync(string stdin, params string[] args)
    {
        using var input = new StringReader(stdin);
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exit = await OpenCmCli.RunAsync(args, input, output, error);
        return (exit, output.ToString(), error.ToString());
    }
}

/// <summary>The real server on Kestrel, bound to a free loopback port.</summary>
public sealed class KestrelServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Task _run;

    private KestrelServer(WebApplication app, Task run, string address)
    {
        _app = app;
        _run = run;
        Address = address;
    }

    public string Address { get; }

    /// <summary>Starts the server on <paramref name="dataDirectory"/>; <paramref name="settings"/> are configuration keys (--Section:Key=value).</summary>
    public static async Task<KestrelServer> StartAsync(string dataDirectory, params string[] settings)
    {
        var app = OpenCmServer.Build(["--data", dataDirectory, "--urls", "http://127.0.0.1:0", .. settings], b => b.Logging.ClearProviders());
        var ready = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var run = OpenCmServer.RunAsync(app, (started, _) =>
        {
            ready.TrySetResult(started.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
            return Task.CompletedTask;
        });
        var address = await ready.Task.WaitAsync(TimeSpan.FromSeconds(30));
        return new KestrelServer(app, run, address);
    }

    public async ValueTask DisposeAsync()
    {
        _app.Services.GetRequiredService<IHostApplicationLifetime>().StopApplication();
        await _run;
        await _app.DisposeAsync();
    }
}
