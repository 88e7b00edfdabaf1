using System.CommandLine;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using OpenCM.Domain;
using Spectre.Console;

namespace OpenCM.Cli;

/// <summary><c>opencm requests …</c>: the request API of a running server, over HTTP.</summary>
internal static class RequestCommands
{
    private const string Api = "/CertificateManagement/api/v1.0";

    public static Command Requests(CliIo io)
    {
        var requests = new Command("requests", "List, show and act on requests of a running server.");
        requests.Subcommands.Add(List(io));
        requests.Subcommands.Add(Show(io));
        foreach (var (verb, status) in new[] { ("complete", "Completed"), ("cancel", "Canceled"), ("abandon", "Abandoned") })
        {
            requests.Subcommands.Add(SetStatus(io, verb, status));
        }

        requests.Subcommands.Add(Vote(io, "approve", "Approve"));
        requests.Subcommands.Add(Vote(io, "deny", "Deny"));
        return requests;
    }

    private static Option<string> ServerOption() => new("--server")
    {
        Description = "The server's base address.",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("OPENCM_SERVER") ?? "http://localhost:5000",
    };

    private static Option<string?> TokenOption() => new("--token") { Description = "Bearer token; defaults to $OPENCM_TOKEN." };

    private static Command List(CliIo io)
    {
        var (server, token) = (ServerOption(), TokenOption());
        var status = new Option<string?>("--status") { Description = "Only requests in this status." };
        var top = new Option<int?>("--top") { Description = "Rows per page (follows next links to the end)." };
        var command = new Command("list", "List the requests you may read.") { server, token, status, top };
        command.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            using var http = Client(parse.GetValue(server)!, parse.GetValue(token));
            var query = new List<string>();
            if (parse.GetValue(status) is { } s)
            {
                query.Add($"status={Uri.EscapeDataString(s)}");
            }

            if (parse.GetValue(top) is { } t)
            {
                query.Add($"top={t}");
            }

            var table = new Table().AddColumns("Uuid", "Type", "Status", "Submitted", "Completed", "Template");
            string? url = $"{Api}/requests" + (query.Count > 0 ? "?" + string.Join('&', query) : "");
            while (url is not null)
            {
                using var response = await http.GetAsync(url, ct);
                var json = await ReadAsync(response, ct);
                foreach (var r in json.EnumerateArray())
                {
                    table.AddRow(r.GetProperty("Uuid").GetString()!, TypeName(r), StatusName(r.GetProperty("Status").GetInt32()),
                        r.GetProperty("Submitted").GetString()!, r.GetProperty("Completed").GetString()!, r.GetProperty("ProfileTemplateUuid").GetString()!);
                }

                url = response.Headers.TryGetValues("Link", out var link) ? link.First().Split('<', '>')[1] : null;
            }

            io.Console.Write(table);
            return OpenCmCli.Ok;
        }));
        return command;
    }

    private static Command Show(CliIo io)
    {
        var (server, token) = (ServerOption(), TokenOption());
        var id = new Argument<string>("id") { Description = "The request's GUID." };
        var command = new Command("show", "Show one request.") { server, token, id };
        command.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            using var http = Client(parse.GetValue(server)!, parse.GetValue(token));
            using var response = await http.GetAsync($"{Api}/requests/{Uri.EscapeDataString(parse.GetValue(id)!)}", ct);
            Render(io, await ReadAsync(response, ct));
            return OpenCmCli.Ok;
        }));
        return command;
    }

    private static Command SetStatus(CliIo io, string verb, string status)
    {
        var (server, token) = (ServerOption(), TokenOption());
        var id = new Argument<string>("id") { Description = "The request's GUID." };
        var command = new Command(verb, $"Set a request's status to {status} (PUT /requests/{{id}}).") { server, token, id };
        command.SetAction((parse, ct) => io.GuardAsync(() => SendAndRenderAsync(io, parse.GetValue(server)!, parse.GetValue(token),
            HttpMethod.Put, $"{Api}/requests/{Uri.EscapeDataString(parse.GetValue(id)!)}", new Dictionary<string, string> { ["status"] = status }, ct)));
        return command;
    }

    private static Command Vote(CliIo io, string verb, string decision)
    {
        var (server, token) = (ServerOption(), TokenOption());
        var id = new Argument<string>("id") { Description = "The request's GUID." };
        var comment = new Option<string>("--comment") { Description = "Why.", DefaultValueFactory = _ => "" };
        var command = new Command(verb, $"{decision} a pending request.") { server, token, id, comment };
        command.SetAction((parse, ct) => io.GuardAsync(() => SendAndRenderAsync(io, parse.GetValue(server)!, parse.GetValue(token),
            HttpMethod.Post, $"{Api}/requests/{Uri.EscapeDataString(parse.GetValue(id)!)}/approvals",
            new Dictionary<string, string> { ["decision"] = decision, ["comment"] = parse.GetValue(comment)! }, ct)));
        return command;
    }

    // Sends a JSON body and shows the request the server answers with.
    private static async Task<int> SendAndRenderAsync(CliIo io, string server, string? token, HttpMethod method, string path, Dictionary<string, string> body, CancellationToken ct)
    {
        using var http = Client(server, token);
        using var message = new HttpRequestMessage(method, path)
        {
            Content = new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json"),
        };
        using var response = await http.SendAsync(message, ct);
        Render(io, await ReadAsync(response, ct));
        return OpenCmCli.Ok;
    }

    private static HttpClient Client(string server, string? token)
    {
        token ??= Environment.GetEnvironmentVariable("OPENCM_TOKEN");
        if (string.IsNullOrWhiteSpace(token))
        {
            throw new CliException("no token: pass --token or set OPENCM_TOKEN (see 'opencm token')");
        }

        var client = new HttpClient { BaseAddress = new Uri(server) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token.Trim());
        return client;
    }

    private static async Task<JsonElement> ReadAsync(HttpResponseMessage response, CancellationToken ct)
    {
        var text = await response.Content.ReadAsStringAsync(ct);
        JsonElement json;
        try
        {
            using var doc = JsonDocument.Parse(text.Length == 0 ? "null" : text);
            json = doc.RootElement.Clone();
        }
        catch (JsonException)
        {
            throw new CliException($"the server answered {(int)response.StatusCode} with a body that is not JSON");
        }

        if (!response.IsSuccessStatusCode)
        {
            var code = json.ValueKind == JsonValueKind.Object && json.TryGetProperty("errorCode", out var c) ? c.GetString() : null;
            var detail = json.ValueKind == JsonValueKind.Object && json.TryGetProperty("detail", out var d) ? d.GetString() : null;
            throw new CliException($"{(int)response.StatusCode} {code}: {detail}");
        }

        return json;
    }

    private static void Render(CliIo io, JsonElement request)
    {
        var grid = new Grid().AddColumn().AddColumn();
        foreach (var p in request.EnumerateObject())
        {
            var value = p.Name switch
            {
                "Status" => $"{p.Value.GetInt32()} ({StatusName(p.Value.GetInt32())})",
                "RequestType" => $"{p.Value.GetInt32()} ({TypeName(request)})",
                _ => p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : p.Value.GetRawText(),
            };
            grid.AddRow(new Text(p.Name), new Text(value));
        }

        io.Console.Write(grid);
    }

    private static string StatusName(int status) =>
        Enum.IsDefined((RequestStatus)status) ? ((RequestStatus)status).ToString() : status.ToString(CultureInfo.InvariantCulture);

    private static string TypeName(JsonElement request)
    {
        var type = request.GetProperty("RequestType").GetInt32();
        return Enum.IsDefined((RequestType)type) ? ((RequestType)type).ToString() : type.ToString(CultureInfo.InvariantCulture);
    }
}
