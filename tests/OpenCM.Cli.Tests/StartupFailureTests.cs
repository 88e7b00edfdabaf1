using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using OpenCM.TestKit;

namespace OpenCM.Cli.Tests;

/// <summary>
/// Issue #23.9, #23.10 and the serve part of #23.8: what an operator meets when a start fails, when
/// the server runs without appsettings.json, and in <c>opencm serve --help</c>. A start that fails
/// for a reason the operator fixes prints one <c>error:</c> line on stderr saying what is wrong and
/// what to do, exits 2 (a local error), and prints no stack trace anywhere (it printed 58 to 75 lines).
/// </summary>
public sealed class StartupFailureTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Serve_PortInUse_OneErrorLineNamingTheAddressExitTwo()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;

        var run = await OpencmAsync(null, "serve", "--data", _dir.File("data"), "--urls", $"http://127.0.0.1:{port}");

        AssertOneErrorLine(run, 2, $"http://127.0.0.1:{port}", "address already in use", "--urls");
    }

    [Fact]
    public async Task Serve_HttpsWithoutCertificate_OneErrorLineNamingBothWaysExitTwo()
    {
        // A home of its own: no ASP.NET Core development certificate there for Kestrel to fall back on.
        var home = _dir.File("home");
        Directory.CreateDirectory(home);

        var run = await OpencmAsync(new Dictionary<string, string> { ["HOME"] = home }, "serve", "--data", _dir.File("data"), "--urls", $"https://127.0.0.1:{LoopbackPort.Free()}");

        AssertOneErrorLine(run, 2, "needs a TLS certificate", "--Tls:FromOwnCa=", "Certificate:Path");
    }

    [Fact]
    public async Task Serve_PostgresNotListening_OneErrorLineNamingTheDatabaseExitTwo()
    {
        var port = LoopbackPort.Free(); // nothing listens there
        var connection = $"Host=127.0.0.1;Port={port};Database=opencm;Username=opencm;Password=never-printed-7731;Timeout=5";

        var run = await OpencmAsync(null, "serve", "--data", _dir.File("data"), "--database", "postgres", "--connection", connection,
            "--urls", $"http://127.0.0.1:{LoopbackPort.Free()}", "--Ca:PublicUrl=https://cm.contoso.test");

        AssertOneErrorLine(run, 2, $"the database at postgres://127.0.0.1:{port}/opencm cannot be reached", "connection string");
        Assert.DoesNotContain("never-printed-7731", run.Out + run.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DbCopy_TargetNotListening_OneErrorLineNamingTheTarget()
    {
        var source = _dir.File("source");
        var init = await Cli.RunAsync("init", "--data", source);
        Assert.True(init.Exit == 0, init.Err);
        var port = LoopbackPort.Free();

        var (exit, output, err) = await Cli.RunAsync("db", "copy", "--from", $"sqlite:{source}", "--to", $"postgres:Host=127.0.0.1;Port={port};Database=opencm;Username=opencm;Timeout=5");

        AssertOneErrorLine((exit, output, err), null, $"--to: the database at postgres://127.0.0.1:{port}/opencm cannot be reached", "connection string of --to");
        Assert.Equal("", output);
    }

    [Fact]
    public async Task Serve_SqliteSchemaNewerThanThisBuild_RefusesNamingBothVersionsExitTwo()
    {
        var data = _dir.File("data");
        var init = await Cli.RunAsync("init", "--data", data);
        Assert.True(init.Exit == 0, init.Err);
        long known;
        await using (var db = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(data, "opencm.db")};Pooling=False"))
        {
            await db.OpenAsync();
            known = await NewerMigrationAsync(db);
        }

        var run = await OpencmAsync(null, "serve", "--data", data, "--urls", $"http://127.0.0.1:{LoopbackPort.Free()}");

        AssertOneErrorLine(run, 2, $"schema is version 9999, newer than {known}, the newest this OpenCM knows");
        var migrate = await Cli.RunAsync("migrate", "--data", data);
        AssertOneErrorLine(migrate, null, $"schema is version 9999, newer than {known}");
    }

    [SkippableFact]
    public async Task Serve_PostgresSchemaNewerThanThisBuild_RefusesNamingBothVersionsExitTwo()
    {
        var server = await PostgresServer.Shared;
        Prerequisite.SkipIfMissing(server is null, PostgresServer.SkipReason);
        var connection = await server!.CreateDatabaseAsync("newer");
        var migrated = await Cli.RunAsync("migrate", "--database", "postgres", "--connection", connection);
        Assert.True(migrated.Exit == 0, migrated.Err);
        long known;
        await using (var db = new Npgsql.NpgsqlConnection(connection))
        {
            await db.OpenAsync();
            known = await NewerMigrationAsync(db);
        }

        var run = await OpencmAsync(null, "serve", "--data", _dir.File("node"), "--database", "postgres", "--connection", connection,
            "--urls", $"http://127.0.0.1:{LoopbackPort.Free()}", "--Ca:PublicUrl=https://cm.contoso.test");

        AssertOneErrorLine(run, 2, $"schema is version 9999, newer than {known}, the newest this OpenCM knows");
        var again = await Cli.RunAsync("migrate", "--database", "postgres", "--connection", connection);
        AssertOneErrorLine(again, null, $"schema is version 9999, newer than {known}");
    }

    // Issue #23.10: a server copied without appsettings.json (a published single file) logs no line per health probe.
    [Fact]
    public async Task Server_WithoutAppSettings_HealthProbesWriteNoLogLines()
    {
        var server = _dir.File("server");
        CopyDirectory(Path.Combine(AppContext.BaseDirectory, ServerLauncher.Folder), server);
        File.Delete(Path.Combine(server, "appsettings.json"));
        var work = _dir.File("work"); // the working directory: no appsettings.json there either
        Directory.CreateDirectory(work);
        var port = LoopbackPort.Free();
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = work };
        foreach (var a in (string[])[Path.Combine(server, ServerLauncher.Assembly), "--data", _dir.File("data"), "--urls", $"http://127.0.0.1:{port}"])
        {
            start.ArgumentList.Add(a);
        }

        var lines = new List<string>();
        var serving = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var process = Process.Start(start)!;
        void Collect(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (lines)
            {
                lines.Add(line);
            }

            if (line.StartsWith("OpenCM is serving", StringComparison.Ordinal))
            {
                serving.TrySetResult();
            }
        }

        process.OutputDataReceived += (_, e) => Collect(e.Data);
        process.ErrorDataReceived += (_, e) => Collect(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await serving.Task.WaitAsync(TimeSpan.FromSeconds(120));
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/health/ready")).StatusCode); // the first request's one-time lines, if any
            await Task.Delay(TimeSpan.FromSeconds(1));
            int before;
            lock (lines)
            {
                before = lines.Count;
            }

            for (var i = 0; i < 10; i++)
            {
                Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/health/live")).StatusCode);
                Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/health/ready")).StatusCode);
            }

            await Task.Delay(TimeSpan.FromSeconds(2)); // the console logger writes from a queue
            lock (lines)
            {
                Assert.True(lines.Count == before, "20 health probes wrote:\n" + string.Join('\n', lines.Skip(before)));
            }
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    [Fact]
    public async Task ServeHelp_Asked_BalancedUsageAndTheMainConfigurationKeys()
    {
        var (exit, output, _) = await Cli.RunAsync("serve", "--help");

        Assert.Equal(0, exit);
        var usage = output.Split('\n').SkipWhile(l => !l.StartsWith("Usage:", StringComparison.Ordinal)).Skip(1).First().Trim();
        Assert.Equal("opencm serve [options] [--Section:Key=value ...]", usage);
        Assert.Equal(usage.Count(c => c == '['), usage.Count(c => c == ']'));
        Assert.DoesNotContain("Arguments passed to the application", output, StringComparison.Ordinal);
        foreach (var option in (string[])["--data", "--database", "--connection", "--urls"])
        {
            Assert.Contains(option, output, StringComparison.Ordinal);
        }

        // Every key shown, and each is a row of docs/configuration.md (whose key for Kestrel's endpoints is written with <Name>).
        var reference = ConfigurationReference();
        foreach (var (key, _) in ServeHelp.Keys)
        {
            Assert.Contains("  " + key + " ", output, StringComparison.Ordinal);
            Assert.Contains("`" + key.Replace("Endpoints:Https:", "Endpoints:<Name>:", StringComparison.Ordinal), reference, StringComparison.Ordinal);
        }

        foreach (var key in (string[])["OpenCM:Database", "OpenCM:ConnectionString", "OpenCM:DataDirectory", "OpenCM:MasterKey", "urls", "Tls:FromOwnCa", "Ca:PublicUrl"])
        {
            Assert.Contains(ServeHelp.Keys, k => k.Key == key);
        }

        Assert.Contains("--Section:Key=value", output, StringComparison.Ordinal);
    }

    // One line on stderr, "error: " and the cause; no stack trace in anything printed; the exit code given (else any but 0).
    private static void AssertOneErrorLine((int Exit, string Out, string Err) run, int? exit, params string[] cause)
    {
        var all = run.Out + run.Err;
        if (exit is { } expected)
        {
            Assert.True(run.Exit == expected, $"exit {run.Exit}:\n{all}");
        }
        else
        {
            Assert.True(run.Exit != 0, all);
        }

        var lines = run.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.True(lines.Length == 1 && lines[0].StartsWith("error: ", StringComparison.Ordinal), "stderr:\n" + run.Err);
        foreach (var c in cause)
        {
            Assert.Contains(c, lines[0], StringComparison.Ordinal);
        }

        Assert.DoesNotContain("   at ", all, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", all, StringComparison.Ordinal);
    }

    // Records a migration newer than any this build has, as a newer OpenCM would; returns the newest this build applied.
    private static async Task<long> NewerMigrationAsync(System.Data.Common.DbConnection db)
    {
        await using var newest = db.CreateCommand();
        newest.CommandText = "SELECT MAX(version) FROM schema_migrations";
        var known = Convert.ToInt64(await newest.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
        await using var insert = db.CreateCommand();
        insert.CommandText = "INSERT INTO schema_migrations (version, name, applied) VALUES (9999, '9999_from_the_future', 0)";
        await insert.ExecuteNonQueryAsync();
        Assert.InRange(known, 1, 9998);
        return known;
    }

    // opencm as its own process (the built opencm.dll beside the tests), stdout and stderr apart.
    private static Task<(int Exit, string Out, string Err)> OpencmAsync(IReadOnlyDictionary<string, string>? environment, params string[] args) =>
        Cli.ProcessAsync(environment, args);

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }

    private static string ConfigurationReference()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "OpenCM.slnx")))
            {
                return File.ReadAllText(Path.Combine(dir.FullName, "docs", "configuration.md"));
            }
        }

        throw new InvalidOperationException("OpenCM.slnx not found above the test's directory.");
    }
}
