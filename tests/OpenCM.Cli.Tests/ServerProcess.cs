using System.Diagnostics;
using OpenCM.TestKit;

namespace OpenCM.Cli.Tests;

/// <summary>
/// <c>opencm serve</c> as a real child process (the built <c>opencm.dll</c> beside the tests):
/// for several nodes on one database, and for killing a node with SIGKILL mid-write.
/// </summary>
public sealed class ServerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly System.Text.StringBuilder _output = new();

    private ServerProcess(Process process, string address)
    {
        _process = process;
        Address = address;
    }

    public string Address { get; }

    /// <summary>What the process printed so far (for failure messages).</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Starts <c>opencm serve</c> with <paramref name="args"/> on a free loopback port, rate limits off; returns once it serves.</summary>
    public static Task<ServerProcess> StartAsync(params string[] args) => StartAsync(rateLimits: false, args);

    /// <summary>As <see cref="StartAsync(string[])"/>, with the rate limits on when <paramref name="rateLimits"/> says so.</summary>
    public static Task<ServerProcess> StartAsync(bool rateLimits, params string[] args) => StartAsync(new Dictionary<string, string>(), rateLimits, args);

    /// <summary>As <see cref="StartAsync(string[])"/>, with <paramref name="environment"/> added to the child's environment (a PKCS#11 PIN, SOFTHSM2_CONF).</summary>
    public static async Task<ServerProcess> StartAsync(IReadOnlyDictionary<string, string> environment, bool rateLimits, params string[] args)
    {
        // The free port is only free when FreePort closes its listener: anything else on the
        // machine binding port 0 before the child binds it (other test projects run at once)
        // takes it. The child then exits on "address already in use"; start again on another.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await StartOnAsync(LoopbackPort.Free(), environment, rateLimits, args);
            }
            catch (PortTakenException) when (attempt < 3)
            {
            }
        }
    }

    private static async Task<ServerProcess> StartOnAsync(int port, IReadOnlyDictionary<string, string> environment, bool rateLimits, string[] args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        foreach (var a in (string[])[Path.Combine(AppContext.BaseDirectory, "opencm.dll"), "serve", .. args, "--urls", $"http://127.0.0.1:{port}",
                     "--Logging:LogLevel:Default=Warning", $"--RateLimits:Enabled={(rateLimits ? "true" : "false")}"])
        {
            start.ArgumentList.Add(a);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("opencm did not start");
        var server = new ServerProcess(process, $"http://127.0.0.1:{port}");
        var serving = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void Collect(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (server._output)
            {
                server._output.AppendLine(line);
            }

            if (line.StartsWith("OpenCM is serving", StringComparison.Ordinal))
            {
                serving.TrySetResult();
            }
        }

        process.OutputDataReceived += (_, e) => Collect(e.Data);
        process.ErrorDataReceived += (_, e) => Collect(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var exited = process.WaitForExitAsync();
        if (await Task.WhenAny(serving.Task, exited, Task.Delay(TimeSpan.FromSeconds(120))) != serving.Task)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            if (server.Output.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
            {
                process.Dispose();
                throw new PortTakenException(server.Output);
            }

            throw new InvalidOperationException($"opencm serve did not come up:\n{server.Output}");
        }

        return server;
    }

    /// <summary>SIGKILL: no shutdown, no flush; whatever the process had not made durable is lost.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process.Dispose();
    }

    private sealed class PortTakenException(string output) : Exception($"opencm serve found its port taken:\n{output}");
}
