using System.CommandLine;
using OpenCM.Client;
using OpenCM.Contracts;
using OpenCM.Domain;
using Spectre.Console;

namespace OpenCM.Cli;

/// <summary>
/// <c>opencm enroll</c>: the walkthrough's software enrollment from the command line (SPEC §11):
/// create the request, read the generation options, make the keys here, send the CSRs, write a
/// PFX, and mark the request Completed.
/// </summary>
internal static class EnrollCommand
{
    private const string PasswordVariable = "OPENCM_PFX_PASSWORD";

    public static Command Create(CliIo io)
    {
        var server = new Option<string>("--server") { Description = "The server's base address.", DefaultValueFactory = _ => Environment.GetEnvironmentVariable("OPENCM_SERVER") ?? "http://localhost:5000" };
        var token = new Option<string?>("--token") { Description = "Bearer token; defaults to $OPENCM_TOKEN." };
        var template = new Option<string>("--template") { Description = "The profile template's name.", Required = true };
        var output = new Option<FileInfo>("--out") { Description = "Where to write the PFX.", Required = true };
        var password = new Option<string?>("--password") { Description = $"PFX password; prefer ${PasswordVariable}, which process listings do not show." };
        var data = new Option<string[]>("--data-item") { Description = "A data collection item, NAME=VALUE; repeatable." };
        var command = new Command("enroll", "Enroll for a software profile template and write the certificates and keys to a PFX.") { server, token, template, output, password, data };
        command.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            var pfxPassword = parse.GetValue(password) ?? Environment.GetEnvironmentVariable(PasswordVariable);
            if (string.IsNullOrEmpty(pfxPassword))
            {
                throw new CliException($"a PFX password is needed: set {PasswordVariable} (or pass --password)");
            }

            var items = (parse.GetValue(data) ?? []).Select(d => d.Split('=', 2)).Select(p => p.Length == 2
                ? new DataItemDto(p[0], p[1])
                : throw new CliException($"--data-item '{p[0]}' is not NAME=VALUE")).ToList();
            var file = parse.GetValue(output)!;
            using var client = RequestCommands.Client(parse.GetValue(server)!, parse.GetValue(token));
            Guid? requestId = null;
            try
            {
            await io.Console.Status().StartAsync("Finding the template…", async status =>
            {
                // 1. The template by name.
                var wanted = parse.GetValue(template)!;
                var found = (await client.ProfileTemplatesAsync(ct)).FirstOrDefault(t => string.Equals(t.Name, wanted, StringComparison.OrdinalIgnoreCase))
                    ?? throw CliException.Refused($"no profile template named '{wanted}' is available to you");
                if (found.IsSmartcardProfileTemplate)
                {
                    throw new CliException($"'{wanted}' is a smart card template; enroll handles software profiles");
                }

                // 2. The request.
                status.Status("Creating the request…");
                requestId = await client.CreateRequestAsync(new CreateRequestBody(WireRequestType.Enroll, found.Uuid, items, Comment: ""), ct);
                var request = await client.GetRequestAsync(requestId.Value, ct);
                if (request.Status != (int)WireRequestStatus.Approved)
                {
                    throw new PendingException(requestId.Value.ToString("D"));
                }

                // 3-5. Keys and CSRs made here, the certificates, one PFX (shared with renew).
                await SoftwareEnrollment.IssuePfxAsync(client, requestId.Value, pfxPassword, file.FullName, force: true, s =>
                {
                    status.Status(s);
                    return Task.CompletedTask;
                }, () => { }, ct);

                // 6. Done: the request is Completed and the profile Active.
                status.Status("Completing the request…");
                await client.SetStatusAsync(requestId.Value, WireRequestStatus.Completed, ct);
            }).ConfigureAwait(false);
            }
            catch (PendingException pending)
            {
                await io.Err.WriteLineAsync($"error: request {pending.RequestId} is waiting for approval; run enroll again once it is approved");
                return OpenCmCli.Failed;
            }
            catch (Exception) when (requestId is { } created)
            {
                // Leave nothing half-done: an enrollment that failed after its request was created is abandoned.
                try
                {
                    await client.SetStatusAsync(created, WireRequestStatus.Abandoned, CancellationToken.None);
                    await io.Err.WriteLineAsync($"request {created:D} abandoned");
                }
                catch (OpenCmApiException)
                {
                    // Abandoning is best effort; the original failure is what the user needs to see.
                }

                throw;
            }

            await io.Out.WriteLineAsync($"enrolled: request {requestId:D} completed; certificates and keys written to {file.FullName}");
            return OpenCmCli.Ok;
        }));
        return command;
    }

    private sealed class PendingException(string requestId) : Exception($"request {requestId} is pending")
    {
        public string RequestId { get; } = requestId;
    }
}
