using System.CommandLine;
using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OpenCM.Client;
using OpenCM.Contracts;
using OpenCM.Domain;

namespace OpenCM.Cli;

/// <summary>
/// The certificate commands operators reach for (issue #23.3), over the MIM CM API of a running
/// server: <c>certificates list|show</c>, and <c>revoke</c>, <c>renew</c> and <c>sign</c>, each a
/// request of the workflow underneath (approvals included): a request that waits for approvals is
/// filed, said so on stderr, and its id printed on stdout with exit code 0.
/// </summary>
internal static class CertificateCommands
{
    private const string PasswordVariable = "OPENCM_PFX_PASSWORD";

    /// <summary>
    /// The reasons a Revoke request's "Revocation Reason" carries, as the server reads them
    /// (ProfileRules; RFC 5280 §5.3.1 names): cACompromise, aACompromise and removeFromCRL are
    /// no reasons to revoke an end entity's certificate, and the server refuses them.
    /// </summary>
    internal static readonly string[] RevocationReasons =
        ["unspecified", "keyCompromise", "affiliationChanged", "superseded", "cessationOfOperation", "certificateHold", "privilegeWithdrawn"];

    public static Command Certificates(CliIo io)
    {
        var certificates = new Command("certificates", "List and show your certificates on a running server.");
        certificates.Subcommands.Add(List(io));
        certificates.Subcommands.Add(Show(io));
        return certificates;
    }

    private static Command List(CliIo io)
    {
        var (server, token) = (RequestCommands.ServerOption(), RequestCommands.TokenOption());
        var format = Output.FormatOption(" (JSON: the certificates as the wire sends them, GET /certificates)");
        var command = new Command("list", "List your current certificates (revoked and superseded ones are left out, as GET /certificates does).") { server, token, format };
        command.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            var chosen = Output.Parse(parse.GetValue(format));
            using var client = RequestCommands.Client(parse.GetValue(server)!, parse.GetValue(token));
            await io.WriteListAsync(chosen, await client.UserCertificatesAsync(ct), WireJson.TypeInfo<UserCertificateDto>(),
            [
                new("Template", c => c.TemplateCommonName),
                new("Serial", c => c.SerialNumber),
                new("Not before", c => c.NotBefore),
                new("Not after", c => c.NotAfter),
                new("Status", c => CertificateStatus(c.Status)),
                new("Thumbprint", c => c.Thumbprint),
            ], ct);
            return OpenCmCli.Ok;
        }));
        return command;
    }

    private static Command Show(CliIo io)
    {
        var (server, token) = (RequestCommands.ServerOption(), RequestCommands.TokenOption());
        var which = new Argument<string>("certificate") { Description = "Its serial number or SHA-1 thumbprint (hex; colons and spaces are ignored)." };
        var format = Output.FormatOption(" (JSON: the certificate as the wire sends it: GET /certificates' entry, or GET /profiles/{id}/certificates' for one no longer current)");
        var command = new Command("show", "Show one of your certificates: template, serial, validity, status, thumbprint and the profile holding it.") { server, token, which, format };
        command.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            var chosen = Output.Parse(parse.GetValue(format));
            var wanted = Hex(parse.GetValue(which)!, "certificate");
            using var client = RequestCommands.Client(parse.GetValue(server)!, parse.GetValue(token));
            var current = (await client.UserCertificatesAsync(ct)).FirstOrDefault(c => Matches(wanted, c.SerialNumber, c.Thumbprint));
            var held = await FindInProfilesAsync(client, wanted, ct);
            if (current is not null)
            {
                await io.WriteItemAsync(chosen, current, WireJson.TypeInfo<UserCertificateDto>(),
                [
                    ("Template", current.TemplateCommonName),
                    ("Serial", current.SerialNumber),
                    ("Not before", current.NotBefore),
                    ("Not after", current.NotAfter),
                    ("Status", CertificateStatus(current.Status)),
                    ("Thumbprint", current.Thumbprint),
                    ("Issuer", current.Issuer),
                    ("Requester", current.RequesterName),
                    ("Profile", held?.Profile.Uuid.ToString("D") ?? ""),
                ]);
                return OpenCmCli.Ok;
            }

            // No longer current: its profile says what became of it.
            var (profile, certificate) = held ?? throw CliException.Refused(
                $"none of your certificates has the serial number or thumbprint {parse.GetValue(which)} ('opencm certificates list' shows the current ones)");
            await io.WriteItemAsync(chosen, certificate, WireJson.TypeInfo<ProfileCertificateDto>(),
            [
                ("Template", certificate.TemplateCommonName),
                ("Serial", certificate.SerialNumber),
                ("Status", ProfileCertificateStatus(profile.Status)),
                ("Thumbprint", certificate.Thumbprint),
                ("Profile", profile.Uuid.ToString("D")),
            ]);
            return OpenCmCli.Ok;
        }));
        return command;
    }

    /// <summary><c>opencm revoke</c>: the MIM CM Revoke request on the profile holding the certificate.</summary>
    public static Command Revoke(CliIo io)
    {
        var (server, token) = (RequestCommands.ServerOption(), RequestCommands.TokenOption());
        var serial = new Option<string?>("--serial") { Description = "The certificate's serial number (hex), one of yours: its profile is revoked." };
        var profile = new Option<string?>("--profile") { Description = "The profile's GUID (a manager revoking someone else's: the help desk shows it)." };
        var reason = new Option<string>("--reason")
        {
            Description = "Why (RFC 5280), case-insensitive: " + string.Join(", ", RevocationReasons) + "; certificateHold suspends (Reinstate lifts it).",
            Required = true,
        };
        var comment = new Option<string>("--comment") { Description = "The request's comment.", DefaultValueFactory = _ => "" };
        var format = Output.FormatOption(" (JSON: the request as the wire sends it)");
        var command = new Command("revoke", "Revoke a certificate's profile through a Revoke request (approvals included): its certificates go on the CRL.")
        {
            server, token, serial, profile, reason, comment, format,
        };
        command.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            var chosen = Output.Parse(parse.GetValue(format));
            var why = Reason(parse.GetValue(reason)!);
            var (bySerial, byProfile) = (parse.GetValue(serial), parse.GetValue(profile));
            if ((bySerial is null) == (byProfile is null))
            {
                throw new CliException("give either --serial or --profile");
            }

            var wanted = bySerial is not null ? Hex(bySerial, "--serial") : null;
            using var client = RequestCommands.Client(parse.GetValue(server)!, parse.GetValue(token));
            var target = wanted is null
                ? await client.GetProfileAsync(Id(byProfile!, "--profile", "a profile's GUID"), ct)
                : (await FindInProfilesAsync(client, wanted, ct) ?? throw CliException.Refused(
                    $"none of your profiles holds a certificate with serial number {bySerial}; a manager revoking someone else's gives --profile ID")).Profile;
            var profileId = target.Uuid;

            var id = await client.CreateRequestAsync(new CreateRequestBody(WireRequestType.Revoke, DataCollection: await ReasonItemAsync(client, target.ProfileTemplateUuid, why, ct),
                Comment: parse.GetValue(comment)!, Profile: profileId), ct);
            var request = await RunToCompletionAsync(io, client, id, ct);
            if (request.Status == (int)WireRequestStatus.Completed)
            {
                await io.Err.WriteLineAsync($"revoked: request {id:D} completed; profile {profileId:D} ({why}): its certificates are on the CRL the server publishes next");
            }

            await WriteRequestAsync(io, chosen, request);
            return OpenCmCli.Ok;
        }));
        return command;
    }

    /// <summary><c>opencm renew</c>: the Renew request on a software profile, the new key made here and written to a PFX as enroll does.</summary>
    public static Command Renew(CliIo io)
    {
        var (server, token) = (RequestCommands.ServerOption(), RequestCommands.TokenOption());
        var profile = new Option<string?>("--profile") { Description = "The profile to renew (its GUID; 'opencm certificates show SERIAL' names it)." };
        var request = new Option<string?>("--request") { Description = "Finish a Renew request filed earlier, once it is approved." };
        var output = new Option<FileInfo>("--out") { Description = "Where to write the PFX.", Required = true };
        var force = SafeFile.ForceOption();
        var password = new Option<string?>("--password") { Description = $"PFX password; prefer ${PasswordVariable}, which process listings do not show." };
        var data = new Option<string[]>("--data-item") { Description = "A data collection item, NAME=VALUE; repeatable." };
        var format = Output.FormatOption(" (JSON: the request as the wire sends it)");
        var command = new Command("renew", "Renew a software profile: a new key made here, its certificates written to a PFX, the old ones superseded.")
        {
            server, token, profile, request, output, force, password, data, format,
        };
        command.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            var chosen = Output.Parse(parse.GetValue(format));
            var pfxPassword = parse.GetValue(password) ?? Environment.GetEnvironmentVariable(PasswordVariable);
            if (string.IsNullOrEmpty(pfxPassword))
            {
                throw new CliException($"a PFX password is needed: set {PasswordVariable} (or pass --password)");
            }

            var (file, overwrite) = (parse.GetValue(output)!, parse.GetValue(force));
            SafeFile.EnsureWritable(file.FullName, overwrite);
            var (existing, named) = (parse.GetValue(request), parse.GetValue(profile));
            if ((existing is null) == (named is null))
            {
                throw new CliException("give either --profile (a new Renew request) or --request (one filed earlier)");
            }

            var profileId = named is null ? (Guid?)null : Id(named, "--profile", "a profile's GUID");
            var requestId = existing is null ? (Guid?)null : Id(existing, "--request", "a request's GUID");
            var items = DataItems(parse.GetValue(data));
            using var client = RequestCommands.Client(parse.GetValue(server)!, parse.GetValue(token));
            var created = requestId is null;
            requestId ??= await client.CreateRequestAsync(new CreateRequestBody(WireRequestType.Renew, DataCollection: items, Comment: "", Profile: profileId), ct);
            var id = requestId.Value;
            var filed = await client.GetRequestAsync(id, ct);
            if (await IsWaitingAsync(io, filed, $"opencm renew --request {id:D} --out {file.FullName}"))
            {
                await WriteRequestAsync(io, chosen, filed);
                return OpenCmCli.Ok;
            }

            var issuing = false;
            var done = await AbandonOnFailureAsync(io, client, id, () => created || issuing, async () =>
            {
                await SoftwareEnrollment.IssuePfxAsync(client, id, pfxPassword, file.FullName, overwrite, s => io.Err.WriteLineAsync(s), () => issuing = true, ct);
                await io.Err.WriteLineAsync("completing the request…");
                return await client.SetStatusAsync(id, WireRequestStatus.Completed, ct);
            });
            await io.Err.WriteLineAsync($"renewed: request {id:D} completed; new profile {done.NewProfileUuid:D}; certificates and keys written to {file.FullName}");
            await WriteRequestAsync(io, chosen, done);
            return OpenCmCli.Ok;
        }));
        return command;
    }

    /// <summary><c>opencm sign</c>: an existing PKCS#10 through the same Enroll request a key made here would take.</summary>
    public static Command Sign(CliIo io)
    {
        var (server, token) = (RequestCommands.ServerOption(), RequestCommands.TokenOption());
        var csr = new Option<FileInfo>("--csr") { Description = "The PKCS#10 certificate request, PEM or DER.", Required = true };
        var template = new Option<string?>("--template") { Description = "The software profile template's name." };
        var request = new Option<string?>("--request") { Description = "Finish an Enroll request filed earlier by sign, once it is approved." };
        var output = new Option<FileInfo?>("--out") { Description = "Write the certificate (PEM) to this file instead of stdout." };
        var force = SafeFile.ForceOption();
        var data = new Option<string[]>("--data-item") { Description = "A data collection item, NAME=VALUE; repeatable." };
        var format = Output.FormatOption(" (JSON: the certificates as the wire's certificatedata answer sends them)");
        var command = new Command("sign", "Have an existing CSR signed through an Enroll request (approvals included) and write the certificate (PEM).")
        {
            server, token, csr, template, request, output, force, data, format,
        };
        command.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            var chosen = Output.Parse(parse.GetValue(format));
            var (file, overwrite) = (parse.GetValue(output), parse.GetValue(force));
            if (file is not null)
            {
                SafeFile.EnsureWritable(file.FullName, overwrite);
            }

            var (existing, named) = (parse.GetValue(request), parse.GetValue(template));
            if ((existing is null) == (named is null))
            {
                throw new CliException("give either --template (a new Enroll request) or --request (one filed earlier)");
            }

            // Checked here first: a file that is no CSR, or one whose signature fails, never reaches the server.
            var (csrDer, publicKey) = ReadCsr(parse.GetValue(csr)!);
            var items = DataItems(parse.GetValue(data));
            using var client = RequestCommands.Client(parse.GetValue(server)!, parse.GetValue(token));
            var created = existing is null;
            Guid id;
            if (existing is not null)
            {
                id = Id(existing, "--request", "a request's GUID");
            }
            else
            {
                var found = (await client.ProfileTemplatesAsync(ct)).FirstOrDefault(t => string.Equals(t.Name, named, StringComparison.OrdinalIgnoreCase))
                    ?? throw CliException.Refused($"no profile template named '{named}' is available to you");
                if (found.IsSmartcardProfileTemplate)
                {
                    throw new CliException($"'{named}' is a smart card template; sign takes software templates");
                }

                id = await client.CreateRequestAsync(new CreateRequestBody(WireRequestType.Enroll, found.Uuid, items, Comment: ""), ct);
            }

            var filed = await client.GetRequestAsync(id, ct);
            if (await IsWaitingAsync(io, filed, $"opencm sign --request {id:D} --csr {parse.GetValue(csr)!.FullName}"))
            {
                await io.Out.WriteLineAsync(id.ToString("D"));
                return OpenCmCli.Ok;
            }

            var issuing = false;
            var (answer, issued) = await AbandonOnFailureAsync(io, client, id, () => created || issuing, async () =>
            {
                var options = await client.GenerationOptionsAsync(id, ct);
                if (options.Count != 1)
                {
                    throw new CliException($"the template issues {options.Count} certificates and sign sends one CSR: use 'opencm enroll' for it");
                }

                issuing = true;
                var certificates = await client.SubmitCertificateDataAsync(id, new CertificateDataBody([Convert.ToBase64String(csrDer)]), ct);
                var mine = certificates.Where(c => c.IsPkcs7).SelectMany(c => SoftwareEnrollment.Certificates(c))
                    .FirstOrDefault(c => c.PublicKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(publicKey))
                    ?? throw new OpenCmApiException("The server answered no certificate for the CSR's key.");
                await client.SetStatusAsync(id, WireRequestStatus.Completed, ct);
                return (certificates, mine);
            });
            using (issued)
            {
                var pem = PemEncoding.WriteString("CERTIFICATE", issued.RawData) + "\n";
                if (file is not null)
                {
                    await SafeFile.WriteAsync(file.FullName, pem, overwrite, ownerOnly: false, ct);
                }

                await io.Err.WriteLineAsync($"signed: request {id:D} completed; {issued.Subject}, serial {issued.SerialNumber}, valid until {issued.NotAfter.ToUniversalTime():u}"
                    + (file is null ? "" : $"; written to {file.FullName}"));
                if (chosen == OutputFormat.Json)
                {
                    await io.Out.WriteLineAsync(OutputWriter.Serialize(answer.ToList(), WireJson.TypeInfo<List<CertificateDto>>()));
                }
                else if (file is null)
                {
                    await io.Out.WriteAsync(pem);
                }
            }

            return OpenCmCli.Ok;
        }));
        return command;
    }

    // The reason as the Revoke policy collects it (SPEC §4: a policy refuses items it does not collect). A template whose
    // Revoke collects no reason revokes as unspecified: any other reason asked for is refused rather than silently dropped.
    private static async Task<List<DataItemDto>> ReasonItemAsync(OpenCmClient client, Guid template, string reason, CancellationToken ct)
    {
        WorkflowPolicyDto policy;
        try
        {
            policy = await client.WorkflowPolicyAsync(template, WireRequestType.Revoke, ct);
        }
        catch (OpenCmApiException ex) when (ex.Status is >= 400 and < 500)
        {
            // A policy this caller may not read: the server's answer to the request itself decides.
            return [new DataItemDto(ProfileRules.RevocationReasonItem, reason)];
        }

        if (policy.PolicyDataCollection.Any(p => string.Equals(p.Name, ProfileRules.RevocationReasonItem, StringComparison.OrdinalIgnoreCase)))
        {
            return [new DataItemDto(ProfileRules.RevocationReasonItem, reason)];
        }

        return reason == "unspecified"
            ? []
            : throw CliException.Refused($"the template's Revoke policy collects no '{ProfileRules.RevocationReasonItem}', so the server revokes as unspecified: give --reason unspecified, or add the item to the template");
    }

    // Waits for nothing: a request that needs approvals is said so on stderr (the caller prints its id on stdout);
    // an Approved one goes on. Any other status (Denied, …) is a refusal.
    private static async Task<bool> IsWaitingAsync(CliIo io, RequestDto request, string finish)
    {
        switch ((WireRequestStatus)request.Status)
        {
            case WireRequestStatus.Pending:
                await io.Err.WriteLineAsync($"request {request.Uuid:D} is waiting for approval; once it is approved: {finish}");
                return true;
            case WireRequestStatus.Approved:
                return false;
            default:
                throw new OpenCmApiException($"request {request.Uuid:D} is {Name(request.Status)}, not Approved");
        }
    }

    // A request the server executes by itself once approved (Revoke): Completed at once, or waiting for approvals.
    private static async Task<RequestDto> RunToCompletionAsync(CliIo io, OpenCmClient client, Guid id, CancellationToken ct)
    {
        var request = await client.GetRequestAsync(id, ct);
        switch ((WireRequestStatus)request.Status)
        {
            case WireRequestStatus.Completed:
                return request;
            case WireRequestStatus.Pending:
                await io.Err.WriteLineAsync($"request {id:D} is waiting for approval; the server carries it out once it is approved ('opencm requests show {id:D}')");
                return request;
            case WireRequestStatus.Approved:
                return await client.SetStatusAsync(id, WireRequestStatus.Completed, ct);
            default:
                throw new OpenCmApiException($"request {id:D} is {Name(request.Status)}");
        }
    }

    // Leave nothing half-done (as enroll does): a request this run filed, or one whose certificates were asked for (the CA
    // may have signed), is abandoned when the run fails; an approved request it only continued stays Approved, to run again.
    private static async Task<T> AbandonOnFailureAsync<T>(CliIo io, OpenCmClient client, Guid id, Func<bool> abandon, Func<Task<T>> body)
    {
        try
        {
            return await body();
        }
        catch (Exception) when (abandon())
        {
            try
            {
                await client.SetStatusAsync(id, WireRequestStatus.Abandoned, CancellationToken.None);
                await io.Err.WriteLineAsync($"request {id:D} abandoned");
            }
            catch (Exception ex) when (ex is OpenCmApiException or HttpRequestException)
            {
                // Abandoning is best effort; the original failure is what the user needs to see.
            }

            throw;
        }
    }

    // Table: the request's id alone on stdout (for `id=$(opencm revoke …)`); JSON: the request as the wire sends it.
    private static Task WriteRequestAsync(CliIo io, OutputFormat format, RequestDto request) =>
        format == OutputFormat.Json
            ? io.Out.WriteLineAsync(OutputWriter.Serialize(request, WireJson.TypeInfo<RequestDto>()))
            : io.Out.WriteLineAsync(request.Uuid.ToString("D"));

    // The profile of the caller's that holds the certificate (GET /profiles, then each one's certificates).
    private static async Task<(ProfileDto Profile, ProfileCertificateDto Certificate)?> FindInProfilesAsync(OpenCmClient client, string wanted, CancellationToken ct)
    {
        foreach (var profile in await client.ProfilesAsync(ct))
        {
            if ((await client.ProfileCertificatesAsync(profile.Uuid, ct)).FirstOrDefault(c => Matches(wanted, c.SerialNumber, c.Thumbprint)) is { } found)
            {
                return (profile, found);
            }
        }

        return null;
    }

    // The server's values as they come (a reserved serial may have no thumbprint yet): compared, never refused.
    private static bool Matches(string wanted, string serial, string thumbprint) =>
        string.Equals(wanted.TrimStart('0'), Plain(serial).TrimStart('0'), StringComparison.Ordinal)
        || string.Equals(wanted, Plain(thumbprint), StringComparison.Ordinal);

    private static string Plain(string? text) => new string([.. (text ?? "").Where(c => c is not (':' or ' ' or '-'))]).ToUpperInvariant();

    // Hex as people paste it: colons, spaces and dashes dropped, any case; anything else is a usage error.
    private static string Hex(string text, string what)
    {
        var hex = Plain(text);
        return hex.Length > 0 && hex.All(char.IsAsciiHexDigit) ? hex : throw new CliException($"{what} '{text}' is not a hexadecimal serial number or thumbprint");
    }

    private static Guid Id(string text, string option, string what) =>
        Guid.TryParse(text.Trim(), out var id) ? id : throw new CliException($"{option} '{text}' is not {what}");

    private static string Reason(string text) =>
        RevocationReasons.FirstOrDefault(r => string.Equals(r, text.Trim(), StringComparison.OrdinalIgnoreCase))
        ?? throw new CliException($"--reason '{text}' is not one of {string.Join(", ", RevocationReasons)}");

    private static List<DataItemDto> DataItems(string[]? items) =>
        [.. (items ?? []).Select(d => d.Split('=', 2)).Select(p => p.Length == 2 ? new DataItemDto(p[0], p[1]) : throw new CliException($"--data-item '{p[0]}' is not NAME=VALUE"))];

    // A PKCS#10 request, PEM or DER, whose signature verifies; its DER and its public key (SubjectPublicKeyInfo).
    private static (byte[] Der, byte[] PublicKey) ReadCsr(FileInfo file)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(file.FullName);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"--csr: cannot read {file.FullName} ({ex.Message})");
        }

        if (bytes.Length == 0)
        {
            throw new CliException($"--csr: {file.FullName} is empty");
        }

        try
        {
            var der = bytes;
            if (bytes.AsSpan().IndexOf("-----BEGIN"u8) >= 0)
            {
                var text = System.Text.Encoding.ASCII.GetString(bytes);
                var found = PemEncoding.TryFind(text, out var fields) ? fields : throw new CryptographicException("no PEM block");
                var label = text[fields.Label];
                if (label is not ("CERTIFICATE REQUEST" or "NEW CERTIFICATE REQUEST"))
                {
                    throw new CryptographicException($"its PEM block is a {label}");
                }

                der = Convert.FromBase64String(text[found.Base64Data]);
            }

            // LoadSigningRequest checks the request's signature with its own key (CertificateRequestLoadOptions.Default).
            var request = CertificateRequest.LoadSigningRequest(der, HashAlgorithmName.SHA256, out var consumed);
            if (consumed != der.Length)
            {
                throw new CryptographicException("data follows the request");
            }

            return (der, request.PublicKey.ExportSubjectPublicKeyInfo());
        }
        catch (Exception ex) when (ex is CryptographicException or FormatException or ArgumentException)
        {
            throw new CliException($"--csr: {file.FullName} is not a PKCS#10 certificate request with a valid signature ({ex.Message})");
        }
    }

    private static string CertificateStatus(int status) => status == 0 ? "valid" : status.ToString(CultureInfo.InvariantCulture);

    // What became of a certificate no longer current, from its profile's status (docs/state-machine.md).
    private static string ProfileCertificateStatus(int status) => (ProfileStatus)status switch
    {
        ProfileStatus.Active => "valid",
        ProfileStatus.Suspended => "revoked (on hold)",
        ProfileStatus.Disabled => "revoked",
        ProfileStatus.Retired => "revoked (retired or superseded)",
        var other => other.ToString(),
    };

    private static string Name(int status) =>
        Enum.IsDefined((WireRequestStatus)status) ? ((WireRequestStatus)status).ToString() : status.ToString(CultureInfo.InvariantCulture);
}
