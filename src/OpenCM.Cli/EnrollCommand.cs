using System.CommandLine;
using OpenCM.Client;
using OpenCM.Contracts;
using OpenCM.Domain;

namespace OpenCM.Cli;

/// <summary>
/// <c>opencm enroll</c>: the walkthrough's software enrollment from the command line (SPEC §11):
/// create the request, read the generation options, make the keys here, send the CSRs, write a
/// PFX, and mark the request Completed. On a template with approvals it finishes what it started
/// (issue #23.4): the first run files the request and says so (its id on stdout, exit 0); a run
/// with <c>--request ID</c>, or a later run for the same template that finds the caller's own
/// open request, goes on with it once approved instead of filing another. A request still
/// waiting is exit 1, one line saying how many approvals the template needs.
/// </summary>
internal static class EnrollCommand
{
    private const string PasswordVariable = "OPENCM_PFX_PASSWORD";

    public static Command Create(CliIo io)
    {
        var (server, token) = (RequestCommands.ServerOption(), RequestCommands.TokenOption());
        var template = new Option<string?>("--template") { Description = "The profile template's name: continues your own open request for it, else files one." };
        var requestOption = new Option<string?>("--request") { Description = "Finish this request (filed by an earlier run, now approved) instead of --template." };
        var output = new Option<FileInfo>("--out") { Description = "Where to write the PFX (refused when it exists, unless --force).", Required = true };
        var force = SafeFile.ForceOption();
        var password = new Option<string?>("--password") { Description = $"PFX password; prefer ${PasswordVariable}, which process listings do not show." };
        var data = new Option<string[]>("--data-item") { Description = "A data collection item, NAME=VALUE; repeatable (with --template, for a new request)." };
        var command = new Command("enroll",
            "Enroll for a software profile template and write the certificates and keys to a PFX. On a template with approvals the first run files the request "
            + "(its id on stdout) and exits 0; run it again (or with --request ID) once approved. A request still waiting exits 1.")
            { server, token, template, requestOption, output, force, password, data };
        command.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            var pfxPassword = parse.GetValue(password) ?? Environment.GetEnvironmentVariable(PasswordVariable);
            if (string.IsNullOrEmpty(pfxPassword))
            {
                throw new CliException($"a PFX password is needed: set {PasswordVariable} (or pass --password)");
            }

            var (wanted, given) = (parse.GetValue(template), parse.GetValue(requestOption));
            if ((wanted is null) == (given is null))
            {
                throw new CliException("give either --template (files a request, or continues your open one) or --request ID (an approved one)");
            }

            var items = (parse.GetValue(data) ?? []).Select(d => d.Split('=', 2)).Select(p => p.Length == 2
                ? new DataItemDto(p[0], p[1])
                : throw new CliException($"--data-item '{p[0]}' is not NAME=VALUE")).ToList();
            var file = parse.GetValue(output)!;
            var replace = parse.GetValue(force);

            // Before anything is filed: an existing file is refused without --force (issue #23.6).
            SafeFile.EnsureWritable(file.FullName, replace);
            using var client = RequestCommands.Client(parse.GetValue(server)!, parse.GetValue(token));
            var (requestId, filed) = given is not null
                ? (RequestId(given), false)
                : await FileOrContinueAsync(io, client, wanted!, items, ct);
            var request = await client.GetRequestAsync(requestId, ct);
            var again = $"opencm enroll --request {requestId:D} --out {Quote(file.FullName)}";
            switch ((WireRequestStatus)request.Status)
            {
                case WireRequestStatus.Approved:
                    break;
                case WireRequestStatus.Pending when filed:
                    // Filed and waiting: what was asked for is done; the id on stdout for a script, what next on stderr.
                    await io.Err.WriteLineAsync($"request {requestId:D} {await WaitingAsync(client, request, ct)}; once approved run: {again}");
                    await io.Out.WriteLineAsync(requestId.ToString("D"));
                    return OpenCmCli.Ok;
                case WireRequestStatus.Pending:
                    await io.Err.WriteLineAsync($"error: request {requestId:D} {await WaitingAsync(client, request, ct)}; run '{again}' once approved");
                    return OpenCmCli.Refused;
                case var status:
                    await io.Err.WriteLineAsync($"error: request {requestId:D} is {status}: it cannot be enrolled{(status == WireRequestStatus.Executing ? $" again (abandon it: opencm requests abandon {requestId:D})" : "")}");
                    return OpenCmCli.Refused;
            }

            var issuing = false;
            try
            {
                // Keys and CSRs made here, the certificates, one PFX (shared with renew).
                await SoftwareEnrollment.IssuePfxAsync(client, requestId, pfxPassword, file.FullName, replace, s => io.Err.WriteLineAsync(s), () => issuing = true, ct);

                // Done: the request is Completed and the profile Active.
                await client.SetStatusAsync(requestId, WireRequestStatus.Completed, ct);
            }
            catch (Exception) when (filed || issuing)
            {
                // Leave nothing half-done: an enrollment that failed after it filed its request, or
                // once certificates were asked for, is abandoned. An approved request it only
                // continued stays Approved when nothing was issued, to run again.
                try
                {
                    await client.SetStatusAsync(requestId, WireRequestStatus.Abandoned, CancellationToken.None);
                    await io.Err.WriteLineAsync($"request {requestId:D} abandoned");
                }
                catch (Exception e) when (e is OpenCmApiException or HttpRequestException)
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

    // The caller's own open Enroll request for the template (Approved first, then the newest Pending), else a new one.
    private static async Task<(Guid Id, bool Filed)> FileOrContinueAsync(CliIo io, OpenCmClient client, string wanted, List<DataItemDto> items, CancellationToken ct)
    {
        var found = (await client.ProfileTemplatesAsync(ct)).FirstOrDefault(t => string.Equals(t.Name, wanted, StringComparison.OrdinalIgnoreCase))
            ?? throw CliException.Refused($"no profile template named '{wanted}' is available to you");
        if (found.IsSmartcardProfileTemplate)
        {
            throw new CliException($"'{wanted}' is a smart card template; enroll handles software profiles (use opencm card enroll)");
        }

        var me = await client.MeAsync(ct);
        var open = new List<RequestDto>();
        foreach (var status in new[] { WireRequestStatus.Approved, WireRequestStatus.Pending })
        {
            var page = await client.ListRequestsAsync(status, ct: ct);
            while (true)
            {
                open.AddRange(page.Items.Where(r => r.OriginatorUserUuid == me.Uuid && r.ProfileTemplateUuid == found.Uuid && r.RequestType == (int)WireRequestType.Enroll));
                if (page.Next is null)
                {
                    break;
                }

                page = await client.ListRequestsAsync(next: page.Next, ct: ct);
            }
        }

        if (open.FirstOrDefault() is { } mine)
        {
            // Approved ones were listed first; among those waiting, the newest.
            var chosen = open.Any(r => r.Status == (int)WireRequestStatus.Approved) ? mine : open.OrderByDescending(r => r.Submitted, StringComparer.Ordinal).First();
            await io.Err.WriteLineAsync($"continuing your open request {chosen.Uuid:D} for '{found.Name}' ({(WireRequestStatus)chosen.Status}, filed {chosen.Submitted})");
            return (chosen.Uuid, false);
        }

        var id = await client.CreateRequestAsync(new CreateRequestBody(WireRequestType.Enroll, found.Uuid, items, Comment: ""), ct);
        await io.Err.WriteLineAsync($"request {id:D} filed for '{found.Name}'");
        return (id, true);
    }

    // "is waiting for approval: the template needs N approvals" (the policy may be unreadable to the caller: then without the number).
    private static async Task<string> WaitingAsync(OpenCmClient client, RequestDto request, CancellationToken ct)
    {
        try
        {
            var needed = (await client.WorkflowPolicyAsync(request.ProfileTemplateUuid, WireRequestType.Enroll, ct)).ApprovalsNeeded;
            return $"is waiting for approval: its template needs {needed} approval{(needed == 1 ? "" : "s")}";
        }
        catch (OpenCmApiException)
        {
            return "is waiting for approval";
        }
    }

    private static Guid RequestId(string text) =>
        Guid.TryParse(text.Trim(), out var id) ? id : throw new CliException($"--request '{text}' is not a request id (a GUID)");

    private static string Quote(string value) => value.Any(char.IsWhiteSpace) ? "\"" + value.Replace("\"", "\\\"", StringComparison.Ordinal) + "\"" : value;
}
