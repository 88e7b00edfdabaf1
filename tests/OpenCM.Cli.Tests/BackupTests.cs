using System.Collections.Concurrent;
using System.Net;
using Microsoft.Data.Sqlite;
using OpenCM.TestKit;

namespace OpenCM.Cli.Tests;

/// <summary><c>opencm backup</c> and <c>opencm restore</c> (issue #21.4).</summary>
public sealed class BackupTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Data => _dir.File("data");

    private string KeyFile => Path.Combine(Data, "master.key");

    [Fact]
    public async Task Backup_WhileTheServerTakesRequests_RestoresEveryAcknowledgedWriteWithTheChainIntactAndTheCountsPrinted()
    {
        await using var server = await KestrelServer.StartAsync(Data, "--RateLimits:Enabled=false");
        var admin = (await Cli.RunAsync("token", "--data", Data, "--user", "admin")).Out.Trim();
        using var http = new HttpClient { BaseAddress = new Uri(server.Address) };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", admin);

        // Four clients create requests without pause; a request is acknowledged when its 201 arrives.
        var acknowledged = new ConcurrentQueue<string>();
        using var stop = new CancellationTokenSource();
        var writers = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                using var response = await http.PostAsync("/CertificateManagement/api/v1.0/requests", new StringContent(
                    """{"datacollection":[],"type":"Enroll","profiletemplateuuid":"5b0e3c1e-7f3a-4a55-9c8e-1b2d3e4f5a60","comment":""}""",
                    System.Text.Encoding.UTF8, "application/json"));
                Assert.Equal(HttpStatusCode.Created, response.StatusCode);
                acknowledged.Enqueue((await response.Content.ReadAsStringAsync()).Trim('"').Split('/')[^1]);
            }
        })).ToList();
        while (acknowledged.Count < 20)
        {
            await Task.Delay(20);
        }

        var before = acknowledged.ToList();
        var file = _dir.File("opencm-backup.db");
        var backup = await Cli.RunAsync("backup", "--data", Data, "--out", file);
        var during = acknowledged.Count;
        while (acknowledged.Count < during + 5)
        {
            await Task.Delay(20);
        }

        await stop.CancelAsync();
        await Task.WhenAll(writers);
        Assert.True(backup.Exit == 0, backup.Err);
        Assert.Contains("The master key is not in the backup", backup.Out, StringComparison.Ordinal);

        var restored = _dir.File("restored");
        var restore = await Cli.RunAsync("restore", "--from", file, "--data", restored, "--master-key", KeyFile);
        Assert.True(restore.Exit == 0, restore.Err);
        Assert.Contains("audit chain intact", restore.Out, StringComparison.Ordinal);

        // Every request acknowledged before the backup began is in the restored database.
        var ids = await ScalarsAsync(Path.Combine(restored, "opencm.db"), "SELECT uuid FROM requests");
        Assert.Empty(before.Except(ids));
        Assert.True(ids.Count < acknowledged.Count, "requests acknowledged after the backup ended are not in it");

        // The counts printed are the restored database's.
        var counts = await ScalarsAsync(Path.Combine(restored, "opencm.db"),
            "SELECT COUNT(*) FROM requests UNION ALL SELECT COUNT(*) FROM profiles UNION ALL SELECT COUNT(*) FROM certificates UNION ALL SELECT COUNT(*) FROM smartcards UNION ALL SELECT COUNT(*) FROM audit_events");
        // Not a terminal: plain columns, each as wide as its widest cell, two spaces apart (issue #23.1).
        var headers = new[] { "Requests", "Profiles", "Certificates", "Cards", "Audit events" };
        Assert.Contains(string.Join("  ", counts.Select((c, i) => i == counts.Count - 1 ? c : c.PadRight(Math.Max(c.Length, headers[i].Length)))) + "\n", restore.Out, StringComparison.Ordinal);

        // Neither the token the writers used nor the master key is in anything printed.
        var masterKey = (await File.ReadAllTextAsync(KeyFile)).Trim();
        foreach (var printed in new[] { backup.Out, backup.Err, restore.Out, restore.Err, (await Cli.RunAsync("report", "audit", "--data", Data, "--user", "admin", "--format", "csv")).Out })
        {
            Assert.DoesNotContain(admin, printed, StringComparison.Ordinal);
            Assert.DoesNotContain(masterKey, printed, StringComparison.Ordinal);
        }

        // The restored directory serves: the audit chain verifies there as on the original.
        var verify = await Cli.RunAsync("audit", "verify", "--data", restored);
        Assert.True(verify.Exit == 0, verify.Err);
    }

    [Fact]
    public async Task Backup_OntoAnExistingFile_RefusedAndTheFileUntouched()
    {
        await Cli.RunAsync("init", "--data", Data);
        var file = _dir.File("exists.db");
        await File.WriteAllTextAsync(file, "keep me");
        var (exit, _, err) = await Cli.RunAsync("backup", "--data", Data, "--out", file);
        Assert.Equal(OpenCmCli.Usage, exit);
        Assert.StartsWith("error: ", err, StringComparison.Ordinal);
        Assert.Contains("never overwrites", err, StringComparison.Ordinal);
        Assert.Equal("keep me", await File.ReadAllTextAsync(file));
    }

    [Theory]
    [InlineData("--database", "postgres", "--connection", "Host=127.0.0.1;Port=1;Database=opencm;Username=opencm")]
    [InlineData("--OpenCM:Database=postgres", "--OpenCM:ConnectionString=Host=127.0.0.1;Port=1;Database=opencm;Username=opencm")]
    public async Task Backup_OnPostgres_RefusedPointingToTheDocs(params string[] store)
    {
        var file = _dir.File("pg.db");
        var (exit, _, err) = await Cli.RunAsync(["backup", "--data", Data, "--out", file, .. store]);
        Assert.Equal(OpenCmCli.Usage, exit);
        Assert.Contains("pg_dump", err, StringComparison.Ordinal);
        Assert.Contains("docs/operations.md", err, StringComparison.Ordinal);
        Assert.False(File.Exists(file));
    }

    [Theory]
    [InlineData("not empty")]
    [InlineData("no master key")]
    [InlineData("not a backup")]
    [InlineData("another master key")]
    [InlineData("unknown option")]
    public async Task Restore_Refused_NothingWrittenAndOneLineError(string fault)
    {
        await Cli.RunAsync("init", "--data", Data);
        var file = _dir.File("b.db");
        Assert.Equal(0, (await Cli.RunAsync("backup", "--data", Data, "--out", file)).Exit);
        var target = _dir.File("target");
        string[] args = ["restore", "--from", file, "--data", target, "--master-key", KeyFile];
        switch (fault)
        {
            case "not empty":
                Directory.CreateDirectory(target);
                await File.WriteAllTextAsync(Path.Combine(target, "something"), "x");
                break;
            case "no master key":
                args = args[..^2];
                break;
            case "not a backup":
                args[2] = KeyFile;
                break;
            case "another master key":
                var other = _dir.File("other.key");
                await File.WriteAllTextAsync(other, Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)));
                args[^1] = other;
                break;
            default:
                args = [.. args, "--bogus"];
                break;
        }

        var (exit, _, err) = await Cli.RunAsync(args);
        Assert.Equal(OpenCmCli.Usage, exit);
        Assert.Single(err.Trim().Split('\n'));
        Assert.StartsWith("error: ", err, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(target, "opencm.db")));
        Assert.False(File.Exists(Path.Combine(target, "master.key")));
        Assert.Equal(fault == "not empty", Directory.Exists(target));
    }

    [Fact]
    public async Task Reports_OnAFreshInstallation_EachFormatAndBadInputsAOneLineError()
    {
        await Cli.RunAsync("init", "--data", Data);
        var csv = await Cli.RunAsync("report", "templates", "--data", Data, "--format", "csv");
        Assert.Equal(0, csv.Exit);
        Assert.StartsWith("Name,Uuid,Version,Kind,", csv.Out, StringComparison.Ordinal);
        Assert.Contains("User Certificate,5b0e3c1e-7f3a-4a55-9c8e-1b2d3e4f5a60,1,software,", csv.Out, StringComparison.Ordinal);

        var json = await Cli.RunAsync("report", "audit", "--data", Data, "--user", "admin", "--format", "json");
        Assert.Equal(0, json.Exit);
        using var parsed = System.Text.Json.JsonDocument.Parse(json.Out);
        Assert.Contains(parsed.RootElement.EnumerateArray(), e => e.GetProperty("kind").GetString() == "UserAdded" && e.GetProperty("role").GetString() == "subject");

        var table = await Cli.RunAsync("report", "expiring", "--data", Data, "--days", "30");
        Assert.Equal(0, table.Exit);
        Assert.Contains("0 row(s)", table.Err, StringComparison.Ordinal);

        // Values the report rules refuse are what a 400 is to the server (1); a format OpenCM does not write is a usage error (2).
        foreach (var (bad, code) in new[]
        {
            (new[] { "report", "expiring", "--data", Data, "--days", "-1" }, OpenCmCli.Refused),
            (["report", "expiring", "--data", Data, "--days", "99999999999999"], OpenCmCli.Refused),
            (["report", "requests", "--data", Data, "--from", "2026-02-30"], OpenCmCli.Refused),
            (["report", "requests", "--data", Data, "--from", "2026-12-05", "--to", "2026-01-01"], OpenCmCli.Refused),
            (["report", "audit", "--data", Data, "--user", "nobody"], OpenCmCli.Refused),
            (["report", "cards", "--data", Data, "--format", "xml"], OpenCmCli.Usage),
        })
        {
            var (exit, _, err) = await Cli.RunAsync(bad);
            Assert.Equal((code, 1), (exit, err.Trim().Split('\n').Length));
            Assert.StartsWith("error: ", err, StringComparison.Ordinal);
        }
    }

    private static async Task<List<string>> ScalarsAsync(string database, string sql)
    {
        await using var conn = new SqliteConnection($"Data Source={database};Mode=ReadOnly;Pooling=False");
        await conn.OpenAsync();
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        await using var r = await cmd.ExecuteReaderAsync();
        var values = new List<string>();
        while (await r.ReadAsync())
        {
            values.Add(Convert.ToString(r.GetValue(0), System.Globalization.CultureInfo.InvariantCulture)!);
        }

        return values;
    }
}
