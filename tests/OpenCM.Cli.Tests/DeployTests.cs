using OpenCM.TestKit;

namespace OpenCM.Cli.Tests;

/// <summary>
/// deploy/ (issue #21.5): the systemd unit carries its hardening and passes systemd's own check;
/// the container file (which cannot be built here: no container engine) publishes, runs as a
/// non-root user with /data as a volume and checks readiness.
/// </summary>
public sealed class DeployTests
{
    [Theory]
    [InlineData("DynamicUser", "yes")]
    [InlineData("StateDirectory", "opencm")]
    [InlineData("ProtectSystem", "strict")]
    [InlineData("ProtectHome", "yes")]
    [InlineData("PrivateTmp", "yes")]
    [InlineData("NoNewPrivileges", "yes")]
    [InlineData("CapabilityBoundingSet", "")]
    [InlineData("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX")]
    [InlineData("SystemCallFilter", "@system-service")]
    [InlineData("ExecStart", "/opt/opencm/opencm serve --data /var/lib/opencm")]
    public void ServiceUnit_HardeningKey_IsSet(string key, string value) =>
        Assert.Contains(value, Service().Where(e => e.Key == key).Select(e => e.Value));

    [Fact]
    public void ServiceUnit_MemoryDenyWriteExecute_IsNotSetForTheJit() =>
        Assert.DoesNotContain(Service(), e => e.Key == "MemoryDenyWriteExecute" && e.Value == "yes");

    [SkippableFact]
    public async Task ServiceUnit_SystemdAnalyzeVerify_FindsNothing()
    {
        Prerequisite.SkipIfMissing(!File.Exists("/usr/bin/systemd-analyze") && !File.Exists("/bin/systemd-analyze"), "systemd-analyze is not installed (apt-get install systemd).");
        using var dir = new TempDirectory();

        // verify also checks that ExecStart's program exists: here it is not installed, so an existing one stands in.
        var unit = dir.File("opencm.service");
        await File.WriteAllTextAsync(unit, (await File.ReadAllTextAsync(Deployed("opencm.service")))
            .Replace("ExecStart=/opt/opencm/opencm ", "ExecStart=/bin/true ", StringComparison.Ordinal));
        var (exit, output, error) = await ToolProcess.RunAsync("systemd-analyze", ["verify", unit], Timeout.InfiniteTimeSpan); // no timeout, as before ToolProcess

        // An unknown or misspelt key is only a warning (exit 0): nothing may be said at all.
        Assert.True(exit == 0 && (output + error).Trim().Length == 0, output + error);
    }

    [Theory]
    [InlineData("FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build")]
    [InlineData("RUN dotnet publish src/OpenCM.Cli -c Release -o /app")]
    [InlineData("FROM mcr.microsoft.com/dotnet/aspnet:10.0")]
    [InlineData("USER $APP_UID")]
    [InlineData("VOLUME /data")]
    [InlineData("EXPOSE 8080")]
    [InlineData("http://127.0.0.1:8080/health/ready")]
    [InlineData("ENTRYPOINT [\"opencm\", \"serve\", \"--data\", \"/data\"]")]
    public void Containerfile_Line_IsThere(string line) =>
        Assert.Contains(line, File.ReadAllText(Deployed("Containerfile")), StringComparison.Ordinal);

    // The [Service] section's settings in order (a key may repeat), comments and blank lines left out.
    private static List<KeyValuePair<string, string>> Service()
    {
        var section = "";
        var entries = new List<KeyValuePair<string, string>>();
        foreach (var raw in File.ReadAllLines(Deployed("opencm.service")))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] is '#' or ';')
            {
                continue;
            }

            if (line.StartsWith('['))
            {
                section = line;
                continue;
            }

            var equals = line.IndexOf('=', StringComparison.Ordinal);
            if (section == "[Service]" && equals > 0)
            {
                entries.Add(new(line[..equals].Trim(), line[(equals + 1)..].Trim()));
            }
        }

        return entries;
    }

    private static string Deployed(string name)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "OpenCM.slnx")))
            {
                return Path.Combine(dir.FullName, "deploy", name);
            }
        }

        throw new InvalidOperationException("OpenCM.slnx not found above the test's directory.");
    }
}
