using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace OpenCM.TestKit;

/// <summary>
/// The real PC/SC stack for the smart card tests (issue #22): Debian's <c>pcscd</c>, run in the
/// foreground by the fixture and stopped by PID, with vsmartcard's virtual reader driver
/// (<c>vsmartcard-vpcd</c>), which gives pcscd two readers, "Virtual PCD 00 00" and "… 00 01",
/// into which a card emulator connects on TCP 35963 and 35964 (shared/fixtures.md). pcscd's
/// socket (/run/pcscd/pcscd.comm) and vpcd's ports are fixed, so test processes take turns by a
/// machine-wide lock, held only while some test class of this process leases the daemon (as
/// <see cref="SambaDomainController"/> does). A pcscd left by a test process that died is
/// stopped by the PID it recorded. When pcscd or vpcd is absent, or this process cannot run
/// pcscd (it must be root), <see cref="AcquireAsync"/> yields null and the tests skip saying so.
/// </summary>
public sealed class PcscDaemon
{
    public const string SkipReason = "pcscd with vsmartcard's virtual reader not found, or not root: install Debian's pcscd, vsmartcard-vpcd, opensc and opensc-pkcs11 (.ci/run does) and run as root to run the smart card reader tests.";

    /// <summary>The first virtual reader's name and the port its card connects to.</summary>
    public const string FirstReader = "Virtual PCD 00 00";

    public const int FirstPort = 35963;

    /// <summary>The second virtual reader's name and port.</summary>
    public const string SecondReader = "Virtual PCD 00 01";

    public const int SecondPort = 35964;

    private const string Pcscd = "/usr/sbin/pcscd";
    private const string VpcdDriver = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so";
    private const string LockFile = "/tmp/opencm-pcscd.lock";
    private const string PidFile = "/tmp/opencm-pcscd.pid";
    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static PcscDaemon? _current;
    private static int _leases;
    private readonly FileStream _lock;
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private PcscDaemon(FileStream machineLock, Process process)
    {
        _lock = machineLock;
        _process = process;
    }

    /// <summary>Whether this machine can run the daemon here (binaries present, root).</summary>
    public static bool Available => File.Exists(Pcscd) && File.Exists(VpcdDriver) && Environment.UserName == "root";

    /// <summary>What pcscd printed so far (for failure messages).</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>A lease on the process's pcscd, started (and the machine's lock taken) by the first lease; null when it cannot run here.</summary>
    public static async Task<PcscDaemon?> AcquireAsync()
    {
        if (!Available)
        {
            return null;
        }

        await Gate.WaitAsync();
        try
        {
            _current ??= await StartNewAsync();
            _leases++;
            return _current;
        }
        finally
        {
            Gate.Release();
        }
    }

    /// <summary>Gives a lease back; the last one stops pcscd and lets other test processes have it.</summary>
    public async Task ReleaseAsync()
    {
        await Gate.WaitAsync();
        try
        {
            if (--_leases > 0 || !ReferenceEquals(_current, this))
            {
                return;
            }

            _current = null;
            await StopAsync(_process);
            TryDelete(PidFile);
            await _lock.DisposeAsync();
        }
        finally
        {
            Gate.Release();
        }
    }

    private static async Task<PcscDaemon> StartNewAsync()
    {
        var machineLock = await MachineResources.TakeLockAsync(LockFile, TimeSpan.FromMinutes(10), TimeSpan.FromMilliseconds(500));
        try
        {
            MachineResources.KillRecorded(PidFile, "pcscd");
            var start = new ProcessStartInfo(Pcscd)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            start.ArgumentList.Add("--foreground");
            var process = Process.Start(start) ?? throw new InvalidOperationException("pcscd did not start");
            var daemon = new PcscDaemon(machineLock, process);
            process.OutputDataReceived += (_, e) => daemon.Collect(e.Data);
            process.ErrorDataReceived += (_, e) => daemon.Collect(e.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            await File.WriteAllTextAsync(PidFile, process.Id.ToString(CultureInfo.InvariantCulture));

            // Ready when vpcd listens for both readers' cards. Asked of the kernel (/proc/net/tcp),
            // not by connecting: a connection to those ports is a card being inserted.
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (!(Listening(FirstPort) && Listening(SecondPort)))
            {
                if (process.HasExited || DateTime.UtcNow > deadline)
                {
                    await StopAsync(process);
                    throw new InvalidOperationException($"pcscd did not come up with vpcd's readers:\n{daemon.Output}");
                }

                await Task.Delay(100);
            }

            return daemon;
        }
        catch
        {
            await machineLock.DisposeAsync();
            throw;
        }
    }

    private static bool Listening(int port)
    {
        // /proc/net/tcp lines: "sl local_address rem_address st ...", the address as hex IP:PORT, state 0A = LISTEN.
        var hexPort = ":" + port.ToString("X4", CultureInfo.InvariantCulture);
        foreach (var file in (string[])["/proc/net/tcp", "/proc/net/tcp6"])
        {
            if (!File.Exists(file))
            {
                continue;
            }

            foreach (var line in File.ReadLines(file).Skip(1))
            {
                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (fields.Length > 3 && fields[1].EndsWith(hexPort, StringComparison.Ordinal) && fields[3] == "0A")
                {
                    return true;
                }
            }
        }

        return false;
    }

    private void Collect(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    private static async Task StopAsync(Process process)
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // Best effort.
        }
    }
}
