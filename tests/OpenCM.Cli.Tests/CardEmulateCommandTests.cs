using System.Net;
using System.Net.Sockets;
using OpenCM.TestKit;

namespace OpenCM.Cli.Tests;

/// <summary>
/// <c>opencm card emulate</c> (issue #22.4) behind the real pcscd: OpenSC sees its GIDS card in
/// "Virtual PCD 00 00", and with <c>--state</c> the card outlives the command.
/// </summary>
[Collection(PcscdCollection.Name)]
public sealed class CardEmulateCommandTests : IAsyncLifetime
{
    private const string SiteKey = "0102030405060708090A0B0C0D0E0F101112131415161718";
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("opencm-emulate-");
    private PcscDaemon? _pcscd;

    public async Task InitializeAsync() => _pcscd = await PcscDaemon.AcquireAsync();

    public async Task DisposeAsync()
    {
        _dir.Delete(recursive: true);
        if (_pcscd is not null)
        {
            await _pcscd.ReleaseAsync();
        }
    }

    [SkippableFact]
    public async Task Emulate_SiteBlankCardWithStateFile_OpenScUnblocksItAndTheCardOutlivesTheCommand()
    {
        Prerequisite.SkipIfMissing(_pcscd is null, PcscDaemon.SkipReason);
        var state = Path.Combine(_dir.FullName, "card.state");
        var vpcd = $"127.0.0.1:{PcscDaemon.FirstPort}";

        var first = await RunWhileAsync(["card", "emulate", "--vpcd", vpcd, "--state", state, "--new", "--admin-key", SiteKey], async () =>
        {
            var name = await OpenSc.UntilItSucceedsAsync("opensc-tool", "-r", "0", "-n");
            Assert.Contains("GIDS", name.Output, StringComparison.Ordinal);
            var unblock = await OpenSc.CheckAsync("gids-tool", "-r", "0", "-U", "--admin-key", SiteKey, "--pin", "24681357");
            Assert.Contains("Unblock PIN done successfully", unblock, StringComparison.Ordinal);
        });
        Assert.Contains("site's blank card", first, StringComparison.Ordinal);
        Assert.DoesNotContain(SiteKey, first, StringComparison.OrdinalIgnoreCase);
        Assert.True(File.Exists(state));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(state));
        }

        // The same card again, from its state file: the PIN set in the first run logs in.
        var second = await RunWhileAsync(["card", "emulate", "--vpcd", vpcd, "--state", state], async () =>
        {
            var login = await OpenSc.UntilItSucceedsAsync("pkcs11-tool", "--module", OpenSc.Pkcs11Module, "--login", "--pin", "24681357", "-O");
            Assert.True(login.ExitCode == 0, login.All);
        });
        Assert.Contains("saved in", second, StringComparison.Ordinal);

        // A new card over a saved one is refused, not written.
        var (exit, _, err) = await Cli.RunAsync("card", "emulate", "--vpcd", vpcd, "--state", state, "--new");
        Assert.Equal(OpenCmCli.Usage, exit);
        Assert.Contains("exists", err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Emulate_ReaderHangsUp_ReconnectsAndAnswersAgain()
    {
        // A stand-in for vpcd (its protocol: 2-byte big-endian length, then the bytes; 04 asks for the ATR), hanging up once as pcscd does when it stops.
        using var reader = new TcpListener(IPAddress.Loopback, 0);
        reader.Start();
        var port = ((IPEndPoint)reader.LocalEndpoint).Port;
        var output = await RunWhileAsync(["card", "emulate", "--vpcd", $"127.0.0.1:{port}"], async () =>
        {
            using (var first = await reader.AcceptTcpClientAsync().WaitAsync(TimeSpan.FromSeconds(20)))
            {
                Assert.Equal("3B80800101", Convert.ToHexString(await ExchangeAsync(first, [0x04])));
            }

            using var second = await reader.AcceptTcpClientAsync().WaitAsync(TimeSpan.FromSeconds(20));
            var answer = await ExchangeAsync(second, Convert.FromHexString("00A4040009A0000003974254465900"));
            Assert.Equal("9000", Convert.ToHexString(answer.AsSpan(answer.Length - 2)));
        });
        Assert.Contains("reconnecting", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--vpcd", "nohost")]
    [InlineData("--admin-key", "0102")]
    [InlineData("--admin-key", "000000000000000000000000000000000000000000000000")]
    [InlineData("--card-id", "00112233445566778899AABBCCDDEEFF")]
    public async Task Emulate_BadOption_UsageExitWithAMessage(string option, string value)
    {
        var (exit, _, err) = await Cli.RunAsync("card", "emulate", option, value);
        Assert.Equal(OpenCmCli.Usage, exit);
        Assert.StartsWith("error:", err, StringComparison.Ordinal);
    }

    // Runs the command until it is in the reader, then the checks, then stops it as Ctrl-C does; its output.
    private static async Task<string> RunWhileAsync(string[] args, Func<Task> checks)
    {
        // The command writes from its own thread: through synchronized writers (they lock themselves), read under the same lock.
        var (outText, errText) = (new StringWriter(), new StringWriter());
        var (output, error) = (TextWriter.Synchronized(outText), TextWriter.Synchronized(errText));
        string Seen()
        {
            lock (output)
            {
                lock (error)
                {
                    return $"{outText}{errText}";
                }
            }
        }

        using var stop = new CancellationTokenSource();
        var run = OpenCmCli.RunAsync(args, output, error, stop.Token);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!Seen().Contains("In the reader", StringComparison.Ordinal))
        {
            Assert.False(run.IsCompleted, $"the emulator stopped: {Seen()}");
            Assert.True(DateTime.UtcNow < deadline, $"the emulator never reached the reader: {Seen()}");
            await Task.Delay(100);
        }

        try
        {
            await checks();
        }
        finally
        {
            await stop.CancelAsync();
        }

        var exit = await run;
        Assert.True(exit == 0, Seen());
        return outText.ToString();
    }

    private static async Task<byte[]> ExchangeAsync(TcpClient client, byte[] message)
    {
        var stream = client.GetStream();
        await stream.WriteAsync(new byte[] { (byte)(message.Length >> 8), (byte)message.Length }.Concat(message).ToArray());
        var header = new byte[2];
        await stream.ReadExactlyAsync(header).AsTask().WaitAsync(TimeSpan.FromSeconds(20));
        var answer = new byte[(header[0] << 8) | header[1]];
        await stream.ReadExactlyAsync(answer).AsTask().WaitAsync(TimeSpan.FromSeconds(20));
        return answer;
    }
}
