using System.Diagnostics;
using System.Globalization;

namespace OpenCM.TestKit;

/// <summary>
/// Runs a command-line tool to its end for a test: both output streams read at once (a full pipe
/// never stalls the tool), and on a timeout the whole process tree killed and the test failed with
/// what the tool printed so far.
/// </summary>
public static class ToolProcess
{
    /// <summary>
    /// Runs <paramref name="tool"/> with <paramref name="args"/> (in <paramref name="workingDirectory"/>,
    /// with <paramref name="environment"/> added to this process's, <paramref name="stdin"/> written to
    /// its input and closed) until it exits; after <paramref name="timeout"/>
    /// (<see cref="Timeout.InfiniteTimeSpan"/>: never) it and its children are killed and a
    /// <see cref="TimeoutException"/> names the tool, the timeout and its output (not the arguments,
    /// which may carry a challenge or a PIN).
    /// </summary>
    public static async Task<(int Exit, string Out, string Err)> RunAsync(
        string tool, IEnumerable<string> args, TimeSpan timeout, string? workingDirectory = null,
        IDictionary<string, string>? environment = null, string? stdin = null)
    {
        ArgumentNullException.ThrowIfNull(args);
        var start = new ProcessStartInfo(tool)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
            UseShellExecute = false,
        };
        if (workingDirectory is not null)
        {
            start.WorkingDirectory = workingDirectory;
        }

        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{tool} did not start");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            if (stdin is not null)
            {
                await process.StandardInput.WriteAsync(stdin.AsMemory(), cancel.Token);
                process.StandardInput.Close();
            }

            await process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();

            // The tree is gone, so its pipes are closed; a descendant that left the tree may hold them still.
            var printed = Task.WhenAll(output, error);
            var said = await Task.WhenAny(printed, Task.Delay(TimeSpan.FromSeconds(10))) == printed
                ? $"stdout:\n{await output}\nstderr:\n{await error}"
                : "(its output did not close within 10 s of the kill)";
            throw new TimeoutException(string.Create(CultureInfo.InvariantCulture,
                $"{tool} did not finish within {timeout} and was killed with its children; {said}"));
        }

        return (process.ExitCode, await output, await error);
    }
}
