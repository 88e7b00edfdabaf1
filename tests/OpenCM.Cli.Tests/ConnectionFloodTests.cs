using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using OpenCM.TestKit;

namespace OpenCM.Cli.Tests;

/// <summary>
/// Issue #7.1: a flood of idle connections without a token, against a real `opencm serve` process
/// whose open-file limit is 1,024 (about 300 of them are its own assemblies). The server caps its connections below that limit, stays up,
/// and answers again by itself once the flood ends.
/// </summary>
public sealed class ConnectionFloodTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Serve_IdleConnectionFloodUnderLowFileLimit_StaysUpAndRecovers()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        // 1. A data directory, and the server in its own process under `ulimit -n 256`.
        var data = _dir.File("data");
        Assert.Equal(0, (await Cli.RunAsync("init", "--data", data)).Exit);
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }

        // The CLI's own build output (same configuration and framework as this test's), with its own dependencies.
        var bin = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var opencm = Path.GetFullPath(Path.Combine(bin.FullName, "..", "..", "..", "..", "..", "src", "OpenCM.Cli", "bin", bin.Parent!.Name, bin.Name, "opencm.dll"));
        Assert.True(File.Exists(opencm), opencm);
        using var server = Process.Start(new ProcessStartInfo("bash",
            ["-c", $"ulimit -n 1024 && exec dotnet \"{opencm}\" serve --data \"{data}\" --urls http://127.0.0.1:{port} --Logging:LogLevel:Default=Warning"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var errors = server.StandardError.ReadToEndAsync();
        _ = server.StandardOutput.ReadToEndAsync();
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(5) };
        try
        {
            Assert.True(await LiveWithinAsync(http, TimeSpan.FromSeconds(60)), "the server did not start");

            // 2. 1,500 idle connections: far more than 1,024 descriptors.
            var flood = new List<Socket>();
            try
            {
                for (var i = 0; i < 1500; i++)
                {
                    var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                    try
                    {
                        await socket.ConnectAsync(IPAddress.Loopback, port).WaitAsync(TimeSpan.FromSeconds(2));
                        flood.Add(socket);
                    }
                    catch (Exception ex) when (ex is SocketException or TimeoutException)
                    {
                        socket.Dispose();
                    }
                }

                await Task.Delay(TimeSpan.FromSeconds(1));
                Assert.False(server.HasExited, "the server died under the flood: " + (server.HasExited ? await errors : ""));
                Assert.True(Directory.GetFiles($"/proc/{server.Id}/fd").Length < 1024);
            }
            finally
            {
                foreach (var socket in flood)
                {
                    socket.Dispose();
                }
            }

            // 3. The flood is over: the server answers again by itself.
            Assert.True(await LiveWithinAsync(http, TimeSpan.FromSeconds(30)), "the server did not recover: " + string.Join("\n", (server.HasExited ? await errors : "").Split('\n').Take(5)));
            Assert.False(server.HasExited);
        }
        finally
        {
            if (!server.HasExited)
            {
                server.Kill(entireProcessTree: true);
            }

            await server.WaitForExitAsync();
        }
    }

    private static async Task<bool> LiveWithinAsync(HttpClient http, TimeSpan limit)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < limit)
        {
            try
            {
                if ((await http.GetAsync("/health/live")).StatusCode == HttpStatusCode.OK)
                {
                    return true;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
            }

            await Task.Delay(200);
        }

        return false;
    }
}
