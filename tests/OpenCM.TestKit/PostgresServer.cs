using System.Diagnostics;
using Npgsql;

namespace OpenCM.TestKit;

/// <summary>
/// A real PostgreSQL for the tests, started from Debian's packages (<c>initdb</c>, <c>pg_ctl</c>)
/// in a temporary directory on a free loopback port, once per test process, and stopped when the
/// process exits. Each test gets a database of its own. Run as root (as CI is), the cluster runs
/// as the <c>postgres</c> user, since PostgreSQL refuses root. When the binaries are absent,
/// <see cref="Shared"/> yields null and the tests say so as they skip (.ci/run installs them).
/// </summary>
public sealed class PostgresServer
{
    private static readonly Lazy<Task<PostgresServer?>> Instance = new(StartNewAsync);
    private readonly string _root;
    private readonly string _bin;
    private readonly string? _runAs;
    private int _databases;

    private PostgresServer(string root, string bin, string? runAs, int port)
    {
        _root = root;
        _bin = bin;
        _runAs = runAs;
        Port = port;
    }

    /// <summary>Why PostgreSQL tests skip on this machine.</summary>
    public const string SkipReason = "PostgreSQL binaries (initdb, pg_ctl) not found: install Debian's postgresql package (.ci/run does) to run the PostgreSQL tests.";

    public int Port { get; }

    /// <summary>The process's server, started on first use; null when PostgreSQL is not installed.</summary>
    public static Task<PostgresServer?> Shared => Instance.Value;

    /// <summary>The connection string of <paramref name="database"/> as the superuser.</summary>
    public string ConnectionString(string database) =>
        new NpgsqlConnectionStringBuilder { Host = "127.0.0.1", Port = Port, Username = "opencm", Database = database, Pooling = true, MaxPoolSize = 40, IncludeErrorDetail = true }.ToString();

    /// <summary>A new, empty database; its connection string.</summary>
    public async Task<string> CreateDatabaseAsync(string prefix = "t")
    {
        var name = $"{prefix}_{Environment.ProcessId}_{Interlocked.Increment(ref _databases)}_{Guid.NewGuid():N}"[..40].ToLowerInvariant();
        await using (var conn = new NpgsqlConnection(ConnectionString("postgres")))
        {
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", conn);
            await cmd.ExecuteNonQueryAsync();
        }

        return ConnectionString(name);
    }

    /// <summary>A server of its own (for tests that stop and start it); null when PostgreSQL is not installed.</summary>
    public static async Task<PostgresServer?> StartNewAsync()
    {
        var bin = FindBinaries();
        if (bin is null)
        {
            return null;
        }

        // 1. Clusters earlier test processes left running (a test host killed before its exit
        //    handler ran) are stopped; then a directory the server's user owns, named for its owner.
        await ReapOrphansAsync(bin);
        var root = Path.Combine(Path.GetTempPath(), "opencm-pg-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(root);
        await File.WriteAllTextAsync(Path.Combine(root, OwnerFile), Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var runAs = Environment.UserName == "root" ? "postgres" : null;
        if (runAs is not null)
        {
            await RunAsync("chown", null, runAs, root);
        }

        // 2. A cluster with trust authentication on loopback only, and the server on a free port.
        var data = Path.Combine(root, "data");
        await RunAsync(Path.Combine(bin, "initdb"), runAs, "-D", data, "-U", "opencm", "--auth=trust", "-E", "UTF8", "--no-sync", "--locale=C");
        var port = LoopbackPort.Free();
        await RunAsync(Path.Combine(bin, "pg_ctl"), runAs, "-D", data, "-l", Path.Combine(root, "server.log"), "-w", "-t", "60",
            "-o", $"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=300", "start");
        var server = new PostgresServer(root, bin, runAs, port);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => server.Stop();
        return server;
    }

    /// <summary>Stops the server as an outage would (fast shutdown: connections are cut).</summary>
    public Task StopAsync() => RunAsync(Path.Combine(_bin, "pg_ctl"), _runAs, "-D", Path.Combine(_root, "data"), "-m", "fast", "-w", "stop");

    /// <summary>Starts the stopped server again on the same port.</summary>
    public Task RestartAsync() => RunAsync(Path.Combine(_bin, "pg_ctl"), _runAs, "-D", Path.Combine(_root, "data"), "-l", Path.Combine(_root, "server.log"), "-w", "-t", "60",
        "-o", $"-p {Port} -k {_root} -c listen_addresses=127.0.0.1 -c max_connections=300", "start");

    private void Stop()
    {
        try
        {
            var args = new List<string> { "-D", Path.Combine(_root, "data"), "-m", "immediate", "stop" };
            RunAsync(Path.Combine(_bin, "pg_ctl"), _runAs, [.. args]).GetAwaiter().GetResult();
            Directory.Delete(_root, recursive: true);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or UnauthorizedAccessException)
        {
            // Best effort at exit: a leftover temp directory must not fail the run.
        }
    }

    private const string OwnerFile = "owner.pid";

    private static async Task ReapOrphansAsync(string bin)
    {
        foreach (var dir in Directory.GetDirectories(Path.GetTempPath(), "opencm-pg-*"))
        {
            // Alive owners keep theirs; a directory without an owner yet may be another process's being made.
            var owner = Path.Combine(dir, OwnerFile);
            var orphaned = File.Exists(owner)
                ? !(int.TryParse(await File.ReadAllTextAsync(owner), out var pid) && IsAlive(pid))
                : Directory.GetCreationTimeUtc(dir) < DateTime.UtcNow.AddHours(-1);
            if (!orphaned)
            {
                continue;
            }

            try
            {
                if (File.Exists(Path.Combine(dir, "data", "postmaster.pid")))
                {
                    await RunAsync(Path.Combine(bin, "pg_ctl"), Environment.UserName == "root" ? "postgres" : null, "-D", Path.Combine(dir, "data"), "-m", "immediate", "stop");
                }
            }
            catch (InvalidOperationException)
            {
                // Not running after all.
            }

            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Another process's leftovers we cannot remove are not this run's concern.
            }
        }
    }

    private static bool IsAlive(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private static string? FindBinaries()
    {
        // OPENCM_PG_BINDIR names the binaries' folder; "none" runs as a machine without them would.
        var configured = Environment.GetEnvironmentVariable("OPENCM_PG_BINDIR");
        if (configured == "none")
        {
            return null;
        }

        if (configured is { Length: > 0 } && File.Exists(Path.Combine(configured, "initdb")))
        {
            return configured;
        }

        // Debian installs each major version under /usr/lib/postgresql/N/bin; the newest wins.
        const string Debian = "/usr/lib/postgresql";
        if (Directory.Exists(Debian))
        {
            var newest = Directory.GetDirectories(Debian)
                .Select(d => (Dir: Path.Combine(d, "bin"), Version: int.TryParse(Path.GetFileName(d), out var v) ? v : 0))
                .Where(d => File.Exists(Path.Combine(d.Dir, "initdb")) && File.Exists(Path.Combine(d.Dir, "pg_ctl")))
                .OrderByDescending(d => d.Version)
                .FirstOrDefault();
            if (newest.Dir is not null)
            {
                return newest.Dir;
            }
        }

        return (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .FirstOrDefault(d => File.Exists(Path.Combine(d, "initdb")) && File.Exists(Path.Combine(d, "pg_ctl")));
    }

    private static async Task RunAsync(string program, string? runAs, params string[] args)
    {
        var start = new ProcessStartInfo(runAs is null ? program : "runuser")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (runAs is not null)
        {
            start.ArgumentList.Add("-u");
            start.ArgumentList.Add(runAs);
            start.ArgumentList.Add("--");
            start.ArgumentList.Add(program);
        }

        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{program} did not start");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', args)} exited {process.ExitCode}: {await output}{await error}");
        }
    }
}
