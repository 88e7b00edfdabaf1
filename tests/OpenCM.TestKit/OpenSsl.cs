using System.Diagnostics;

namespace OpenCM.TestKit;

/// <summary>Runs the openssl command line: the tests' independent checker of what the CA emits.</summary>
public static class OpenSsl
{
    public sealed record Result(int ExitCode, string Output, string Error)
    {
        public string All => Output + Error;
    }

    public static async Task<Result> RunAsync(string workingDirectory, params string[] args)
    {
        var start = new ProcessStartInfo("openssl")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("openssl did not start (apt-get install openssl)");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return new Result(process.ExitCode, await output, await error);
    }

    /// <summary>Runs openssl and fails the test with its output when it exits non-zero.</summary>
    public static async Task<string> CheckAsync(string workingDirectory, params string[] args)
    {
        var result = await RunAsync(workingDirectory, args);
        return result.ExitCode == 0
            ? result.Output
            : throw new InvalidOperationException($"openssl {string.Join(' ', args)} exited {result.ExitCode}: {result.All}");
    }
}
