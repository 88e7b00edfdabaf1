namespace OpenCM.TestKit;

/// <summary>
/// Runs OpenSC's command-line tools (<c>opensc-tool</c>, <c>pkcs11-tool</c>, <c>gids-tool</c>):
/// the smart card tests' independent checker of what OpenCM writes onto a card (issue #22), as
/// openssl is for what the CA emits. They reach cards through pcscd (<see cref="PcscDaemon"/>).
/// </summary>
public static class OpenSc
{
    /// <summary>OpenSC's PKCS#11 module, for <c>pkcs11-tool --module</c>.</summary>
    public const string Pkcs11Module = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so";

    /// <summary>Runs <paramref name="tool"/> (e.g. "opensc-tool") with <paramref name="args"/>; gives up after <paramref name="timeout"/> (default a minute).</summary>
    public static async Task<OpenSsl.Result> RunAsync(string tool, IEnumerable<string> args, string? input = null, TimeSpan? timeout = null)
    {
        var (exit, output, error) = await ToolProcess.RunAsync(tool, args, timeout ?? TimeSpan.FromMinutes(1), stdin: input);
        return new OpenSsl.Result(exit, output, error);
    }

    /// <summary>Runs the tool and fails the test with its output when it exits non-zero.</summary>
    public static async Task<string> CheckAsync(string tool, params string[] args)
    {
        var result = await RunAsync(tool, args);
        return result.ExitCode == 0
            ? result.Output
            : throw new InvalidOperationException($"{tool} {string.Join(' ', args)} exited {result.ExitCode}: {result.All}");
    }

    /// <summary>
    /// Runs the tool until it succeeds or 30 s pass, and returns the last run: pcscd polls its
    /// readers, so a card just put into one shows after a moment (never a bare sleep).
    /// </summary>
    public static async Task<OpenSsl.Result> UntilItSucceedsAsync(string tool, params string[] args)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var result = await RunAsync(tool, args);
            if (result.ExitCode == 0 || DateTime.UtcNow > deadline)
            {
                return result;
            }

            await Task.Delay(200);
        }
    }
}
