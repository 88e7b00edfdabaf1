using OpenCM.TestKit;

namespace OpenCM.Cli.Tests;

/// <summary><c>opencm scep challenge</c> (issue #24.3): a one-time SCEP challenge on the last line of its output.</summary>
public sealed class ScepCommandTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Data => _dir.File("data");

    private static string Sample(string name)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "OpenCM.slnx")))
            {
                return Path.Combine(dir.FullName, "samples", "templates", name);
            }
        }

        throw new InvalidOperationException("OpenCM.slnx not found above the test's directory.");
    }

    [Fact]
    public async Task Challenge_UserAndScepTemplate_LastLineIsTheSecretEachTimeAnother()
    {
        Assert.Equal(0, (await Cli.RunAsync("init", "--data", Data)).Exit);
        Assert.Equal(0, (await Cli.RunAsync("users", "add", "--data", Data, "--name", "alice")).Exit);
        Assert.Equal(0, (await Cli.RunAsync("templates", "import", "--data", Data, Sample("tls-server.yaml"), Sample("user-certificate.yaml"))).Exit);

        var first = await Cli.RunAsync("scep", "challenge", "--data", Data, "--template", "tls-server", "--user", "alice");
        var second = await Cli.RunAsync("scep", "challenge", "--data", Data, "--template", "tls-server", "--user", "alice");
        Assert.True(first.Exit == 0, first.Err);
        var secrets = new[] { first.Out, second.Out }.Select(o => o.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1].Trim()).ToList();
        Assert.All(secrets, s => Assert.Matches("^[0-9A-F]{32}$", s));
        Assert.NotEqual(secrets[0], secrets[1]);
        Assert.Contains("'alice'", first.Out, StringComparison.Ordinal);

        // A template without scep, an unknown label, an unknown user: refused (exit 1), one error line, nothing issued.
        foreach (var args in new[] { new[] { "--template", "user-certificate", "--user", "alice" }, ["--template", "nope", "--user", "alice"], ["--template", "tls-server", "--user", "nobody"] })
        {
            var refused = await Cli.RunAsync(["scep", "challenge", "--data", Data, .. args]);
            Assert.True(refused.Exit == OpenCmCli.Refused, refused.Err);
            Assert.StartsWith("error: ", refused.Err, StringComparison.Ordinal);
            Assert.Equal("", refused.Out);
        }
    }
}
