using System.Text.Json;
using OpenCM.Cards;
using OpenCM.Client;
using OpenCM.Contracts;
using OpenCM.Domain;
using OpenCM.TestKit;

namespace OpenCM.Cli.Tests;

/// <summary>The CLI's output formats and exit codes, the same for every command (issue #23.1, #23.2).</summary>
public sealed class OutputTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    private string Data => _dir.File("data");

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(null, null, "Table")]
    [InlineData(null, "", "Table")]
    [InlineData(null, "json", "Json")]
    [InlineData(null, " JSON ", "Json")]
    [InlineData("table", "json", "Table")]
    [InlineData("Json", "table", "Json")]
    public void Parse_OptionThenEnvironment_ChoosesTheFormat(string? option, string? environment, string expected) =>
        Assert.Equal(expected, Output.Parse(option, name => name == Output.EnvironmentVariable ? environment : null).ToString());

    [Theory]
    [InlineData("xml", null, "--format is table or json (not 'xml')")]
    [InlineData(null, "yaml", "OPENCM_FORMAT is table or json (not 'yaml')")]
    public void Parse_UnknownFormat_UsageErrorNamingWhereItCameFrom(string? option, string? environment, string message)
    {
        var e = Assert.Throws<CliException>(() => Output.Parse(option, _ => environment));
        Assert.Equal((OpenCmCli.Usage, message), (e.ExitCode, e.Message));
    }

    private static RequestDto Request(Guid id, int status) =>
        new(id, 1, status, 0, [], 0, Guid.Empty, Guid.Empty, "2026-12-05T12:00:00Z", "", Guid.Empty, Guid.Empty, Guid.Empty, Guid.Empty, 0, "", Guid.Empty, "", false, false, true);

    private static ProblemDto Problem(int status, string code) => new($"https://opencm.dev/errors/{code}", code, status, "refused", code, "c1");

    [Fact]
    public async Task Table_NotATerminal_PlainAlignedColumnsWithoutBoxesOrTrailingBlanks()
    {
        using var output = new StringWriter();
        var io = new CliIo(output, TextWriter.Null);
        Assert.False(io.IsTerminal);
        await io.WriteTableAsync(["Name", "Uuid", "Email"], [["admin", "1", ""], ["bo", "22", "bo@example.com"], ["two\nlines", "3", "x"]]);
        Assert.Equal(
            "Name       Uuid  Email\n" +
            "admin      1\n" +
            "bo         22    bo@example.com\n" +
            "two lines  3     x\n",
            output.ToString());
    }

    [Fact]
    public async Task Item_NotATerminal_NameValueLinesWithoutAHeader()
    {
        using var output = new StringWriter();
        var io = new CliIo(output, TextWriter.Null);
        var request = Request(Guid.Parse("6f1c2a3b-4d5e-4f60-8a9b-0c1d2e3f4a5b"), 1);
        await io.WriteItemAsync(OutputFormat.Table, request, WireJson.TypeInfo<RequestDto>(), [("Uuid", request.Uuid.ToString("D")), ("Comment", null)]);
        Assert.Equal("Uuid     6f1c2a3b-4d5e-4f60-8a9b-0c1d2e3f4a5b\nComment\n", output.ToString());
    }

    [Fact]
    public async Task List_Json_AnArrayOfTheWireObjectsWithTheWiresNames()
    {
        using var output = new StringWriter();
        var io = new CliIo(output, TextWriter.Null);
        var ids = new[] { Guid.NewGuid(), Guid.NewGuid() };
        await io.WriteListAsync(OutputFormat.Json, ids.Select(id => Request(id, 2)), WireJson.TypeInfo<RequestDto>(), [new Column<RequestDto>("Uuid", r => r.Uuid.ToString())]);
        using var json = JsonDocument.Parse(output.ToString());
        Assert.Equal(ids, json.RootElement.EnumerateArray().Select(e => e.GetProperty("Uuid").GetGuid()));
        Assert.All(json.RootElement.EnumerateArray(), e => Assert.Equal(2, e.GetProperty("Status").GetInt32()));
    }

    [Fact]
    public async Task List_JsonOfNothing_AnEmptyArray()
    {
        using var output = new StringWriter();
        await new CliIo(output, TextWriter.Null).WriteListAsync(OutputFormat.Json, Array.Empty<RequestDto>(), WireJson.TypeInfo<RequestDto>(), []);
        Assert.Equal("[]", output.ToString().Trim());
    }

    public static TheoryData<string, Exception, int> Failures => new()
    {
        { "a refusal of the local rules", new OpenCmException(DomainError.NotFound("No user named 'x'.")), OpenCmCli.Refused },
        { "a local refusal", CliException.Refused("no user named 'x'"), OpenCmCli.Refused },
        { "a usage error", new CliException("--top is 1 to 10000"), OpenCmCli.Usage },
        { "the server's 404", new OpenCmApiException(404, Problem(404, "NotFound")), OpenCmCli.Refused },
        { "the server's 409", new OpenCmApiException(409, Problem(409, "Conflict")), OpenCmCli.Refused },
        { "the server's 500", new OpenCmApiException(500, null), OpenCmCli.Unavailable },
        { "the server's 503", new OpenCmApiException(503, null), OpenCmCli.Unavailable },
        { "no server there", new HttpRequestException("Connection refused (127.0.0.1:9)"), OpenCmCli.Unavailable },
        { "a timeout", new TaskCanceledException("timed out", new TimeoutException("100 s")), OpenCmCli.Unavailable },
        { "a card refusal", new CardException(CardRefusal.NoReader), OpenCmCli.Usage },
        { "no data directory", new DirectoryNotFoundException("no OpenCM data directory at /x"), OpenCmCli.Usage },
    };

    [Theory]
    [MemberData(nameof(Failures))]
    public async Task Guard_EachKindOfFailure_OneErrorLineAndItsExitCode(string what, Exception failure, int expected)
    {
        using var error = new StringWriter();
        var io = new CliIo(TextWriter.Null, error);
        var exit = await io.GuardAsync(() => throw failure);
        Assert.True(expected == exit, $"{what}: exit {exit}, expected {expected}");
        Assert.StartsWith("error: ", error.ToString(), StringComparison.Ordinal);
        Assert.Single(error.ToString().Trim().Split('\n'));
    }

    [Theory]
    [InlineData("users", "list", "--no-such-option")]
    [InlineData("requests", "show")]
    [InlineData("no-such-command")]
    public async Task Parse_CommandLineItCannotRead_UsageExit(params string[] args) =>
        Assert.Equal(OpenCmCli.Usage, (await Cli.RunAsync(args)).Exit);

    [Fact]
    public async Task ServerUnreachable_RemoteCommand_ExitThree()
    {
        var (exit, output, err) = await Cli.RunAsync("requests", "list", "--server", "http://127.0.0.1:9", "--token", "t");
        Assert.Equal((OpenCmCli.Unavailable, ""), (exit, output));
        Assert.StartsWith("error: cannot reach the server", err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LocalLists_JsonAndTable_SameRows()
    {
        await Cli.RunAsync("init", "--data", Data);
        foreach (var (command, key) in new[] { (new[] { "users", "list" }, "name"), (["templates", "list"], "name"), (["ca", "list"], "subject") })
        {
            var json = await Cli.RunAsync([.. command, "--data", Data, "--format", "json"]);
            var table = await Cli.RunAsync([.. command, "--data", Data]);
            Assert.Equal((0, 0), (json.Exit, table.Exit));
            using var parsed = JsonDocument.Parse(json.Out);
            var values = parsed.RootElement.EnumerateArray().Select(e => e.GetProperty(key).GetString()!).ToList();
            Assert.NotEmpty(values);
            var lines = table.Out.TrimEnd('\n').Split('\n');
            Assert.Equal(values.Count + 1, lines.Length);
            Assert.All(values, v => Assert.Contains(lines, l => l.Contains(v, StringComparison.Ordinal)));
            Assert.DoesNotContain("│", table.Out, StringComparison.Ordinal);
        }
    }
}
