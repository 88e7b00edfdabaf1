using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Time.Testing;
using OpenCM.TestKit;

namespace OpenCM.Cli.Tests;

/// <summary><c>opencm doctor</c> (issue #21.5): one line a check, exit code 1 naming what is broken, never a stack trace or a secret.</summary>
public sealed class DoctorTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Data => _dir.File("data");

    private static async Task<(int Exit, string Out, string Err)> DoctorAsync(TimeProvider clock, params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exit = await OpenCmCli.RunAsync(["doctor", .. args], TextReader.Null, output, error, clock);
        return (exit, output.ToString(), error.ToString());
    }

    private static Task<(int Exit, string Out, string Err)> DoctorAsync(params string[] args) => DoctorAsync(TimeProvider.System, args);

    private async Task InitAsync()
    {
        var init = await Cli.RunAsync("init", "--data", Data);
        Assert.True(init.Exit == 0, init.Err);
    }

    // Whatever doctor says, it says it in lines of its own: no stack trace, nothing on stderr.
    private static void AssertPlain((int Exit, string Out, string Err) run)
    {
        Assert.DoesNotContain("   at ", run.Out + run.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", run.Out + run.Err, StringComparison.Ordinal);
        Assert.Equal("", run.Err);
    }

    [Fact]
    public async Task Doctor_HealthyDataDirectory_EveryCheckOkExitZeroAndNoSecret()
    {
        await InitAsync();
        var run = await DoctorAsync("--data", Data);
        Assert.True(run.Exit == 0, run.Out + run.Err);
        AssertPlain(run);
        foreach (var check in new[] { "configuration", "data directory", "master key", "database", "ca", "directory", "clock" })
        {
            Assert.Contains(run.Out.Split('\n'), l => l.StartsWith("ok", StringComparison.Ordinal) && l[4..].TrimStart().StartsWith(check, StringComparison.Ordinal));
        }

        Assert.DoesNotContain("FAIL", run.Out, StringComparison.Ordinal);
        Assert.DoesNotContain(run.Out.Split('\n'), l => l.StartsWith("warn", StringComparison.Ordinal));
        Assert.DoesNotContain(Convert.ToBase64String(await File.ReadAllBytesAsync(Path.Combine(Data, "master.key"))), run.Out, StringComparison.Ordinal);
        Assert.DoesNotContain(Convert.ToHexString(await File.ReadAllBytesAsync(Path.Combine(Data, "master.key"))), run.Out, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Doctor_Json_OneObjectACheckAndTheSummaryOnStderr()
    {
        await InitAsync();
        var run = await DoctorAsync("--data", Data, "--format", "json");
        Assert.True(run.Exit == 0, run.Out + run.Err);
        using var json = System.Text.Json.JsonDocument.Parse(run.Out);
        var checks = json.RootElement.EnumerateArray().ToList();
        Assert.Contains(checks, c => c.GetProperty("check").GetString() == "master key" && c.GetProperty("status").GetString() == "Ok");
        Assert.All(checks, c => Assert.False(string.IsNullOrEmpty(c.GetProperty("message").GetString())));
        Assert.StartsWith("No failures", run.Err, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Ca:ReloadSeconds is 'soon'", "--Ca:ReloadSeconds=soon")]
    [InlineData("Ca:KeyAlgorithm is 'Dsa'", "--Ca:KeyAlgorithm=Dsa")]
    [InlineData("Connections:MaxConcurrent is 'many'", "--Connections:MaxConcurrent=many")]
    [InlineData("RateLimits:Enabeld is not a setting", "--RateLimits:Enabeld=false")]
    [InlineData("Auth:Negotiate:Enabled is 'maybe'", "--Auth:Negotiate:Enabled=maybe")]
    [InlineData("'sqlite' or 'postgres'", "--database", "oracle")]
    [InlineData("'embedded' or 'ldap'", "--Directory:Source=novell")]
    [InlineData("Ca:PublicUrl is 'cm.contoso.com'", "--Ca:PublicUrl=cm.contoso.com")]
    public async Task Doctor_BrokenSetting_ExitOneNamingIt(string named, params string[] setting)
    {
        await InitAsync();
        var run = await DoctorAsync(["--data", Data, .. setting]);
        Assert.True(run.Exit == 1, run.Out + run.Err);
        AssertPlain(run);
        Assert.Contains(run.Out.Split('\n'), l => l.StartsWith("FAIL", StringComparison.Ordinal) && l.Contains(named, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Doctor_NoDataDirectory_FailsNamingItAndCreatesNothing()
    {
        var run = await DoctorAsync("--data", Data);
        Assert.Equal(1, run.Exit);
        AssertPlain(run);
        Assert.Contains("no OpenCM database in", run.Out, StringComparison.Ordinal);
        Assert.Contains("opencm init", run.Out, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Data));
    }

    [Fact]
    public async Task Doctor_SchemaNewerThanThisBuild_FailsNamingTheVersions()
    {
        await InitAsync();
        await using (var conn = new SqliteConnection($"Data Source={Path.Combine(Data, "opencm.db")};Pooling=false"))
        {
            await conn.OpenAsync();
            await using var cmd = conn.CreateCommand();
            cmd.CommandText = "INSERT INTO schema_migrations (version, name, applied) VALUES (9999, '9999_from_the_future', 0)";
            await cmd.ExecuteNonQueryAsync();
        }

        var run = await DoctorAsync("--data", Data);
        Assert.Equal(1, run.Exit);
        AssertPlain(run);
        Assert.Contains("schema version 9999 is newer than this build's", run.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Doctor_SchemaBehind_WarnsExitZero()
    {
        await InitAsync();
        await using (var conn = new SqliteConnection($"Data Source={Path.Combine(Data, "opencm.db")};Pooling=false"))
        {
            await conn.OpenAsync();
            await using var cmd = conn.CreateCommand();
            cmd.CommandText = "DELETE FROM schema_migrations WHERE version = (SELECT MAX(version) FROM schema_migrations)";
            await cmd.ExecuteNonQueryAsync();
        }

        var run = await DoctorAsync("--data", Data);
        Assert.True(run.Exit == 0, run.Out);
        Assert.Contains(run.Out.Split('\n'), l => l.StartsWith("warn", StringComparison.Ordinal) && l.Contains("migration(s) to apply", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Doctor_CaKeyMissing_FailsNamingTheCa()
    {
        await InitAsync();
        await using (var conn = new SqliteConnection($"Data Source={Path.Combine(Data, "opencm.db")};Pooling=false"))
        {
            await conn.OpenAsync();
            await using var cmd = conn.CreateCommand();
            cmd.CommandText = "DELETE FROM secrets WHERE name = 'ca'";
            Assert.Equal(1, await cmd.ExecuteNonQueryAsync());
        }

        var run = await DoctorAsync("--data", Data);
        Assert.Equal(1, run.Exit);
        AssertPlain(run);
        Assert.Contains(run.Out.Split('\n'), l => l.StartsWith("FAIL", StringComparison.Ordinal) && l.Contains("CA 1 'OpenCM Root CA': its key cannot be reached", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Doctor_CaCertificateExpiredOrEndingOrNotYetStarted_UnderPinnedTime()
    {
        await InitAsync();
        var healthy = await DoctorAsync("--data", Data);
        var until = DateTimeOffset.ParseExact(
            System.Text.RegularExpressions.Regex.Match(healthy.Out, @"valid until (\d{4}-\d\d-\d\d \d\d:\d\d) UTC").Groups[1].Value + "Z",
            "yyyy-MM-dd HH:mmZ", CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal);

        // Past its end: FAIL.
        var expired = await DoctorAsync(new FakeTimeProvider(until.AddDays(1)), "--data", Data);
        Assert.True(expired.Exit == 1, expired.Out);
        AssertPlain(expired);
        Assert.Contains(expired.Out.Split('\n'), l => l.StartsWith("FAIL", StringComparison.Ordinal) && l.Contains("its certificate expired on", StringComparison.Ordinal));

        // Within 30 days of it: a warning, exit 0.
        var ending = await DoctorAsync(new FakeTimeProvider(until.AddDays(-10)), "--data", Data);
        Assert.True(ending.Exit == 0, ending.Out);
        Assert.Contains(ending.Out.Split('\n'), l => l.StartsWith("warn", StringComparison.Ordinal) && l.Contains("roll it over", StringComparison.Ordinal));

        // A clock behind the CA's notBefore (made five minutes back): a warning about the clock.
        var behind = await DoctorAsync(new FakeTimeProvider(DateTimeOffset.UtcNow.AddDays(-1)), "--data", Data);
        Assert.True(behind.Exit == 0, behind.Out);
        Assert.Contains(behind.Out.Split('\n'), l => l.StartsWith("warn", StringComparison.Ordinal) && l.Contains("clock", StringComparison.Ordinal) && l.Contains("starts on", StringComparison.Ordinal));
    }

    [SkippableFact]
    public async Task Doctor_MasterKeyReadableByOthers_Fails()
    {
        Skip.If(OperatingSystem.IsWindows(), "Unix file modes");
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        await InitAsync();
        File.SetUnixFileMode(Path.Combine(Data, "master.key"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        var run = await DoctorAsync("--data", Data);
        Assert.Equal(1, run.Exit);
        Assert.Contains("chmod 600", run.Out, StringComparison.Ordinal);

        // Doctor only looks: the mode is as it found it.
        Assert.True((File.GetUnixFileMode(Path.Combine(Data, "master.key")) & UnixFileMode.OtherRead) != 0);
    }

    [Fact]
    public async Task Doctor_PostgresUnreachable_FailsWithoutThePassword()
    {
        const string Password = "doctor-secret-pw-4711";
        var key = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        var connection = $"Host=127.0.0.1;Port={ClosedPort()};Database=opencm;Username=opencm;Password={Password};Timeout=3";
        var run = await DoctorAsync("--data", Data, "--database", "postgres", "--connection", connection, "--Ca:PublicUrl=https://cm.contoso.com", $"--OpenCM:MasterKey={key}");
        Assert.Equal(1, run.Exit);
        AssertPlain(run);
        Assert.Contains(run.Out.Split('\n'), l => l.StartsWith("FAIL", StringComparison.Ordinal) && l.Contains("does not answer", StringComparison.Ordinal));
        Assert.DoesNotContain(Password, run.Out, StringComparison.Ordinal);
        Assert.DoesNotContain(key, run.Out, StringComparison.Ordinal);

        // Without Ca:PublicUrl a cluster is refused before anything is opened.
        var noUrl = await DoctorAsync("--data", Data, "--database", "postgres", "--connection", connection, $"--OpenCM:MasterKey={key}");
        Assert.Equal(1, noUrl.Exit);
        Assert.Contains("Ca:PublicUrl is not set", noUrl.Out, StringComparison.Ordinal);
        Assert.DoesNotContain(Password, noUrl.Out, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Doctor_Postgres_HealthyComparesClocksAndWrongPasswordFailsUnsaid()
    {
        var server = await PostgresServer.Shared;
        Prerequisite.SkipIfMissing(server is null, PostgresServer.SkipReason);
        var connection = await server!.CreateDatabaseAsync("doctor");
        string[] store = ["--data", Data, "--database", "postgres", "--connection", connection, "--Ca:PublicUrl=https://cm.contoso.test"];
        var init = await Cli.RunAsync(["init", .. store]);
        Assert.True(init.Exit == 0, init.Err);

        var healthy = await DoctorAsync(store);
        Assert.True(healthy.Exit == 0, healthy.Out + healthy.Err);
        AssertPlain(healthy);
        Assert.Contains(healthy.Out.Split('\n'), l => l.StartsWith("ok", StringComparison.Ordinal) && l.Contains("of PostgreSQL's", StringComparison.Ordinal));

        // A clock an hour off PostgreSQL's fails the clock check.
        var skewed = await DoctorAsync(new FakeTimeProvider(DateTimeOffset.UtcNow.AddHours(1)), store);
        Assert.Equal(1, skewed.Exit);
        Assert.Contains(skewed.Out.Split('\n'), l => l.StartsWith("FAIL", StringComparison.Ordinal) && l.Contains("clock", StringComparison.Ordinal) && l.Contains("PostgreSQL", StringComparison.Ordinal));

        // A database that is not there (the test server trusts loopback, so a wrong password would
        // pass): a FAIL, and the connection string's password is not repeated.
        const string Wrong = "not-the-password-8462";
        var builder = new Npgsql.NpgsqlConnectionStringBuilder(connection) { Database = "no_such_database", Password = Wrong, Timeout = 5 };
        var refused = await DoctorAsync(["--data", Data, "--database", "postgres", "--connection", builder.ConnectionString, "--Ca:PublicUrl=https://cm.contoso.test"]);
        Assert.Equal(1, refused.Exit);
        AssertPlain(refused);
        Assert.DoesNotContain(Wrong, refused.Out, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Doctor_CaKeyInPkcs11Token_FoundAndSigns_OtherTokenOrWrongPinFails()
    {
        // This process's SoftHSM token directory (SOFTHSM2_CONF set before the module loads); the PIN from a file.
        SoftHsmToken.SkipIfMissing();
        var hsm = SoftHsmToken.ForThisProcess;
        var suffix = Guid.NewGuid().ToString("N")[..8];
        var (withKey, empty) = ($"doctor-{suffix}", $"doctor-empty-{suffix}");
        await hsm.InitTokenAsync(withKey);
        await hsm.InitTokenAsync(empty);
        var pinFile = _dir.File("pin");
        await File.WriteAllTextAsync(pinFile, SoftHsmToken.UserPin + "\n");
        string[] Hsm(string token, string pin) =>
            ["--data", Data, $"--Ca:Pkcs11:Library={SoftHsmToken.Module}", $"--Ca:Pkcs11:TokenLabel={token}", "--Ca:Pkcs11:KeyLabel=doctor-root", $"--Ca:Pkcs11:PinFile={pin}"];
        var init = await Cli.RunAsync(["init", .. Hsm(withKey, pinFile)]);
        Assert.True(init.Exit == 0, init.Err);

        var healthy = await DoctorAsync(Hsm(withKey, pinFile));
        Assert.True(healthy.Exit == 0, healthy.Out + healthy.Err);
        AssertPlain(healthy);
        Assert.Contains(healthy.Out.Split('\n'), l => l.StartsWith("ok", StringComparison.Ordinal) && l.Contains("key reachable (PKCS#11 token), test signature verifies", StringComparison.Ordinal));

        // The token named holds no such key: FAIL naming the CA and its key reference.
        var elsewhere = await DoctorAsync(Hsm(empty, pinFile));
        Assert.Equal(1, elsewhere.Exit);
        AssertPlain(elsewhere);
        Assert.Contains(elsewhere.Out.Split('\n'), l => l.StartsWith("FAIL", StringComparison.Ordinal) && l.Contains("its key cannot be reached (pkcs11:doctor-root)", StringComparison.Ordinal));

        // A wrong PIN: FAIL, and neither PIN is printed.
        const string WrongPin = "9876-wrong-pin";
        var wrongFile = _dir.File("wrong-pin");
        await File.WriteAllTextAsync(wrongFile, WrongPin);
        var wrong = await DoctorAsync(Hsm(withKey, wrongFile));
        Assert.Equal(1, wrong.Exit);
        AssertPlain(wrong);
        Assert.DoesNotContain(WrongPin, wrong.Out, StringComparison.Ordinal);
        Assert.DoesNotContain(SoftHsmToken.UserPin, wrong.Out + healthy.Out + elsewhere.Out, StringComparison.Ordinal);
    }

    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
