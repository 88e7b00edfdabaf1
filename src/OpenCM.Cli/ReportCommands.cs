using System.CommandLine;
using System.Text;
using System.Text.Json;
using OpenCM.Application;

namespace OpenCM.Cli;

/// <summary>
/// <c>opencm report …</c> (issue #21.3): the managers' reports read from the data directory (or
/// the PostgreSQL database) like <c>users list</c>, safe beside a running server; the same reads
/// as the portal's report pages (<see cref="Reports"/>). Lists are read a page at a time and
/// written as they come, so a large installation's report never sits in memory whole.
/// </summary>
internal static class ReportCommands
{
    // Rows per store read while a list report is written out.
    private const int ReadPage = 500;

    public static Command Report(CliIo io)
    {
        var report = new Command("report", "Reports for managers: expiring certificates, cards, requests, templates, a user's audit.");

        {
            var data = new StoreOptions();
            var format = FormatOption();
            var days = new Option<string>("--days") { Description = $"Certificates whose validity ends within this many days (1 to {Reports.MaxDays}).", DefaultValueFactory = _ => "30" };
            var expiring = new Command("expiring", "Certificates in force that expire within --days days, soonest first.") { data.Data, data.Database, data.Connection, days, format };
            expiring.SetAction((parse, ct) => io.GuardAsync(async () =>
            {
                var within = Reports.ParseDays(parse.GetValue(days));
                var chosen = Format(parse.GetValue(format));
                await using var app = await Local.OpenExistingAsync(data.From(parse), ct);
                var reports = app.Services.GetRequiredService<Reports>();
                await WriteAsync(io, chosen, Reports.AllAsync<ExpiringCertificateView>(next => reports.ExpiringAsync(within, next, ReadPage, ct)), ct);
                return OpenCmCli.Ok;
            }));
            report.Subcommands.Add(expiring);
        }

        {
            var data = new StoreOptions();
            var format = FormatOption();
            var cards = new Command("cards", "Smart cards counted by status and profile template.") { data.Data, data.Database, data.Connection, format };
            cards.SetAction((parse, ct) => io.GuardAsync(async () =>
            {
                var chosen = Format(parse.GetValue(format));
                await using var app = await Local.OpenExistingAsync(data.From(parse), ct);
                await WriteAsync(io, chosen, Each(await app.Services.GetRequiredService<Reports>().CardsAsync(ct)), ct);
                return OpenCmCli.Ok;
            }));
            report.Subcommands.Add(cards);
        }

        {
            var data = new StoreOptions();
            var format = FormatOption();
            var from = new Option<string?>("--from") { Description = "The period's first day (yyyy-MM-dd, UTC) or an ISO 8601 time; default 30 days before --to." };
            var to = new Option<string?>("--to") { Description = "The period's last day (yyyy-MM-dd, UTC, included) or an ISO 8601 time (excluded); default now." };
            var requests = new Command("requests", "Requests submitted in a period, counted by type and status.") { data.Data, data.Database, data.Connection, from, to, format };
            requests.SetAction((parse, ct) => io.GuardAsync(async () =>
            {
                var chosen = Format(parse.GetValue(format));
                await using var app = await Local.OpenExistingAsync(data.From(parse), ct);
                var reports = app.Services.GetRequiredService<Reports>();
                var (start, end) = reports.ParsePeriod(parse.GetValue(from), parse.GetValue(to));
                await WriteAsync(io, chosen, Each(await reports.RequestsAsync(start, end, ct)), ct);
                return OpenCmCli.Ok;
            }));
            report.Subcommands.Add(requests);
        }

        {
            var data = new StoreOptions();
            var format = FormatOption();
            var templates = new Command("templates", "Profile templates and their settings.") { data.Data, data.Database, data.Connection, format };
            templates.SetAction((parse, ct) => io.GuardAsync(async () =>
            {
                var chosen = Format(parse.GetValue(format));
                await using var app = await Local.OpenExistingAsync(data.From(parse), ct);
                var reports = app.Services.GetRequiredService<Reports>();
                await WriteAsync(io, chosen, Reports.AllAsync<TemplateView>(next => reports.TemplatesAsync(next, ReadPage, ct)), ct);
                return OpenCmCli.Ok;
            }));
            report.Subcommands.Add(templates);
        }

        {
            var data = new StoreOptions();
            var format = FormatOption();
            var user = new Option<string>("--user") { Description = "The directory user's name.", Required = true };
            var audit = new Command("audit", "The audit events of one user, newest first: what they did and what was done to them.") { data.Data, data.Database, data.Connection, user, format };
            audit.SetAction((parse, ct) => io.GuardAsync(async () =>
            {
                var chosen = Format(parse.GetValue(format));
                await using var app = await Local.OpenExistingAsync(data.From(parse), ct);
                var reports = app.Services.GetRequiredService<Reports>();
                var name = parse.GetValue(user)!;

                // The first page read before anything is written, so that an unknown user is an error, not an empty table.
                var first = await reports.AuditOfUserAsync(name, null, ReadPage, ct);
                await WriteAsync(io, chosen, Reports.AllAsync<UserAuditView>(next => next is null ? Task.FromResult(first) : reports.AuditOfUserAsync(name, next, ReadPage, ct)), ct);
                return OpenCmCli.Ok;
            }));
            report.Subcommands.Add(audit);
        }

        return report;
    }

    // The shared --format (issue #23.1) and, for reports only, csv: a spreadsheet's import.
    private static Option<string?> FormatOption() => new("--format")
    {
        Description = $"table, csv or json; defaults to ${Output.EnvironmentVariable}, else table.",
        HelpName = "table|csv|json",
    };

    private static string Format(string? format) =>
        format?.Trim().ToLowerInvariant() == "csv" ? "csv" : Output.Parse(format) == OutputFormat.Json ? "json" : "table";

#pragma warning disable CS1998 // an async iterator over a list already read
    private static async IAsyncEnumerable<T> Each<T>(IEnumerable<T> rows)
#pragma warning restore CS1998
    {
        foreach (var row in rows)
        {
            yield return row;
        }
    }

    private static async Task WriteAsync<T>(CliIo io, string format, IAsyncEnumerable<T> rows, CancellationToken ct)
        where T : IReportRow
    {
        switch (format)
        {
            case "csv":
                await ReportCsv.WriteAsync(io.Out, rows, ct);
                break;
            case "json":
                await WriteJsonAsync(io.Out, rows, ct);
                break;
            default:
                // A table is laid out once its widths are known: it holds the rows a terminal shows anyway.
                var table = new List<string[]>();
                await foreach (var row in rows.WithCancellation(ct))
                {
                    table.Add([.. row.Cells()]);
                }

                await io.WriteTableAsync([.. T.Columns], table);
                await io.Err.WriteLineAsync($"{table.Count} row(s)");
                break;
        }
    }

    // A JSON array of objects, one per row, keyed by the columns' names in camel case ("Not after (UTC)" is notAfterUtc).
    private static async Task WriteJsonAsync<T>(TextWriter output, IAsyncEnumerable<T> rows, CancellationToken ct)
        where T : IReportRow
    {
        var keys = T.Columns.Select(JsonKey).ToList();
        await output.WriteAsync("[");
        var first = true;
        await foreach (var row in rows.WithCancellation(ct))
        {
            var cells = row.Cells();
            using var buffer = new MemoryStream();
            await using (var json = new Utf8JsonWriter(buffer))
            {
                json.WriteStartObject();
                for (var i = 0; i < keys.Count; i++)
                {
                    json.WriteString(keys[i], cells[i]);
                }

                json.WriteEndObject();
            }

            await output.WriteAsync((first ? "\n  " : ",\n  ") + Encoding.UTF8.GetString(buffer.ToArray()));
            first = false;
        }

        await output.WriteLineAsync(first ? "]" : "\n]");
    }

    private static string JsonKey(string column)
    {
        var words = column.Split([' ', '(', ')', ','], StringSplitOptions.RemoveEmptyEntries);
        var key = new StringBuilder();
        foreach (var word in words)
        {
            key.Append(key.Length == 0 ? char.ToLowerInvariant(word[0]) : char.ToUpperInvariant(word[0]));
            key.Append(word.Length > 1 && word.All(char.IsUpper) ? word[1..].ToLowerInvariant() : word[1..]);
        }

        return key.ToString();
    }
}
