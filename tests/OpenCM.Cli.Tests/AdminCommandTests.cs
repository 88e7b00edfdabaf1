using System.Text.Json;
using OpenCM.Client;
using OpenCM.Contracts;
using OpenCM.TestKit;

namespace OpenCM.Cli.Tests;

/// <summary>The operator commands of issue #23.3: <c>audit list|export</c>, <c>templates show|export|remove</c>, <c>card list --user</c>.</summary>
public sealed class AdminCommandTests : IDisposable
{
    private const string UserCertificate = "5b0e3c1e-7f3a-4a55-9c8e-1b2d3e4f5a60"; // samples/templates/user-certificate.yaml

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Data => _dir.File("data");

    private async Task InitAsync(params string[] users)
    {
        Assert.Equal(0, (await Cli.RunAsync("init", "--data", Data)).Exit);
        foreach (var user in users)
        {
            Assert.Equal(0, (await Cli.RunAsync("users", "add", "--data", Data, "--name", user)).Exit);
        }
    }

    private async Task<string> TokenAsync(string user) => (await Cli.RunAsync("token", "--data", Data, "--user", user)).Out.Trim();

    // A refusal or usage error: its exit code, one `error:` line on stderr, no stack trace, nothing on stdout.
    private static void AssertOneError((int Exit, string Out, string Err) run, int exit, string says)
    {
        Assert.True(run.Exit == exit, $"exit {run.Exit}: {run.Err}");
        var lines = run.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1 && lines[0].StartsWith("error: ", StringComparison.Ordinal), run.Err);
        Assert.Contains(says, run.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", run.Err, StringComparison.Ordinal);
        Assert.Equal("", run.Out);
    }

    [Fact]
    public async Task AuditExport_AfterActivity_JsonLinesInChainOrderLinkedAndAsManyAsVerifyCounts()
    {
        await InitAsync("alice", "bob");

        var (exit, output, err) = await Cli.RunAsync("audit", "export", "--data", Data);
        Assert.True(exit == 0, err);
        var events = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();

        // As many as verify counts, sequence 1..n in order, each linked to the one before.
        var verify = await Cli.RunAsync("audit", "verify", "--data", Data);
        Assert.Contains($"audit log intact: {events.Count} events verified", verify.Out, StringComparison.Ordinal);
        Assert.Equal(Enumerable.Range(1, events.Count).Select(i => (long)i), events.Select(e => e.GetProperty("sequence").GetInt64()));
        for (var i = 1; i < events.Count; i++)
        {
            Assert.Equal(events[i - 1].GetProperty("hash").GetString(), events[i].GetProperty("previousHash").GetString());
        }

        // The stable field names a SIEM maps (docs/operations.md).
        foreach (var field in new[] { "sequence", "time", "kind", "actor", "actorName", "subject", "oldStatus", "newStatus", "correlationId", "detail", "previousHash", "hash" })
        {
            Assert.True(events[^1].TryGetProperty(field, out _), field);
        }

        var added = events.Single(e => e.GetProperty("kind").GetString() == "UserAdded" && e.GetProperty("detail").GetString()!.StartsWith("name=alice ", StringComparison.Ordinal));
        Assert.Equal("local-admin", added.GetProperty("actorName").GetString());

        // --user: what alice did or what is about her; --out writes the same lines to a file, and does not overwrite one without --force.
        var alice = await Cli.RunAsync("audit", "export", "--data", Data, "--user", "alice");
        var aliceEvents = alice.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.NotEmpty(aliceEvents);
        Assert.All(aliceEvents, e => Assert.Equal(added.GetProperty("subject").GetString(), e.GetProperty("subject").GetString()));

        // A removed user's events stay findable by uuid (not by name: the directory no longer has it).
        Assert.Equal(0, (await Cli.RunAsync("users", "remove", "--data", Data, "--name", "alice")).Exit);
        var byUuid = await Cli.RunAsync("audit", "export", "--data", Data, "--user", added.GetProperty("subject").GetString()!);
        Assert.Equal(["UserAdded", "UserRemoved"], byUuid.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("kind").GetString()));
        Assert.Equal(OpenCmCli.Refused, (await Cli.RunAsync("audit", "export", "--data", Data, "--user", "alice")).Exit);
        output = (await Cli.RunAsync("audit", "export", "--data", Data)).Out;
        events = [.. output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement)];

        var file = _dir.File("audit.jsonl");
        var written = await Cli.RunAsync("audit", "export", "--data", Data, "--out", file);
        Assert.True(written.Exit == 0, written.Err);
        Assert.Equal(output, await File.ReadAllTextAsync(file));
        Assert.Contains($"{events.Count} events written", written.Err, StringComparison.Ordinal);
        AssertOneError(await Cli.RunAsync("audit", "export", "--data", Data, "--out", file), OpenCmCli.Usage, "--force");
        Assert.Equal(0, (await Cli.RunAsync("audit", "export", "--data", Data, "--out", file, "--force")).Exit);
    }

    [Fact]
    public async Task AuditList_SinceUserTop_NewestMatchingEventsOldestFirst()
    {
        await InitAsync("alice");
        var all = JsonDocument.Parse((await Cli.RunAsync("audit", "list", "--data", Data, "--top", "1000", "--format", "json")).Out).RootElement.EnumerateArray().ToList();
        Assert.True(all.Count > 3);

        // --top: the newest N, in chain order.
        var two = JsonDocument.Parse((await Cli.RunAsync("audit", "list", "--data", Data, "--top", "2", "--format", "json")).Out).RootElement.EnumerateArray()
            .Select(e => e.GetProperty("sequence").GetInt64()).ToList();
        Assert.Equal(all.TakeLast(2).Select(e => e.GetProperty("sequence").GetInt64()), two);

        // --since: a date or an ISO 8601 time; nothing after the last event.
        var last = all[^1].GetProperty("time").GetDateTimeOffset();
        foreach (var since in new[] { last.AddDays(1).ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture), last.AddSeconds(1).ToString("O", System.Globalization.CultureInfo.InvariantCulture) })
        {
            var none = await Cli.RunAsync("audit", "list", "--data", Data, "--since", since, "--format", "json");
            Assert.Equal((0, "[]"), (none.Exit, none.Out.Trim()));
        }

        var today = await Cli.RunAsync("audit", "list", "--data", Data, "--since", last.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture), "--top", "1000", "--format", "json");
        Assert.Equal(all.Count(e => e.GetProperty("time").GetDateTimeOffset().Date == last.UtcDateTime.Date), JsonDocument.Parse(today.Out).RootElement.GetArrayLength());

        // --user in a table: alice's UserAdded, no one else's; local-admin names the CLI's own changes.
        var table = await Cli.RunAsync("audit", "list", "--data", Data, "--user", "alice");
        Assert.Equal(2, table.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.Contains("UserAdded", table.Out, StringComparison.Ordinal);
        Assert.Contains("name=alice", table.Out, StringComparison.Ordinal);
        var local = await Cli.RunAsync("audit", "list", "--data", Data, "--user", "local-admin", "--top", "1000");
        Assert.Contains("UserAdded", local.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("TemplateImported", local.Out, StringComparison.Ordinal); // init's are the server's own
    }

    public static TheoryData<string[], int, string> AuditRefusals() => new()
    {
        { ["audit", "list", "--user", "nobody"], OpenCmCli.Refused, "no user named 'nobody'" },
        { ["audit", "export", "--user", "nobody"], OpenCmCli.Refused, "no user named 'nobody'" },
        { ["audit", "export", "--user", "CM Managers"], OpenCmCli.Refused, "no user named 'CM Managers'" },
        { ["audit", "list", "--since", "yesterday"], OpenCmCli.Usage, "--since 'yesterday'" },
        { ["audit", "export", "--since", "2026-13-45"], OpenCmCli.Usage, "--since '2026-13-45'" },
        { ["audit", "list", "--top", "0"], OpenCmCli.Usage, "--top" },
        { ["audit", "list", "--format", "xml"], OpenCmCli.Usage, "--format is table or json" },
    };

    [Theory]
    [MemberData(nameof(AuditRefusals))]
    public async Task Audit_BadUserTimeOrFormat_OneErrorLineAndItsExitCode(string[] args, int exit, string says)
    {
        await InitAsync();
        AssertOneError(await Cli.RunAsync([.. args, "--data", Data]), exit, says);
    }

    [Fact]
    public async Task TemplatesExport_ThenImport_RoundTripsEveryTemplateAsItsNextVersion()
    {
        await InitAsync();
        var templates = JsonDocument.Parse((await Cli.RunAsync("templates", "list", "--data", Data, "--format", "json")).Out).RootElement.EnumerateArray()
            .Select(t => (Name: t.GetProperty("name").GetString()!, Version: t.GetProperty("version").GetInt32())).ToList();
        Assert.NotEmpty(templates);
        foreach (var (name, version) in templates)
        {
            // templates export NAME > t.json && templates import t.json
            var exported = await Cli.RunAsync("templates", "export", "--data", Data, name);
            Assert.True(exported.Exit == 0, exported.Err);
            var file = _dir.File($"{version}-{name.Replace(' ', '-')}.json");
            await File.WriteAllTextAsync(file, exported.Out);
            var imported = await Cli.RunAsync("templates", "import", "--data", Data, file);
            Assert.True(imported.Exit == 0, imported.Err);
            Assert.Contains($"version {version + 1}", imported.Out, StringComparison.Ordinal);

            // The same template again, and show --format json is that same file.
            var again = await Cli.RunAsync("templates", "export", "--data", Data, name.ToUpperInvariant());
            Assert.Equal(exported.Out, again.Out);
            Assert.Equal(exported.Out, (await Cli.RunAsync("templates", "show", "--data", Data, name, "--format", "json")).Out);
        }

        // show as a table names the template, its certificates and its policies; the card admin key stays out of it.
        var show = await Cli.RunAsync("templates", "show", "--data", Data, "Virtual Smartcard VPN");
        Assert.True(show.Exit == 0, show.Err);
        foreach (var part in new[] { "Virtual Smartcard VPN", "certificate ", "policy Enroll", "policy Revoke", "smart card", "admin key" })
        {
            Assert.Contains(part, show.Out, StringComparison.Ordinal);
        }

        Assert.DoesNotContain("010203040506070801020304050607080102030405060708", show.Out, StringComparison.Ordinal);
        Assert.Contains("010203040506070801020304050607080102030405060708", (await Cli.RunAsync("templates", "show", "--data", Data, "Virtual Smartcard VPN", "--format", "json")).Out, StringComparison.Ordinal);

        // --out, and no overwriting without --force.
        var target = _dir.File("vpn.json");
        Assert.Equal(0, (await Cli.RunAsync("templates", "export", "--data", Data, "Virtual Smartcard VPN", "--out", target)).Exit);
        Assert.StartsWith("{", await File.ReadAllTextAsync(target), StringComparison.Ordinal);
        AssertOneError(await Cli.RunAsync("templates", "export", "--data", Data, "User Certificate", "--out", target), OpenCmCli.Usage, "--force");
        Assert.Contains("Virtual Smartcard VPN", await File.ReadAllTextAsync(target), StringComparison.Ordinal);
    }

    [Fact]
    public async Task TemplatesRemove_InUseRefusedUnusedRemoved_AuditedAndChainIntact()
    {
        await InitAsync();
        await using (var server = await KestrelServer.StartAsync(Data))
        {
            using var client = new OpenCmClient(new Uri(server.Address), await TokenAsync("admin"));
            await client.CreateRequestAsync(new CreateRequestBody(WireRequestType.Enroll, Guid.Parse(UserCertificate), [], Comment: ""));
        }

        // A request names it: refused, saying so, and it stays.
        AssertOneError(await Cli.RunAsync("templates", "remove", "--data", Data, "User Certificate"), OpenCmCli.Refused, "still used by 1 request(s), 0 profile(s) and 0 smart card(s)");
        Assert.Contains("User Certificate", (await Cli.RunAsync("templates", "list", "--data", Data)).Out, StringComparison.Ordinal);

        // Unused: removed, by uuid as by name; gone from the list; audited on an intact chain.
        var removed = await Cli.RunAsync("templates", "remove", "--data", Data, "9d6f2a4b-3c8e-4f1a-b7d5-2e6c8a0f1b23");
        Assert.True(removed.Exit == 0, removed.Err);
        Assert.Contains("removed 'Approved User Certificate'", removed.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("Approved User Certificate", (await Cli.RunAsync("templates", "list", "--data", Data)).Out, StringComparison.Ordinal);
        Assert.Contains("TemplateRemoved", (await Cli.RunAsync("audit", "list", "--data", Data, "--top", "1")).Out, StringComparison.Ordinal);
        Assert.Equal(0, (await Cli.RunAsync("audit", "verify", "--data", Data)).Exit);

        // Removed is gone: a second remove is an unknown template.
        AssertOneError(await Cli.RunAsync("templates", "remove", "--data", Data, "Approved User Certificate"), OpenCmCli.Refused, "no template named 'Approved User Certificate'");
    }

    public static TheoryData<string[], int, string> TemplateRefusals() => new()
    {
        { ["templates", "show", "Nope"], OpenCmCli.Refused, "no template named 'Nope'" },
        { ["templates", "show", "00000000-0000-0000-0000-000000000001"], OpenCmCli.Refused, "no template named" },
        { ["templates", "export", "Nope"], OpenCmCli.Refused, "no template named 'Nope'" },
        { ["templates", "remove", "Nope"], OpenCmCli.Refused, "no template named 'Nope'" },
        { ["templates", "show", "User Certificate", "--format", "yaml"], OpenCmCli.Usage, "--format is table or json" },
    };

    [Theory]
    [MemberData(nameof(TemplateRefusals))]
    public async Task Templates_UnknownOrBadFormat_OneErrorLineAndItsExitCode(string[] args, int exit, string says)
    {
        await InitAsync();
        AssertOneError(await Cli.RunAsync([.. args, "--data", Data]), exit, says);
    }

    [Fact]
    public async Task CardListUser_ManagerSeesAnyonesCards_OthersOnlyTheirOwnAndAnotherLooksUnknown()
    {
        await InitAsync("dana", "erin");
        await using var server = await KestrelServer.StartAsync(Data);
        var dana = await TokenAsync("dana");
        var simulated = await Cli.RunAsync("card", "simulate", "--server", server.Address, "--token", dana, "--template", "Virtual Smartcard VPN", "--data-item", "Request Reason=VPN");
        Assert.True(simulated.Exit == 0, simulated.Err);
        var card = simulated.Out.Split('\n').Single(l => l.StartsWith("card ", StringComparison.Ordinal)).Split(' ')[1];

        // A manager (admin is in CM Managers): dana's cards by name or uuid, as the wire sends them.
        var admin = await TokenAsync("admin");
        var json = await Cli.RunAsync("card", "list", "--user", "dana", "--server", server.Address, "--token", admin, "--format", "json");
        Assert.True(json.Exit == 0, json.Err);
        var cards = JsonDocument.Parse(json.Out).RootElement.EnumerateArray().ToList();
        Assert.Single(cards);
        Assert.Contains(card, json.Out, StringComparison.Ordinal);
        var danaUuid = cards[0].GetProperty("AssignedUserUuid").GetString()!;
        Assert.Contains(card, (await Cli.RunAsync("card", "list", "--user", danaUuid, "--server", server.Address, "--token", admin)).Out, StringComparison.Ordinal);
        var none = await Cli.RunAsync("card", "list", "--user", "erin", "--server", server.Address, "--token", admin, "--format", "json");
        Assert.Equal((0, "[]"), (none.Exit, none.Out.Trim()));

        // dana asking for herself gets her card; erin asking for dana gets what a name nobody has gets.
        Assert.Contains(card, (await Cli.RunAsync("card", "list", "--user", "dana", "--server", server.Address, "--token", dana)).Out, StringComparison.Ordinal);
        var erin = await TokenAsync("erin");
        var theirs = await Cli.RunAsync("card", "list", "--user", "dana", "--server", server.Address, "--token", erin);
        var unknown = await Cli.RunAsync("card", "list", "--user", "nobody", "--server", server.Address, "--token", erin);
        AssertOneError(theirs, OpenCmCli.Refused, "'dana'");
        AssertOneError(unknown, OpenCmCli.Refused, "'nobody'");
        Assert.Equal(unknown.Err.Replace("nobody", "dana", StringComparison.Ordinal), theirs.Err);
        AssertOneError(await Cli.RunAsync("card", "list", "--user", "nobody", "--server", server.Address, "--token", admin), OpenCmCli.Refused, "'nobody'");
        AssertOneError(await Cli.RunAsync("card", "list", "--user", " ", "--server", server.Address, "--token", admin), OpenCmCli.Usage, "--user");
    }
}
