using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using MimeKit;

namespace OpenCM.TestKit;

/// <summary>
/// A real SMTP server on loopback for the tests: Debian's python3-aiosmtpd (<c>/usr/bin/python3 -m
/// aiosmtpd</c>, not the python3 first on PATH) writing every message it receives into a maildir,
/// read back with MimeKit. Absent aiosmtpd skips the test (<see cref="Prerequisite"/>; a failure
/// where every test is demanded).
/// </summary>
public sealed class SmtpTestServer : IAsyncDisposable
{
    public const string Python = "/usr/bin/python3";
    public const string SkipReason = "python3-aiosmtpd is not installed (apt-get install python3-aiosmtpd); the e-mail tests need a real SMTP server.";

    private readonly TempDirectory _dir;
    private readonly Process _process;

    private SmtpTestServer(TempDirectory dir, Process process, int port)
    {
        _dir = dir;
        _process = process;
        Port = port;
    }

    public int Port { get; }

    /// <summary>Whether aiosmtpd can run here.</summary>
    public static bool IsAvailable()
    {
        if (!File.Exists(Python))
        {
            return false;
        }

        using var probe = Process.Start(new ProcessStartInfo(Python) { ArgumentList = { "-c", "import aiosmtpd" }, RedirectStandardError = true, RedirectStandardOutput = true })!;
        probe.WaitForExit(30_000);
        return probe.ExitCode == 0;
    }

    /// <summary>Starts a server on a free loopback port and waits until it answers; skips the test when aiosmtpd is absent.</summary>
    public static async Task<SmtpTestServer> StartAsync()
    {
        Prerequisite.SkipIfMissing(!IsAvailable(), SkipReason);
        var dir = new TempDirectory();
        var port = LoopbackPort.Free();
        var process = Process.Start(new ProcessStartInfo(Python)
        {
            ArgumentList = { "-m", "aiosmtpd", "-n", "-l", $"127.0.0.1:{port}", "-c", "aiosmtpd.handlers.Mailbox", Path.Combine(dir.Path, "maildir") },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var server = new SmtpTestServer(dir, process, port);
        for (var i = 0; i < 100; i++)
        {
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(IPAddress.Loopback, port);
                return server;
            }
            catch (SocketException)
            {
                await Task.Delay(100);
            }
        }

        await server.DisposeAsync();
        throw new InvalidOperationException($"aiosmtpd did not listen on 127.0.0.1:{port} within 10 s.");
    }

    /// <summary>Every message received so far, oldest first.</summary>
    public IReadOnlyList<MimeMessage> Messages()
    {
        var received = Path.Combine(_dir.Path, "maildir", "new");
        return !Directory.Exists(received)
            ? []
            : [.. new DirectoryInfo(received).GetFiles().OrderBy(f => f.LastWriteTimeUtc).ThenBy(f => f.Name, StringComparer.Ordinal).Select(f => MimeMessage.Load(f.FullName))];
    }

    /// <summary>Waits until at least <paramref name="count"/> messages arrived (at most 20 s), and returns them all.</summary>
    public async Task<IReadOnlyList<MimeMessage>> WaitForAsync(int count)
    {
        for (var i = 0; i < 200 && Messages().Count < count; i++)
        {
            await Task.Delay(100);
        }

        return Messages();
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        catch (InvalidOperationException)
        {
            // It had ended already.
        }

        _process.Dispose();
        _dir.Dispose();
    }
}
