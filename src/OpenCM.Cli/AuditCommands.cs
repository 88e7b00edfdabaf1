using System.CommandLine;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using OpenCM.Application;
using OpenCM.Composition;
using OpenCM.Domain;

namespace OpenCM.Cli;

/// <summary>
/// <c>opencm audit …</c>: the audit log of a data directory (SPEC §4), read locally as <c>audit
/// verify</c> always was. <c>list</c> shows the newest events; <c>export</c> streams every event
/// with its chain links as JSON Lines for a SIEM (issue #23.3; docs/operations.md).
/// </summary>
internal static class AuditCommands
{
    // One compact object per line: JSON Lines, the form log shippers (Filebeat, Vector, Splunk's HEC) read.
    private static readonly JsonSerializerOptions LineJson = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = false,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        TypeInfoResolver = new DefaultJsonTypeInfoResolver(),
    };

    public static Command Audit(CliIo io)
    {
        var audit = new Command("audit", "Inspect the audit log: verify its hash chain, list or export its events.");
        audit.Subcommands.Add(Verify(io));
        audit.Subcommands.Add(List(io));
        audit.Subcommands.Add(Export(io));
        return audit;
    }

    private static Command Verify(CliIo io)
    {
        var data = new StoreOptions();
        var verify = new Command("verify", "Check the audit log's hash chain; exits 1 naming the first bad event.") { data.Data, data.Database, data.Connection };
        verify.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            await using var app = await Local.OpenExistingAsync(data.From(parse), ct);
            // Keyed links need the master key, which the CLI loads as serve does (the data directory's key file, or OpenCM__MasterKey).
            var log = app.Services.GetRequiredService<IAuditLog>();
            var result = await AuditChain.VerifyAsync(log, app.Services.GetRequiredService<AuditChainKey>(), ct);
            if (result.IsIntact)
            {
                // The head printed, so that an operator can keep it outside the database and notice a later rollback (docs/security.md).
                var head = await log.ReadHeadAsync(ct);
                await io.Out.WriteLineAsync($"audit log intact: {result.Count} events verified (keyed from event {result.KeyedFrom?.ToString(CultureInfo.InvariantCulture) ?? "-"}; head {head?.Sequence} {head?.Hash})");
                return OpenCmCli.Ok;
            }

            await io.Err.WriteLineAsync($"audit log broken at event {result.FirstBad}: {result.Reason}");
            return OpenCmCli.Failed;
        }));
        return verify;
    }

    private static Option<string?> SinceOption() => new("--since")
    {
        Description = "Only events at or after this time: yyyy-MM-dd (midnight UTC) or ISO 8601 (2026-12-05T14:00:00Z; without an offset, UTC).",
        HelpName = "TIME",
    };

    private static Option<string?> UserOption() => new("--user")
    {
        Description = "Only events this directory user did or that are about them: a name, or a uuid (also of a user since removed).",
        HelpName = "NAME",
    };

    private static Command List(CliIo io)
    {
        var data = new StoreOptions();
        var (since, user) = (SinceOption(), UserOption());
        var top = new Option<int>("--top") { Description = "How many of the newest matching events to show (oldest first).", DefaultValueFactory = _ => 50, HelpName = "N" };
        var format = Output.FormatOption(" (JSON: the events as audit export writes them, in an array)");
        var list = new Command("list", "List the newest audit events, oldest of them first.") { data.Data, data.Database, data.Connection, since, user, top, format };
        list.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            var chosen = Output.Parse(parse.GetValue(format));
            var count = parse.GetValue(top);
            if (count < 1)
            {
                throw new CliException("--top is a number of events, at least 1");
            }

            var from = Since(parse.GetValue(since));
            await using var app = await Local.OpenExistingAsync(data.From(parse), ct);
            var filter = await FilterAsync(app.Services, from, parse.GetValue(user), ct);

            // The newest N of a chain read oldest first: a window of N, never the whole log.
            var newest = new Queue<ChainedAuditEvent>(Math.Min(count, 1024));
            await foreach (var e in app.Services.GetRequiredService<IAuditLog>().ReadAllAsync(ct))
            {
                if (filter(e))
                {
                    if (newest.Count == count)
                    {
                        newest.Dequeue();
                    }

                    newest.Enqueue(e);
                }
            }

            var names = new Names(app.Services.GetRequiredService<IDirectory>());
            var rows = new List<AuditRow>(newest.Count);
            foreach (var e in newest)
            {
                rows.Add(await RowAsync(names, e, ct));
            }

            await io.WriteListAsync(chosen, rows, OutputWriter.Local<AuditRow>(),
            [
                new("Seq", r => r.Sequence.ToString(CultureInfo.InvariantCulture)),
                new("Time", r => r.Time.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture)),
                new("Kind", r => r.Kind),
                new("Actor", r => r.ActorName ?? r.Actor.ToString("D")),
                new("Subject", r => r.Subject.ToString("D")),
                new("Status", r => r.OldStatus == r.NewStatus ? "" : $"{r.OldStatus} -> {r.NewStatus}"),
                new("Detail", r => r.Detail),
            ], ct);
            return OpenCmCli.Ok;
        }));
        return list;
    }

    private static Command Export(CliIo io)
    {
        var data = new StoreOptions();
        var (since, user) = (SinceOption(), UserOption());
        var output = new Option<FileInfo?>("--out") { Description = "Write to this file instead of standard output.", HelpName = "FILE" };
        var force = new Option<bool>("--force") { Description = "Overwrite the --out file if it exists." };
        var export = new Command("export", "Write audit events with their hash-chain links as JSON Lines (one object per line, in chain order), for a SIEM.")
        {
            data.Data, data.Database, data.Connection, since, user, output, force,
        };
        export.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            var from = Since(parse.GetValue(since));
            var file = parse.GetValue(output);
            if (file is not null && file.Exists && !parse.GetValue(force))
            {
                throw new CliException($"{file.FullName} exists: pass --force to overwrite it");
            }

            await using var app = await Local.OpenExistingAsync(data.From(parse), ct);
            var filter = await FilterAsync(app.Services, from, parse.GetValue(user), ct);
            var names = new Names(app.Services.GetRequiredService<IDirectory>());
            await using var stream = file is null ? null : new StreamWriter(file.FullName, append: false, new System.Text.UTF8Encoding(false));
            var writer = (TextWriter?)stream ?? io.Out;
            long written = 0;

            // Streamed: each event is written as it is read, so a log of any length fits.
            await foreach (var e in app.Services.GetRequiredService<IAuditLog>().ReadAllAsync(ct))
            {
                if (filter(e))
                {
                    await writer.WriteAsync(JsonSerializer.Serialize(await RowAsync(names, e, ct), LineJson) + "\n");
                    written++;
                }
            }

            await writer.FlushAsync(ct);
            if (file is not null)
            {
                await io.Err.WriteLineAsync($"{written} events written to {file.FullName}");
            }

            return OpenCmCli.Ok;
        }));
        return export;
    }

    /// <summary>--since: a date (midnight UTC) or an ISO 8601 time; anything else is a usage error.</summary>
    internal static DateTimeOffset? Since(string? text)
    {
        if (text is null)
        {
            return null;
        }

        var t = text.Trim();
        if (DateOnly.TryParseExact(t, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day))
        {
            return new DateTimeOffset(day.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
        }

        return DateTimeOffset.TryParse(t, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AllowWhiteSpaces, out var at)
            && t.Length >= 10 && char.IsAsciiDigit(t[0])
            ? at
            : throw new CliException($"--since '{text}' is not a date (yyyy-MM-dd) or an ISO 8601 time (e.g. 2026-12-05T14:00:00Z)");
    }

    // The events --since and --user keep. An unknown user is refused as the server refuses one (exit 1), naming it.
    private static async Task<Func<ChainedAuditEvent, bool>> FilterAsync(IServiceProvider services, DateTimeOffset? since, string? user, CancellationToken ct)
    {
        Guid? who = null;
        if (user is not null)
        {
            var directory = services.GetRequiredService<IDirectory>();
            var text = user.Trim();
            var found = Guid.TryParse(text, out var uuid) || text.Length == 0 ? null : await directory.FindByNameAsync(text, ct);

            // A uuid is taken as it is: the events of a user since removed from the directory are what an auditor asks for.
            who = uuid != Guid.Empty ? uuid
                : found is { Kind: PrincipalKind.User } ? found.Uuid
                : string.Equals(text, "local-admin", StringComparison.OrdinalIgnoreCase) ? AuditContext.LocalOperatorId // the CLI's own changes (AuditContext.LocalOperator)
                : throw new OpenCmException(DomainError.NotFound($"no user named '{text}' (see 'opencm users list')"));
        }

        return e => (since is null || e.Event.Time >= since) && (who is null || e.Event.Actor == who || e.Event.SubjectId == who);
    }

    private static async Task<AuditRow> RowAsync(Names names, ChainedAuditEvent e, CancellationToken ct) => new(
        e.Sequence,
        e.Event.Time.ToUniversalTime(),
        e.Event.Kind,
        e.Event.Actor,
        await names.OfAsync(e.Event.Actor, ct),
        e.Event.SubjectId,
        e.Event.OldStatus.ToString(),
        e.Event.NewStatus.ToString(),
        e.Event.ServerCorrelationId,
        e.Event.ClientCorrelationId.Length == 0 ? null : e.Event.ClientCorrelationId,
        e.Event.Detail,
        e.PreviousHash,
        e.Hash);

    // Actors' names, each looked up once: a log has many events and few actors.
    private sealed class Names(IDirectory directory)
    {
        private readonly Dictionary<Guid, string?> _known = new()
        {
            [AuditContext.LocalOperatorId] = "local-admin",
            [Guid.Empty] = "server",
        };

        public async Task<string?> OfAsync(Guid uuid, CancellationToken ct)
        {
            if (!_known.TryGetValue(uuid, out var name))
            {
                name = (await directory.FindAsync(uuid, ct))?.Name;
                _known[uuid] = name;
            }

            return name;
        }
    }

    /// <summary>
    /// One audit event as <c>audit list --format json</c> and <c>audit export</c> write it (field
    /// names are a contract with SIEMs: docs/operations.md). <see cref="PreviousHash"/> and
    /// <see cref="Hash"/> are the chain's links, so that a receiver can see gaps and reordering.
    /// </summary>
    internal sealed record AuditRow(
        long Sequence,
        DateTimeOffset Time,
        string Kind,
        Guid Actor,
        [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? ActorName,
        Guid Subject,
        string OldStatus,
        string NewStatus,
        string CorrelationId,
        [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? ClientCorrelationId,
        string Detail,
        string PreviousHash,
        string Hash);
}
