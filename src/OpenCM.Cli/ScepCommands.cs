using System.CommandLine;
using System.Globalization;
using OpenCM.Application;

namespace OpenCM.Cli;

/// <summary><c>opencm scep</c>: SCEP's one-time challenge passwords (issue #24.3; docs/scep.md), on the data directory like <c>users</c> and <c>templates</c>.</summary>
internal static class ScepCommands
{
    public static Command Scep(CliIo io)
    {
        var scep = new Command("scep", "SCEP (RFC 8894) enrollment: one-time challenge passwords.");
        var data = new StoreOptions();
        var template = new Option<string>("--template") { Description = "The label of a template whose file allows scep (its name in lower case, spaces as '-').", Required = true };
        var user = new Option<string?>("--user") { Description = "The directory user the certificate is for; default: the directory user named like this account." };
        var challenge = new Command("challenge", "Issue a one-time challenge password for one SCEP enrollment; printed on the last line.") { data.Data, data.Database, data.Connection, template, user };
        challenge.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            await using var app = await Local.OpenExistingAsync(data.From(parse), ct);
            var name = parse.GetValue(user) ?? Environment.UserName;
            var principal = await app.Services.GetRequiredService<IDirectory>().FindByNameAsync(name, ct);
            if (principal is not { Kind: PrincipalKind.User })
            {
                throw CliException.Refused(parse.GetValue(user) is null
                    ? $"no directory user named '{name}' (this account); name one with --user (see 'opencm users list')"
                    : $"no user named '{name}' (see 'opencm users list')");
            }

            var issued = await app.Services.GetRequiredService<ScepChallenges>().IssueAsync(parse.GetValue(template)!, principal.Uuid, AuditContext.LocalOperator(Environment.UserName), ct);
            await io.Out.WriteLineAsync($"SCEP challenge for '{principal.Name}' on template '{parse.GetValue(template)}', usable once until {issued.Expires.ToString("u", CultureInfo.InvariantCulture)}:");
            await io.Out.WriteLineAsync(issued.Secret);
            return OpenCmCli.Ok;
        }));
        scep.Subcommands.Add(challenge);
        return scep;
    }
}
