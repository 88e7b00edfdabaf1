using System.Buffers.Text;
using System.CommandLine;
using System.Globalization;
using OpenCM.Application;
using OpenCM.Domain;

namespace OpenCM.Cli;

/// <summary><c>opencm acme</c>: what an operator does for ACME clients on a data directory (issue #24.4).</summary>
internal static class AcmeCommands
{
    /// <summary>The longest an unused External Account Binding key may wait for its client.</summary>
    public static readonly TimeSpan MaxValidFor = TimeSpan.FromDays(365);

    public static Command Acme(CliIo io)
    {
        var acme = new Command("acme", "ACME (RFC 8555) for OpenCM's templates: External Account Binding keys.");
        acme.Subcommands.Add(Eab(io));
        return acme;
    }

    private static Command Eab(CliIo io)
    {
        var data = new StoreOptions();
        var user = new Option<string>("--user") { Description = "The directory user the ACME account will act as (its rights, its requests).", Required = true };
        var template = new Option<string>("--template") { Description = "The template's label (as in /acme/{label}/directory), name or uuid; it must allow acme.", Required = true };
        var validFor = new Option<string>("--valid-for") { Description = "How long the key may wait to be bound: a number and d, h or m (default 7d, at most 365d).", DefaultValueFactory = _ => "7d" };
        var format = Output.FormatOption();
        var command = new Command("eab", "Issue an External Account Binding key (RFC 8555 §7.3.4) for a user and a template: prints its kid and its HMAC key (base64url), once.")
        {
            data.Data, data.Database, data.Connection, user, template, validFor, format,
        };
        command.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            var chosen = Output.Parse(parse.GetValue(format));
            var lifetime = ParseDuration(parse.GetValue(validFor)!);
            await using var app = await Local.OpenExistingAsync(data.From(parse), ct);
            var directory = app.Services.GetRequiredService<IDirectory>();
            var principal = await directory.FindByNameAsync(parse.GetValue(user)!, ct) is { Kind: PrincipalKind.User } found
                ? found
                : throw CliException.Refused($"no user named '{parse.GetValue(user)}' (see 'opencm users list')");
            var named = await TemplateAsync(app.Services.GetRequiredService<ITemplateStore>(), parse.GetValue(template)!, ct);
            if (!named.Allows(EnrollmentProtocol.Acme))
            {
                throw CliException.Refused($"template '{named.Name}' does not allow acme (add 'protocols: [acme]' to its file and import it again)");
            }

            var key = await app.Services.GetRequiredService<IExternalAccountKeys>().CreateAsync(principal.Uuid, named.Uuid, lifetime, k => Audit(principal, named, k), ct);

            // The HMAC key is a secret: written once to standard output, never logged (the audit event names the kid only).
            var row = new EabRow(key.KeyId, Base64Url.EncodeToString(key.HmacKey), principal.Name, TemplateLabels.Of(named.Name), key.Expires);
            await io.WriteItemAsync(chosen, row, OutputWriter.Local<EabRow>(),
            [
                ("kid", row.Kid),
                ("hmac", row.Hmac),
                ("user", row.User),
                ("template", row.Template),
                ("expires", row.Expires.ToString("u", CultureInfo.InvariantCulture)),
            ]);
            return OpenCmCli.Ok;
        }));
        return command;
    }

    // Issuing a key that lets an ACME client act as a user is an operator's act on that user:
    // audited with the operator, kid and template, in the key's own transaction.
    private static AuditEvent Audit(Principal user, ProfileTemplate template, ExternalAccountKey key)
    {
        var who = AuditContext.LocalOperator(Environment.UserName);
        return new AuditEvent("AcmeEabKeyIssued", user.Uuid, who.Actor, RequestStatus.None, RequestStatus.None, key.Created, who.CorrelationId,
            who.Detail(string.Create(CultureInfo.InvariantCulture, $"kid={key.KeyId} template={template.Uuid:D} expires={key.Expires:u}")));
    }

    // By label (lower case, spaces as hyphens: TemplateLabels), name (any case) or uuid; unknown is refused as the server refuses it (exit 1).
    private static async Task<ProfileTemplate> TemplateAsync(ITemplateStore store, string text, CancellationToken ct)
    {
        var wanted = text.Trim();
        var found = Guid.TryParse(wanted, out var uuid)
            ? await store.FindAsync(uuid, ct)
            : (await store.ListAsync(ct)).FirstOrDefault(t => string.Equals(TemplateLabels.Of(t.Name), wanted, StringComparison.Ordinal)
                || string.Equals(t.Name, wanted, StringComparison.OrdinalIgnoreCase));
        return found ?? throw CliException.Refused($"no template labelled '{wanted}' (see 'opencm templates list')");
    }

    /// <summary>"7d", "12h", "30m": a positive whole number and its unit, at most <see cref="MaxValidFor"/>; else a usage error.</summary>
    internal static TimeSpan ParseDuration(string text)
    {
        var trimmed = text.Trim();
        TimeSpan? parsed = trimmed.Length >= 2 && int.TryParse(trimmed[..^1], NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0
            ? char.ToLowerInvariant(trimmed[^1]) switch
            {
                'd' => TimeSpan.FromDays(Math.Min(n, 100_000)),
                'h' => TimeSpan.FromHours(Math.Min(n, 10_000_000)),
                'm' => TimeSpan.FromMinutes(Math.Min(n, 1_000_000_000)),
                _ => null,
            }
            : null;
        return parsed is { } lifetime && lifetime <= MaxValidFor
            ? lifetime
            : throw new CliException($"--valid-for is a number of days, hours or minutes (7d, 12h, 30m), at most {MaxValidFor.TotalDays:0}d (not '{text}')");
    }

    /// <summary>An issued key as <c>acme eab --format json</c> prints it.</summary>
    internal sealed record EabRow(string Kid, string Hmac, string User, string Template, DateTimeOffset Expires);
}
