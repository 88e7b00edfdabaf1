using System.Diagnostics;
using System.Runtime.InteropServices;

namespace OpenCM.Cli;

/// <summary>
/// <c>opencm serve</c> runs the HTTP server (OpenCM.Server) as a process of its own: the CLI
/// depends on the composition and the typed client, never on the server. The CLI's build copies
/// the server's output beside it, under <see cref="Folder"/>. The server shares this process's
/// standard streams; the signals that ask a process to stop are passed on to it, and its exit
/// code is this command's.
/// </summary>
internal static class ServerLauncher
{
    /// <summary>Where the server's build output sits beside <c>opencm</c>.</summary>
    public const string Folder = "server";

    public const string Assembly = "OpenCM.Server.dll";

    // The POSIX numbers are the same on Linux and macOS.
    private const int SigInt = 2;
    private const int SigQuit = 3;
    private const int SigTerm = 15;

    /// <summary>The server's entry assembly beside this one.</summary>
    public static string ServerPath => Path.Combine(AppContext.BaseDirectory, Folder, Assembly);

    /// <summary>Starts the server with <paramref name="args"/> and runs until it exits; its exit code.</summary>
    public static async Task<int> RunAsync(IEnumerable<string> args, IReadOnlyDictionary<string, string> environment, CancellationToken ct)
    {
        var server = ServerPath;
        if (!File.Exists(server))
        {
            throw new CliException($"the server is not beside opencm (no {server}); build src/OpenCM.Cli, which copies it there");
        }

        var start = new ProcessStartInfo(DotnetHost()) { UseShellExecute = false };
        start.ArgumentList.Add(server);
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start) ?? throw new CliException("the server process did not start");

        // A terminal's Ctrl+C reaches both processes; a SIGTERM from a service manager reaches only
        // this one. Either way this process stays until the server has shut down in order.
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => Forward(c, process, SigTerm));
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => Forward(c, process, SigInt));
        using var quit = PosixSignalRegistration.Create(PosixSignal.SIGQUIT, c => Forward(c, process, SigQuit));
        await using (ct.Register(() => Stop(process, SigTerm)))
        {
            await process.WaitForExitAsync(CancellationToken.None);
        }

        return process.ExitCode;
    }

    private static void Forward(PosixSignalContext context, Process process, int signal)
    {
        context.Cancel = true;
        Stop(process, signal);
    }

    // Asks the server to stop as it would be asked directly; on Windows, Ctrl+C reaches it through the shared console.
    private static void Stop(Process process, int signal)
    {
        try
        {
            if (!process.HasExited && !OperatingSystem.IsWindows())
            {
                _ = Kill(process.Id, signal);
            }
        }
        catch (InvalidOperationException)
        {
            // It has exited meanwhile.
        }
    }

    /// <summary>
    /// The <c>dotnet</c> host this process runs on (<c>dotnet opencm.dll</c>), else the one the SDK
    /// names, else the one whose shared runtime this process uses (the apphost <c>opencm</c>).
    /// </summary>
    private static string DotnetHost()
    {
        var name = OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet";
        if (Environment.ProcessPath is { } self && string.Equals(Path.GetFileName(self), name, StringComparison.OrdinalIgnoreCase))
        {
            return self;
        }

        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } sdkHost && File.Exists(sdkHost))
        {
            return sdkHost;
        }

        // The shared runtime lives in <root>/shared/Microsoft.NETCore.App/<version>/, the host in <root>.
        var root = Path.GetFullPath(Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", ".."));
        var beside = Path.Combine(root, name);
        return File.Exists(beside) ? beside : name;
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}
