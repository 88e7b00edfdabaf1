using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using OpenCM.Client;
using OpenCM.Contracts;
using OpenCM.Domain;

namespace OpenCM.Cli;

/// <summary><c>opencm requests …</c>: the request API of a running server, over HTTP.</summary>
internal static class RequestCommands
{
    public static Command Requests(CliIo io)
    {
        var requests = new Command("requests", "List, show and act on requests of a running server.");
        requests.Subcommands.Add(List(io));
        requests.Subcommands.Add(Show(io));
        foreach (var (verb, status) in new[] { ("complete", WireRequestStatus.Completed), ("cancel", WireRequestStatus.Canceled), ("abandon", WireRequestStatus.Abandoned) })
        {
            requests.Subcommands.Add(SetStatus(io, verb, status));
        }

        requests.Subcommands.Add(Vote(io, "approve", ApprovalDecision.Approve));
        requests.Subcommands.Add(Vote(io, "deny", ApprovalDecision.Deny));
        return requests;
    }

    /// <summary>
    /// --server (else OPENCM_SERVER); every command that has it also gets --ca-file and
    /// --ca-fingerprint (<see cref="ServerConnection.Attach"/>), which <see cref="Client(string, string?)"/> reads.
    /// </summary>
    internal static Option<string> ServerOption() => new("--server")
    {
        Description = "The server's base address, e.g. https://cm.example.com; defaults to $OPENCM_SERVER, else http://localhost:5000.",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("OPENCM_SERVER") ?? "http://localhost:5000",
    };

    internal static Option<string?> TokenOption() => new("--token") { Description = "Bearer token; defaults to $OPENCM_TOKEN." };

    private static Command List(CliIo io)
    {
        var (server, token) = (ServerOption(), TokenOption());
        var status = new Option<string?>("--status") { Description = "Only requests in this status." };
        var top = new Option<int?>("--top") { Description = "Rows per page (follows next links to the end)." };
        var format = Output.FormatOption(" (JSON: the requests as the wire sends them)");
        var command = new Command("list", "List the requests you may read.") { server, token, status, top, format };
        command.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            var chosen = Output.Parse(parse.GetValue(format));
            using var client = Client(parse.GetValue(server)!, parse.GetValue(token));
            WireRequestStatus? only = null;
            if (parse.GetValue(status) is { } s)
            {
                only = EnumNames.TryParse<WireRequestStatus>(s, out var parsed) ? parsed : throw new CliException($"'{s}' is not a request status");
            }

            await io.WriteListAsync(chosen, AllAsync(client, only, parse.GetValue(top), ct), WireJson.TypeInfo<RequestDto>(), ListColumns, ct);
            return OpenCmCli.Ok;
        }));
        return command;
    }

    private static Command Show(CliIo io)
    {
        var (server, token) = (ServerOption(), TokenOption());
        var id = new Argument<string>("id") { Description = "The request's GUID." };
        var format = Output.FormatOption(" (JSON: the request as the wire sends it)");
        var command = new Command("show", "Show one request.") { server, token, id, format };
        command.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            var chosen = Output.Parse(parse.GetValue(format));
            using var client = Client(parse.GetValue(server)!, parse.GetValue(token));
            await RenderAsync(io, chosen, await client.GetRequestAsync(RequestId(parse.GetValue(id)!), ct));
            return OpenCmCli.Ok;
        }));
        return command;
    }

    private static Command SetStatus(CliIo io, string verb, WireRequestStatus status)
    {
        var (server, token) = (ServerOption(), TokenOption());
        var id = new Argument<string>("id") { Description = "The request's GUID." };
        var format = Output.FormatOption(" (JSON: the request as the wire sends it)");
        var command = new Command(verb, $"Set a request's status to {status} (PUT /requests/{{id}}).") { server, token, id, format };
        command.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            var chosen = Output.Parse(parse.GetValue(format));
            using var client = Client(parse.GetValue(server)!, parse.GetValue(token));
            await RenderAsync(io, chosen, await client.SetStatusAsync(RequestId(parse.GetValue(id)!), status, ct));
            return OpenCmCli.Ok;
        }));
        return command;
    }

    private static Command Vote(CliIo io, string verb, ApprovalDecision decision)
    {
        var (server, token) = (ServerOption(), TokenOption());
        var id = new Argument<string>("id") { Description = "The request's GUID." };
        var comment = new Option<string>("--comment") { Description = "Why.", DefaultValueFactory = _ => "" };
        var format = Output.FormatOption(" (JSON: the request as the wire sends it)");
        var command = new Command(verb, $"{decision} a pending request.") { server, token, id, comment, format };
        command.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            var chosen = Output.Parse(parse.GetValue(format));
            using var client = Client(parse.GetValue(server)!, parse.GetValue(token));
            await RenderAsync(io, chosen, await client.VoteAsync(RequestId(parse.GetValue(id)!), decision, parse.GetValue(comment)!, ct));
            return OpenCmCli.Ok;
        }));
        return command;
    }

    /// <summary>
    /// A typed client of the server, with the token from --token or OPENCM_TOKEN, trusting what
    /// the command's --ca-file or --ca-fingerprint (or OPENCM_CA_FILE, OPENCM_CA_FINGERPRINT) say
    /// (issue #23.5); an answer that is no OpenCM API's fails naming the address.
    /// </summary>
    internal static OpenCmClient Client(string server, string? token)
    {
        var address = ServerAddress(server);
        token ??= Environment.GetEnvironmentVariable("OPENCM_TOKEN");
        if (string.IsNullOrWhiteSpace(token))
        {
            throw new CliException("no token: pass --token or set OPENCM_TOKEN (see 'opencm token')");
        }

        return ServerConnection.Client(address, token);
    }

    /// <summary>The same client from a command's parsed --server and --token.</summary>
    internal static OpenCmClient Client(ParseResult parse, Option<string> server, Option<string?> token)
    {
        ArgumentNullException.ThrowIfNull(parse);
        return Client(parse.GetValue(server)!, parse.GetValue(token));
    }

    /// <summary>
    /// --server as an absolute http(s) address: a bare host or host:port is a usage error that says
    /// how to write it, not an unhandled UriFormatException (issue #23.5).
    /// </summary>
    internal static Uri ServerAddress(string server) =>
        Uri.TryCreate(server, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)
            ? uri
            : throw new CliException($"--server '{server}' is not an http or https address: write it with its scheme, e.g. http://HOST:PORT or https://cm.example.com");

    private static Guid RequestId(string text) =>
        Guid.TryParse(text.Trim(), out var id) ? id : throw new CliException($"'{text}' is not a request id (a GUID)");

    private static readonly Column<RequestDto>[] ListColumns =
    [
        new("Uuid", r => r.Uuid.ToString("D")),
        new("Type", r => TypeName(r.RequestType)),
        new("Status", r => StatusName(r.Status)),
        new("Submitted", r => r.Submitted),
        new("Completed", r => r.Completed),
        new("Template", r => r.ProfileTemplateUuid.ToString("D")),
    ];

    // Every page, following the server's next links to the end.
    private static async IAsyncEnumerable<RequestDto> AllAsync(OpenCmClient client, WireRequestStatus? only, int? top, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        var page = await client.ListRequestsAsync(only, top, null, ct);
        while (true)
        {
            foreach (var r in page.Items)
            {
                yield return r;
            }

            if (page.Next is null)
            {
                yield break;
            }

            page = await client.ListRequestsAsync(next: page.Next, ct: ct);
        }
    }

    // Every property of the request as the server sent it, numbers with their names; JSON is the wire's object itself.
    private static Task RenderAsync(CliIo io, OutputFormat format, RequestDto request)
    {
        var fields = new List<(string, string?)>();
        foreach (var p in JsonSerializer.SerializeToElement(request, WireJson.TypeInfo<RequestDto>()).EnumerateObject())
        {
            var value = p.Name switch
            {
                "Status" => $"{request.Status} ({StatusName(request.Status)})",
                "RequestType" => $"{request.RequestType} ({TypeName(request.RequestType)})",
                _ => p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : p.Value.GetRawText(),
            };
            fields.Add((p.Name, value));
        }

        return io.WriteItemAsync(format, request, WireJson.TypeInfo<RequestDto>(), fields);
    }

    private static string StatusName(int status) =>
        Enum.IsDefined((WireRequestStatus)status) ? ((WireRequestStatus)status).ToString() : status.ToString(CultureInfo.InvariantCulture);

    private static string TypeName(int type) =>
        Enum.IsDefined((WireRequestType)type) ? ((WireRequestType)type).ToString() : type.ToString(CultureInfo.InvariantCulture);
}
