using OpenCM.TestKit;

namespace OpenCM.Cli.Tests;

/// <summary>
/// Issue #23.7: only <c>opencm init</c> and the server's first start create a master key; every
/// other command given a data directory without one says which file is missing and what creates
/// it, in one line, and writes nothing. Issue #23.5: --server without a scheme is a usage error.
/// </summary>
public sealed class MasterKeyCommandTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Data => _dir.File("data");

    private string KeyFile => Path.Combine(Data, "master.key");

    public static TheoryData<string[]> ReadOnlyCommands() => new()
    {
        new[] { "token", "--user", "admin" },
        new[] { "audit", "verify" },
        new[] { "users", "list" },
        new[] { "report", "templates" },
    };

    [Theory]
    [MemberData(nameof(ReadOnlyCommands))]
    public async Task ReadOnlyCommand_DatabaseWithoutMasterKey_FailsInOneLineAndWritesNoKey(string[] args)
    {
        Assert.Equal(0, (await Cli.RunAsync("init", "--data", Data)).Exit);
        File.Delete(KeyFile);

        var (exit, output, err) = await Cli.RunAsync([.. args, "--data", Data]);

        Assert.NotEqual(0, exit);
        Assert.Equal("", output);
        var line = Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Assert.StartsWith($"error: no master key at '{Path.GetFullPath(KeyFile)}'", line, StringComparison.Ordinal);
        Assert.Contains($"opencm init --data {Path.GetFullPath(Data)}", line, StringComparison.Ordinal);
        Assert.Contains("opencm serve --data", line, StringComparison.Ordinal);
        Assert.DoesNotContain("does not match", line, StringComparison.Ordinal);
        Assert.False(File.Exists(KeyFile));
    }

    [Theory]
    [MemberData(nameof(ReadOnlyCommands))]
    public async Task ReadOnlyCommand_EmptyDirectory_FailsInOneLineAndCreatesNothing(string[] args)
    {
        Directory.CreateDirectory(Data);

        var (exit, _, err) = await Cli.RunAsync([.. args, "--data", Data]);

        Assert.NotEqual(0, exit);
        var line = Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Assert.StartsWith("error: ", line, StringComparison.Ordinal);
        Assert.Contains("opencm init --data", line, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(Data));
    }

    [Fact]
    public async Task Init_FreshDirectory_CreatesTheMasterKey()
    {
        Assert.Equal(0, (await Cli.RunAsync("init", "--data", Data)).Exit);
        Assert.True(File.Exists(KeyFile));
        Assert.Equal(0, (await Cli.RunAsync("audit", "verify", "--data", Data)).Exit);
    }

    // init and serve may create a key, but not beside a database whose secrets were sealed under
    // the missing one: a fresh key there only ended in "does not match" and left a wrong key behind.
    [Fact]
    public async Task Init_DatabaseWithoutItsMasterKey_RefusedAndWritesNoKey()
    {
        Assert.Equal(0, (await Cli.RunAsync("init", "--data", Data)).Exit);
        File.Delete(KeyFile);

        var (exit, _, err) = await Cli.RunAsync("init", "--data", Data);

        Assert.Equal(OpenCmCli.Usage, exit);
        var line = Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Assert.StartsWith($"error: no master key at '{Path.GetFullPath(KeyFile)}'", line, StringComparison.Ordinal);
        Assert.Contains("restore master.key from your backup", line, StringComparison.Ordinal);
        Assert.False(File.Exists(KeyFile));
    }

    // The PostgreSQL banner's command used to leave out --data, so the command it printed made a
    // fresh master.key in ./opencm-data and then failed with "the master key does not match".
    [SkippableFact]
    public async Task Token_PostgresWithoutTheKeysDirectory_FailsWithoutCreatingTheDirectory()
    {
        var server = await PostgresServer.Shared;
        Prerequisite.SkipIfMissing(server is null, PostgresServer.SkipReason);
        var connection = await server!.CreateDatabaseAsync("mk");
        Assert.Equal(0, (await Cli.RunAsync("init", "--data", Data, "--database", "postgres", "--connection", connection)).Exit);
        var elsewhere = _dir.File("elsewhere");

        var (exit, _, err) = await Cli.RunAsync("token", "--user", "admin", "--database", "postgres", "--connection", connection, "--data", elsewhere);

        Assert.NotEqual(0, exit);
        var line = Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Assert.StartsWith($"error: no master key at '{Path.Combine(Path.GetFullPath(elsewhere), "master.key")}'", line, StringComparison.Ordinal);
        Assert.False(Directory.Exists(elsewhere));
        Assert.Equal(0, (await Cli.RunAsync("token", "--user", "admin", "--database", "postgres", "--connection", connection, "--data", Data)).Exit);
    }

    // The banner's command is whole: run as printed (the connection string filled in), it works.
    [SkippableFact]
    public async Task Serve_Postgres_BannerTokenCommandNamesTheDataDirectory()
    {
        var server = await PostgresServer.Shared;
        Prerequisite.SkipIfMissing(server is null, PostgresServer.SkipReason);
        var connection = await server!.CreateDatabaseAsync("mkbanner");
        await using var node = await ServerProcess.StartAsync("--data", Data, "--database", "postgres", "--connection", connection, "--Ca:PublicUrl=https://cm.contoso.test");

        var expected = $"Get a token: opencm token --database postgres --connection \"…\" --data {Path.GetFullPath(Data)} --user admin";
        for (var waited = 0; waited < 40 && !node.Output.Contains(expected, StringComparison.Ordinal); waited++)
        {
            await Task.Delay(250);
        }

        Assert.Contains(expected, node.Output, StringComparison.Ordinal);
        Assert.Equal(0, (await Cli.RunAsync("token", "--database", "postgres", "--connection", connection, "--data", Path.GetFullPath(Data), "--user", "admin")).Exit);
    }

    [Theory]
    [InlineData("requests", "list", "--token", "t", "--server", "localhost:5000")]
    [InlineData("requests", "list", "--token", "t", "--server", "cm.example")]
    [InlineData("requests", "show", "--token", "t", "--server", "ftp://cm.example", "00000000-0000-0000-0000-000000000001")]
    [InlineData("enroll", "--token", "t", "--server", "localhost:5000", "--template", "User", "--out", "x.pfx", "--password", "p")]
    public async Task ServerOption_WithoutHttpScheme_IsAOneLineUsageError(params string[] args)
    {
        var (exit, _, err) = await Cli.RunAsync(args);

        Assert.Equal(OpenCmCli.Usage, exit);
        var line = Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Assert.StartsWith("error: --server '", line, StringComparison.Ordinal);
        Assert.Contains("http://HOST:PORT", line, StringComparison.Ordinal);
        Assert.DoesNotContain("UriFormatException", err, StringComparison.Ordinal);
    }
}
