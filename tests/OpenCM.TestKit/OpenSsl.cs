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

        // No timeout, as before this helper.
        var (exit, output, error) = await ToolProcess.RunAsync("openssl", args, Timeout.InfiniteTimeSpan, workingDirectory);
        return new Result(exit, output, error);
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
