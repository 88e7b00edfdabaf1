using System.Diagnostics;

namespace OpenCM.TestKit;

/// <summary>
/// What the fixtures of machine-wide servers share (the Samba DC's fixed ports, pcscd's fixed
/// socket and vpcd's ports): a lock file that test processes take turns on, and the PID a
/// fixture recorded, so that a server left by a test process that died can be stopped by the next.
/// </summary>
internal static class MachineResources
{
    /// <summary>The lock at <paramref name="path"/> (an exclusive open, which .NET takes with flock), waiting up to <paramref name="wait"/>.</summary>
    public static async Task<FileStream> TakeLockAsync(string path, TimeSpan wait, TimeSpan poll)
    {
        var deadline = DateTime.UtcNow + wait;
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(poll);
            }
        }
    }

    /// <summary>
    /// Stops the process whose PID <paramref name="pidFile"/> holds (and, when given, whose name is
    /// <paramref name="processName"/>, as a recycled PID may be another program's). The caller holds
    /// the lock, so whatever the file names is stale.
    /// </summary>
    public static void KillRecorded(string pidFile, string? processName = null)
    {
        try
        {
            if (File.Exists(pidFile) && int.TryParse(File.ReadAllText(pidFile).Trim(), out var pid))
            {
                using var process = Process.GetProcessById(pid);
                if (processName is null || process.ProcessName == processName)
                {
                    process.Kill(entireProcessTree: true);
                    process.WaitForExit(10_000);
                }
            }
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException or System.ComponentModel.Win32Exception)
        {
            // Already gone.
        }
    }
}
