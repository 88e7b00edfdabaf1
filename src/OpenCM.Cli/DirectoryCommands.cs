using System.CommandLine;
using OpenCM.Application;
using OpenCM.Composition;
using OpenCM.Domain;
using Spectre.Console;

namespace OpenCM.Cli;

/// <summary>Commands that work on a data directory directly: users, token, templates, audit. Safe beside a running server.</summary>
internal static class DirectoryCommands
{
    public static Command Users(CliIo io)
    {
        var users = new Command("users", "Manage directory users.");

        var data = new StoreOptions();
        var name = new Option<string>("--name") { Description = "The user's name.", Required = true };
        var groups = new Option<string[]>("--group") { Description = "A group to join (created on first use); repeatable.", AllowMultipleArgumentsPerToken = false };
        var passwordStdin = new Option<bool>("--password-stdin") { Description = "Read a portal password for the user from standard input (its first line)." };
        var email = new Option<string?>("--email") { Description = "The user's e-mail address (for templates naming {email} or an e-mail SAN)." };
        var upn = new Option<string?>("--upn") { Description = "The user's principal name, e.g. alice@contoso.com (for templates naming {upn} or a UPN SAN)." };
        var add = new Command("add", "Create a user; prints its GUID.") { data.Data, data.Database, data.Connection, name, groups, passwordStdin, email, upn };
        add.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            // The password is read (and checked) before anything is written.
            var password = parse.GetValue(passwordStdin) ? await io.ReadPasswordAsync() : null;
            if (password is not null && (password.Length is < Passwords.MinimumLength or > Passwords.MaximumLength || password.Any(char.IsControl)))
            {
                throw new CliException($"a password is {Passwords.MinimumLength} to {Passwords.MaximumLength} characters, without control characters");
            }

            await using var app = await Local.OpenExistingAsync(data.From(parse), ct);
            var who = Operator();
            var user = await app.Services.GetRequiredService<DirectoryAdministration>().AddUserAsync(who, parse.GetValue(name)!, parse.GetValue(groups) ?? [], parse.GetValue(email), parse.GetValue(upn), ct);
            if (password is not null)
            {
                await app.Services.GetRequiredService<Passwords>().SetAsync(who, user, password, ct);
            }

            await io.Out.WriteLineAsync(user.Uuid.ToString("D"));
            return OpenCmCli.Ok;
        }));
        users.Subcommands.Add(add);

        var listData = new StoreOptions();
        var listFormat = Output.FormatOption();
        var list = new Command("list", "List users with their SIDs and groups.") { listData.Data, listData.Database, listData.Connection, listFormat };
        list.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            var chosen = Output.Parse(parse.GetValue(listFormat));
            await using var app = await Local.OpenExistingAsync(listData.From(parse), ct);
            var rows = (await app.Services.GetRequiredService<IDirectoryAdministration>().ListUsersAsync(ct))
                .Select(u => new UserRow(u.User.Name, u.User.Uuid, u.User.Sid.Value, [.. u.Groups.Select(g => g.Name)], u.User.Email, u.User.Upn));
            await io.WriteListAsync(chosen, rows, OutputWriter.Local<UserRow>(),
            [
                new("Name", u => u.Name),
                new("Uuid", u => u.Uuid.ToString("D")),
                new("Sid", u => u.Sid),
                new("Groups", u => string.Join(", ", u.Groups)),
                new("Email", u => u.Email),
                new("Upn", u => u.Upn),
            ], ct);
            return OpenCmCli.Ok;
        }));
        users.Subcommands.Add(list);

        var contactData = new StoreOptions();
        var contactName = new Option<string>("--name") { Description = "The user's name.", Required = true };
        var contactEmail = new Option<string?>("--email") { Description = "The user's e-mail address; \"\" clears it." };
        var contactUpn = new Option<string?>("--upn") { Description = "The user's principal name; \"\" clears it." };
        var set = new Command("set", "Set a user's e-mail address or UPN (what templates naming {email}, {upn} or those SANs need); an option not given keeps its value.")
        {
            contactData.Data, contactData.Database, contactData.Connection, contactName, contactEmail, contactUpn,
        };
        set.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            await using var app = await Local.OpenExistingAsync(contactData.From(parse), ct);
            var user = await UserAsync(app.Services.GetRequiredService<IDirectory>(), parse.GetValue(contactName)!, ct);
            var email = parse.GetResult(contactEmail) is null ? user.Email : parse.GetValue(contactEmail);
            var upn = parse.GetResult(contactUpn) is null ? user.Upn : parse.GetValue(contactUpn);
            if (!await app.Services.GetRequiredService<DirectoryAdministration>().SetContactAsync(Operator(), user.Uuid, email, upn, ct))
            {
                throw CliException.Refused($"no user named '{user.Name}' (see 'opencm users list')");
            }

            await io.Out.WriteLineAsync($"{user.Name}: e-mail {(string.IsNullOrWhiteSpace(email) ? "-" : email.Trim())}, UPN {(string.IsNullOrWhiteSpace(upn) ? "-" : upn.Trim())}");
            return OpenCmCli.Ok;
        }));
        users.Subcommands.Add(set);

        var setData = new StoreOptions();
        var setName = new Option<string>("--name") { Description = "The user's name.", Required = true };
        var setStdin = new Option<bool>("--password-stdin") { Description = "Read the new password from standard input (its first line).", Required = true };
        var setPassword = new Command("set-password", "Set (or replace) a user's portal password.") { setData.Data, setData.Database, setData.Connection, setName, setStdin };
        setPassword.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            var password = await io.ReadPasswordAsync();
            await using var app = await Local.OpenExistingAsync(setData.From(parse), ct);
            var user = await UserAsync(app.Services.GetRequiredService<IDirectory>(), parse.GetValue(setName)!, ct);
            await app.Services.GetRequiredService<Passwords>().SetAsync(Operator(), user, password, ct);
            await io.Out.WriteLineAsync($"password set for {user.Name}");
            return OpenCmCli.Ok;
        }));
        users.Subcommands.Add(setPassword);

        // Removing a user, or a membership, takes effect for their existing tokens within half a minute (the server re-reads the directory).
        var removeData = new StoreOptions();
        var removeName = new Option<string>("--name") { Description = "The user's name.", Required = true };
        var remove = new Command("remove", "Remove a user (their requests keep their GUID).") { removeData.Data, removeData.Database, removeData.Connection, removeName };
        remove.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            await using var app = await Local.OpenExistingAsync(removeData.From(parse), ct);
            var directory = app.Services.GetRequiredService<IDirectory>();
            var user = await UserAsync(directory, parse.GetValue(removeName)!, ct);
            await app.Services.GetRequiredService<DirectoryAdministration>().RemoveUserAsync(Operator(), user.Uuid, ct);
            await io.Out.WriteLineAsync($"removed {user.Name}");
            return OpenCmCli.Ok;
        }));
        users.Subcommands.Add(remove);

        var leaveData = new StoreOptions();
        var leaveName = new Option<string>("--name") { Description = "The user's name.", Required = true };
        var leaveGroup = new Option<string>("--group") { Description = "The group to take them out of.", Required = true };
        var leave = new Command("leave", "Take a user out of a group.") { leaveData.Data, leaveData.Database, leaveData.Connection, leaveName, leaveGroup };
        leave.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            await using var app = await Local.OpenExistingAsync(leaveData.From(parse), ct);
            var directory = app.Services.GetRequiredService<IDirectory>();
            var user = await UserAsync(directory, parse.GetValue(leaveName)!, ct);
            var group = await directory.FindByNameAsync(parse.GetValue(leaveGroup)!, ct) is { Kind: PrincipalKind.Group } g
                ? g
                : throw CliException.Refused($"no group named '{parse.GetValue(leaveGroup)}'");
            if (!await app.Services.GetRequiredService<DirectoryAdministration>().RemoveMembershipAsync(Operator(), user.Uuid, group.Uuid, ct))
            {
                throw CliException.Refused($"{user.Name} is not in {group.Name}");
            }

            await io.Out.WriteLineAsync($"{user.Name} left {group.Name}");
            return OpenCmCli.Ok;
        }));
        users.Subcommands.Add(leave);
        return users;
    }

    /// <summary>
    /// Who a command that changes the data directory acts as: the local operator ("local-admin",
    /// <see cref="AuditContext.LocalOperatorId"/>), named in the audit event with the operating
    /// system account that ran it; one correlation id per command.
    /// </summary>
    private static AuditContext Operator() => AuditContext.LocalOperator(Environment.UserName);

    private static async Task<Principal> UserAsync(IDirectory directory, string name, CancellationToken ct) =>
        await directory.FindByNameAsync(name, ct) is { Kind: PrincipalKind.User } user
            ? user
            : throw CliException.Refused($"no user named '{name}' (see 'opencm users list')");

    public static Command Token(CliIo io)
    {
        var data = new StoreOptions();
        var user = new Option<string>("--user") { Description = "The directory user the token is for.", Required = true };
        var lifetime = new Option<int>("--lifetime") { Description = "Minutes the token is valid.", DefaultValueFactory = _ => 60 };
        var command = new Command("token", "Print a JWT for a directory user, signed by the server's key.") { data.Data, data.Database, data.Connection, user, lifetime };
        command.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            await using var app = await Local.OpenExistingAsync(data.From(parse), ct);
            var directory = app.Services.GetRequiredService<IDirectory>();
            var principal = await directory.FindByNameAsync(parse.GetValue(user)!, ct);
            if (principal is not { Kind: PrincipalKind.User })
            {
                throw CliException.Refused($"no user named '{parse.GetValue(user)}' (see 'opencm users list')");
            }

            var minutes = parse.GetValue(lifetime);
            var options = app.Services.GetRequiredService<AuthOptions>();
            if (minutes < 1 || minutes > options.MaxLocalTokenMinutes)
            {
                throw new CliException($"--lifetime must be between 1 and {options.MaxLocalTokenMinutes} minutes");
            }

            var groups = await directory.GroupsOfAsync(principal.Uuid, ct);
            await io.Out.WriteLineAsync(app.Services.GetRequiredService<TokenService>().Mint(principal, groups, TimeSpan.FromMinutes(minutes)));
            return OpenCmCli.Ok;
        }));
        return command;
    }

    public static Command Templates(CliIo io)
    {
        var templates = new Command("templates", "Manage profile templates.");

        var data = new StoreOptions();
        var files = new Argument<FileInfo[]>("file") { Description = "Template files (YAML or JSON).", Arity = ArgumentArity.OneOrMore };
        var import = new Command("import", "Import template files; a known uuid becomes its next version.") { data.Data, data.Database, data.Connection, files };
        import.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            // The file argument takes every token after the options, configuration keys
            // (--Directory:Ldap:Url=…) included: those are settings, the rest files.
            var given = parse.GetResult(files)?.Tokens.Select(t => t.Value).ToList() ?? [];
            var settings = given.Where(v => v.StartsWith("--", StringComparison.Ordinal)).ToList();
            var paths = given.Where(v => !v.StartsWith("--", StringComparison.Ordinal)).Select(v => new FileInfo(v)).ToList();
            if (paths.Count == 0)
            {
                throw new CliException("name at least one template file");
            }

            await using var app = await Local.OpenExistingAsync(data.From(parse, settings), ct);
            var service = app.Services.GetRequiredService<TemplateService>();
            foreach (var file in paths)
            {
                if (!file.Exists)
                {
                    throw new CliException($"no such file: {file.FullName}");
                }

                var saved = await service.ImportAsync(await File.ReadAllTextAsync(file.FullName, ct), file.Name, Operator(), ct);
                await io.Out.WriteLineAsync($"imported '{saved.Name}' ({saved.Uuid:D}) version {saved.Version}");
            }

            return OpenCmCli.Ok;
        }));
        templates.Subcommands.Add(import);

        var listData = new StoreOptions();
        var listFormat = Output.FormatOption();
        var list = new Command("list", "List profile templates and their enabled policies.") { listData.Data, listData.Database, listData.Connection, listFormat };
        list.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            var chosen = Output.Parse(parse.GetValue(listFormat));
            await using var app = await Local.OpenExistingAsync(listData.From(parse), ct);
            var rows = (await app.Services.GetRequiredService<ITemplateStore>().ListAsync(ct)).Select(t => new TemplateRow(
                t.Name,
                t.Uuid,
                t.Version,
                t.IsVirtualSmartcardProfileTemplate ? "virtual smart card" : t.IsSmartcardProfileTemplate ? "smart card" : "software",
                [.. t.Policies.Where(p => p.Value.Enabled).Select(p => p.Key.ToString()).Order(StringComparer.Ordinal)]));
            await io.WriteListAsync(chosen, rows, OutputWriter.Local<TemplateRow>(),
            [
                new("Name", t => t.Name),
                new("Uuid", t => t.Uuid.ToString("D")),
                new("Version", t => t.Version.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                new("Kind", t => t.Kind),
                new("Enabled request types", t => string.Join(", ", t.EnabledRequestTypes)),
            ], ct);
            return OpenCmCli.Ok;
        }));
        templates.Subcommands.Add(list);
        templates.Subcommands.Add(TemplateShow(io));
        templates.Subcommands.Add(TemplateExport(io));
        templates.Subcommands.Add(TemplateRemove(io));
        return templates;
    }

    private static Argument<string> TemplateArgument() => new("template") { Description = "The template's name or uuid (as 'opencm templates list' shows them)." };

    // A template by uuid or by name (names are unique regardless of case); an unknown one is refused as the server refuses it (exit 1).
    private static async Task<ProfileTemplate> TemplateAsync(IServiceProvider services, string text, CancellationToken ct)
    {
        var store = services.GetRequiredService<ITemplateStore>();
        var wanted = text.Trim();
        var found = Guid.TryParse(wanted, out var uuid)
            ? await store.FindAsync(uuid, ct)
            : (await store.ListAsync(ct)).FirstOrDefault(t => string.Equals(t.Name, wanted, StringComparison.OrdinalIgnoreCase));
        return found ?? throw new OpenCmException(DomainError.NotFound($"no template named '{wanted}' (see 'opencm templates list')"));
    }

    private static Command TemplateShow(CliIo io)
    {
        var data = new StoreOptions();
        var template = TemplateArgument();
        var format = Output.FormatOption(" (JSON: the template as 'templates import' takes it)");
        var show = new Command("show", "Show a template whole: its certificates, each request type's policy, its smart card settings.") { data.Data, data.Database, data.Connection, template, format };
        show.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            var chosen = Output.Parse(parse.GetValue(format));
            await using var app = await Local.OpenExistingAsync(data.From(parse), ct);
            var found = await TemplateAsync(app.Services, parse.GetValue(template)!, ct);
            var file = await app.Services.GetRequiredService<TemplateService>().ExportAsync(found, ct);
            if (chosen == OutputFormat.Json)
            {
                await io.Out.WriteLineAsync(file.ToJson());
                return OpenCmCli.Ok;
            }

            await io.WriteTableAsync(null, [.. TemplateFields(found, file)]);
            return OpenCmCli.Ok;
        }));
        return show;
    }

    // The table form of templates show: one name/value line per setting, policies and certificates by their names.
    private static IEnumerable<string[]> TemplateFields(ProfileTemplate template, TemplateFile file)
    {
        static string Yes(bool b) => b ? "yes" : "no";
        yield return ["Name", template.Name];
        yield return ["Uuid", template.Uuid.ToString("D")];
        yield return ["Version", template.Version.ToString(System.Globalization.CultureInfo.InvariantCulture)];
        yield return ["Kind", template.IsVirtualSmartcardProfileTemplate ? "virtual smart card" : template.IsSmartcardProfileTemplate ? "smart card" : "software"];
        yield return ["Description", template.Description];
        foreach (var c in file.Certificates)
        {
            var at = $"certificate {c.CommonName}";
            yield return [at, $"subject {c.Subject}; {c.KeyAlgorithm}{(c.KeyAlgorithm == "RSA" ? $" {c.KeySize}" : "")} {c.HashAlgorithm}; {c.ValidityDays} days"];
            yield return [$"  key usages", string.Join(", ", c.KeyUsages)];
            yield return [$"  extended key usages", string.Join(", ", c.ExtendedKeyUsages)];
            if (c.SubjectAlternativeNames.Count > 0)
            {
                yield return [$"  subject alternative names", string.Join(", ", c.SubjectAlternativeNames)];
            }

            yield return [$"  server generates key", Yes(c.ServerGeneratesKey)];
        }

        foreach (var (type, p) in file.Policies)
        {
            yield return [$"policy {type}", $"{(p.Enabled ? "enabled" : "disabled")}, self-service {Yes(p.SelfServiceEnabled)}, approvals needed {p.ApprovalsNeeded}"];
            yield return ["  approvers", p.AuthorizedApprover];
            yield return ["  initiators", p.AuthorizedInitiator];
            yield return ["  enrollment agents", p.AuthorizedEnrollmentAgent];
            if (p.DataCollection.Count > 0)
            {
                yield return ["  data collected", string.Join(", ", p.DataCollection.Select(d => d.Required ? d.Name + " (required)" : d.Name))];
            }
        }

        if (template.CardPolicy is { } card)
        {
            // The admin key itself only in the JSON form (what import needs), never in a table on a screen.
            yield return ["smart card", $"PIN {card.UserPinOption}, {card.MinimumPinLength}-{card.MaximumPinLength} {card.PinCharacters}; middleware {card.Middleware}"];
            yield return ["  cards", string.Join(", ", new[] { card.PhysicalCards ? "physical" : null, card.VirtualCards ? "virtual" : null }.OfType<string>())];
            yield return ["  admin key", card.DefaultAdminKeyHex == SmartcardConfiguration.BaseCspDefaultAdminKeyHex ? "the Base CSP default" : "set (in --format json and export)"];
            yield return ["  diversify admin key", card.DiversifyAdminKey ? $"yes ({card.AdminKeyDiversificationAlgorithm})" : "no"];
            yield return ["  temporary card days", card.TemporaryCardValidityDays.ToString(System.Globalization.CultureInfo.InvariantCulture)];
        }
    }

    private static Command TemplateExport(CliIo io)
    {
        var data = new StoreOptions();
        var template = TemplateArgument();
        var output = new Option<FileInfo?>("--out") { Description = "Write to this file instead of standard output.", HelpName = "FILE" };
        var force = new Option<bool>("--force") { Description = "Overwrite the --out file if it exists." };
        var export = new Command("export", "Write a template as a JSON file 'templates import' takes back (its next version there, or a copy on another server).")
        {
            data.Data, data.Database, data.Connection, template, output, force,
        };
        export.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            var file = parse.GetValue(output);
            if (file is not null && file.Exists && !parse.GetValue(force))
            {
                throw new CliException($"{file.FullName} exists: pass --force to overwrite it");
            }

            await using var app = await Local.OpenExistingAsync(data.From(parse), ct);
            var json = (await app.Services.GetRequiredService<TemplateService>().ExportAsync(await TemplateAsync(app.Services, parse.GetValue(template)!, ct), ct)).ToJson();
            if (file is null)
            {
                await io.Out.WriteLineAsync(json);
                return OpenCmCli.Ok;
            }

            await File.WriteAllTextAsync(file.FullName, json + "\n", ct);
            await io.Err.WriteLineAsync($"written to {file.FullName}");
            return OpenCmCli.Ok;
        }));
        return export;
    }

    private static Command TemplateRemove(CliIo io)
    {
        var data = new StoreOptions();
        var template = TemplateArgument();
        var remove = new Command("remove", "Remove a template no request, profile or smart card uses (one in use is refused, exit 1, saying what uses it).")
        {
            data.Data, data.Database, data.Connection, template,
        };
        remove.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            await using var app = await Local.OpenExistingAsync(data.From(parse), ct);
            var found = await TemplateAsync(app.Services, parse.GetValue(template)!, ct);
            var removed = await app.Services.GetRequiredService<TemplateService>().RemoveAsync(found.Uuid, Operator(), ct);
            await io.Out.WriteLineAsync($"removed '{removed.Name}' ({removed.Uuid:D}) version {removed.Version}");
            return OpenCmCli.Ok;
        }));
        return remove;
    }

    /// <summary><c>opencm audit verify|list|export</c> (<see cref="AuditCommands"/>).</summary>
    public static Command Audit(CliIo io) => AuditCommands.Audit(io);

    /// <summary>One user as <c>users list --format json</c> prints it.</summary>
    internal sealed record UserRow(string Name, Guid Uuid, string Sid, string[] Groups, string? Email, string? Upn);

    /// <summary>One template as <c>templates list --format json</c> prints it.</summary>
    internal sealed record TemplateRow(string Name, Guid Uuid, int Version, string Kind, string[] EnabledRequestTypes);
}
