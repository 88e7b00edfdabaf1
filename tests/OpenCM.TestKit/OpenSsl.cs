using System.Diagnostics;
using System.Globalization;

namespace OpenCM.TestKit;

/// <summary>Runs the openssl command line: the tests' independent checker of what the CA emits.</summary>
public static class OpenSsl
{
    public sealed record Result(int ExitCode, string Output, string Error)
    {
        public string All => Output + Error;
    }

    /// <summary>
    /// The arguments that make openssl judge a time-bound object (a certificate's validity, a
    /// CRL's nextUpdate) at <paramref name="time"/> instead of the wall clock. Tests pin their
    /// clock (<see cref="Samples.Now"/>), so a check against the wall clock would start failing on
    /// the day the pinned objects expire (issue #17: the suite went red that way).
    /// </summary>
    public static string[] At(DateTimeOffset time) => ["-attime", time.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture)];

    public static async Task<Result> RunAsync(string workingDirectory, params string[] args)
    {
        // `openssl verify` checks validity periods; without -attime it reads the wall clock, and a
        // test of objects made at a pinned time then passes or fails by the date it runs on.
        if (args.Length > 0 && args[0] == "verify" && !args.Contains("-attime"))
        {
            throw new ArgumentException("openssl verify needs the test's time: pass OpenSsl.At(time)", nameof(args));
        }

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
