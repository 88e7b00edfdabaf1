using System.CommandLine;
using System.Security.Cryptography;
using OpenCM.Cards;
using OpenCM.Client;
using OpenCM.Contracts;
using OpenCM.Domain;
using OpenCM.Smartcards;
using Spectre.Console;

namespace OpenCM.Cli;

/// <summary>
/// <c>opencm card …</c> (issues #8.10, #22): <c>simulate</c> plays the client side of Microsoft's
/// enrollment walkthrough with a software-emulated Base CSP card; <c>readers</c>, <c>enroll</c>,
/// <c>unblock --reader</c>, <c>offline-unblock</c>, <c>renew</c> and <c>retire</c> work on the
/// card in a reader of this computer (docs/smartcards.md); <c>list</c>, <c>show</c> and
/// <c>unblock --card --challenge</c> serve a help desk.
/// </summary>
internal static class CardCommands
{
    private const string PinVariable = "OPENCM_CARD_PIN";

    public static Command Card(CliIo io)
    {
        var card = new Command("card", "Smart cards: enroll, unblock, renew and retire the card in a reader; simulate an enrollment; list and show cards; answer an offline unblock.");
        card.Subcommands.Add(Simulate(io));
        card.Subcommands.Add(Readers(io));
        card.Subcommands.Add(Enroll(io));
        card.Subcommands.Add(OfflineUnblock(io));
        card.Subcommands.Add(Renew(io));
        card.Subcommands.Add(Retire(io));
        card.Subcommands.Add(List(io));
        card.Subcommands.Add(Show(io));
        card.Subcommands.Add(Unblock(io));
        card.Subcommands.Add(CardEmulateCommand.Create(io));
        return card;
    }

    /// <summary>One line for a card's or reader's refusal: which of the closed set it is, and what the card said; never a PIN or key.</summary>
    public static string Describe(CardException ex)
    {
        ArgumentNullException.ThrowIfNull(ex);
        var what = ex.Refusal switch
        {
            CardRefusal.NoReader => "no smart card reader by that name (opencm card readers lists them; is pcscd running?)",
            CardRefusal.NoCard => "no card in the reader",
            CardRefusal.CardRemoved => "the card was removed (or reset) during the operation; what it did not confirm did not happen",
            CardRefusal.WrongCard => "this is not the card for this operation (or not a card opencm can personalize)",
            CardRefusal.Malformed => "the card answered something that is not a valid answer",
            CardRefusal.CardFull => "the card has no room left",
            CardRefusal.Unsupported => "the card does not support this",
            CardRefusal.AdminAuthenticationFailed => "the card refused the admin key's answer to its challenge",
            CardRefusal.WrongPin => "wrong PIN",
            CardRefusal.PinBlocked => "the PIN is blocked: unblock it (opencm card unblock --reader, or offline-unblock with your help desk)",
            CardRefusal.PinInvalid => "the card does not take that PIN (its length or characters), or it has none yet",
            CardRefusal.NoSuchContainer => "no such key on the card",
            CardRefusal.CertificateMismatch => "the certificate is not for the key on the card",
            _ => "the card refused the operation",
        };
        var detail = ex.Message.ReplaceLineEndings(" ").Trim();
        return detail.Length == 0 || detail == new CardException(ex.Refusal).Message ? what : $"{what}: {detail}";
    }

    private static Command Readers(CliIo io)
    {
        var command = new Command("readers", "List the smart card readers of this computer (PC/SC).");
        command.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            var names = io.CardReaders().List();
            if (names.Count == 0)
            {
                throw new CardException(CardRefusal.NoReader, "no reader is attached (is pcscd running, and the reader plugged in?)");
            }

            foreach (var name in names)
            {
                await io.Out.WriteLineAsync(name);
            }

            return OpenCmCli.Ok;
        }));
        return command;
    }

    private static Option<string> ReaderOption() => new("--reader") { Description = "The reader the card is in, as `opencm card readers` lists it.", Required = true };

    private static Option<bool> PinStdinOption() => new("--pin-stdin") { Description = $"Read the PIN from standard input's first line (else ${PinVariable})." };

    // The user's PIN: $OPENCM_CARD_PIN, or standard input with --pin-stdin; never an argument (it would show in a process listing).
    private static async Task<string> UserPinAsync(CliIo io, bool fromStdin, string purpose)
    {
        if (fromStdin)
        {
            return await io.In.ReadLineAsync() is { Length: > 0 } line ? line : throw new CliException("--pin-stdin: no PIN on standard input");
        }

        return Environment.GetEnvironmentVariable(PinVariable) is { Length: > 0 } pin
            ? pin
            : throw new CliException($"{purpose}: set ${PinVariable} or pass --pin-stdin");
    }

    private static ICardDevice OpenCard(CliIo io, string reader) => io.CardReaders().Open(reader);

    // Progress goes to stderr (issue #23.8): stdout keeps the results (ids, the card, its certificates) for a script.
    private static SyncProgress<CardStep> Steps(CliIo io) => new(step => io.Err.WriteLine($"[{step.Number,2}] {step.What}"));

    // A card or the server failed midway: the request stays where the server has it; say how to go
    // on. An Approved request (nothing started) and an executing Unblock run again as they are; an
    // executing Enroll or Renew does not start twice: abandoning it revokes what it issued.
    private static async Task AdviseAsync(CliIo io, OpenCmClient client, Guid requestId, string retry, bool resumes = false)
    {
        try
        {
            var status = (WireRequestStatus)(await client.GetRequestAsync(requestId, CancellationToken.None)).Status;
            await io.Err.WriteLineAsync(status switch
            {
                WireRequestStatus.Approved => $"request {requestId:D} is still Approved: put the card back and run `{retry}`, or `opencm requests cancel {requestId:D}`",
                WireRequestStatus.Executing when resumes => $"request {requestId:D} is Executing: put the card back and run `{retry}`, or `opencm requests abandon {requestId:D}`",
                WireRequestStatus.Executing => $"request {requestId:D} is Executing and cannot start again: `opencm requests abandon {requestId:D}` (revokes what it issued), then start anew",
                _ => $"request {requestId:D} is {status}",
            });
        }
        catch (Exception e) when (e is OpenCmApiException or HttpRequestException)
        {
            await io.Err.WriteLineAsync($"request {requestId:D}: its status could not be read; see `opencm requests show {requestId:D}`");
        }
    }

    private static async Task<ProfileTemplateDto> CardTemplateAsync(OpenCmClient client, string wanted, CancellationToken ct)
    {
        var found = (await client.ProfileTemplatesAsync(ct)).FirstOrDefault(t => string.Equals(t.Name, wanted, StringComparison.OrdinalIgnoreCase))
            ?? throw CliException.Refused($"no profile template named '{wanted}' is available to you");
        return found.IsSmartcardProfileTemplate ? found : throw new CliException($"'{wanted}' is a software template; use enroll");
    }

    private static List<DataItemDto> DataItems(string[]? data) =>
        (data ?? []).Select(d => d.Split('=', 2)).Select(p => p.Length == 2
            ? new DataItemDto(p[0], p[1])
            : throw new CliException($"--data-item '{p[0]}' is not NAME=VALUE")).ToList();

    private static string Quote(string value) => "\"" + value.Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";

    private static Command Enroll(CliIo io)
    {
        var (server, token, reader) = (RequestCommands.ServerOption(), RequestCommands.TokenOption(), ReaderOption());
        var template = new Option<string?>("--template") { Description = "The smart card profile template's name: files an Enroll request." };
        var requestOption = new Option<string?>("--request") { Description = "An approved Enroll (or Duplicate) request to execute, instead of --template." };
        var data = new Option<string[]>("--data-item") { Description = "A data collection item, NAME=VALUE; repeatable (with --template)." };
        var pinStdin = PinStdinOption();
        var showPin = new Option<bool>("--show-pin") { Description = "Print the card's PIN (needed when the server proposes it: it is handed out once)." };
        var command = new Command("enroll",
            $"Personalize the card in a reader (walkthrough steps 5-28): bind it, give it its own admin key, set the PIN (the server's proposal, else ${PinVariable} or --pin-stdin), make the keys on the card, install the certificates.")
            { server, token, reader, template, requestOption, data, pinStdin, showPin };
        command.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            var (name, wanted, given) = (parse.GetValue(reader)!, parse.GetValue(template), parse.GetValue(requestOption));
            if ((wanted is null) == (given is null))
            {
                throw new CliException("give either --template (a new request) or --request (an approved one)");
            }

            using var client = RequestCommands.Client(parse.GetValue(server)!, parse.GetValue(token));
            using var device = OpenCard(io, name);
            ProfileTemplateDto? found = null;
            Guid requestId = Guid.Empty;
            Guid templateUuid;
            if (wanted is not null)
            {
                found = await CardTemplateAsync(client, wanted, ct);
                templateUuid = found.Uuid;
            }
            else
            {
                requestId = Guid.TryParse(given, out var r) ? r : throw new CliException("--request is the request's uuid");
                templateUuid = (await client.GetRequestAsync(requestId, ct)).ProfileTemplateUuid;
            }

            // The PIN, before anything is filed: the server's proposal (shown only when asked, and
            // then it must be, as it is handed out once), else the user's.
            var policy = await client.SmartcardPolicyAsync(templateUuid, ct);
            var proposed = policy.UserPinOption == (int)UserPinOption.ServerProposed;
            if (proposed && !parse.GetValue(showPin))
            {
                throw new CliException("this template's server proposes the card's PIN, handed out once: pass --show-pin to see it");
            }

            var pin = proposed ? null : await UserPinAsync(io, parse.GetValue(pinStdin), "this template's cards take a PIN their user chooses");
            if (found is not null)
            {
                requestId = await client.CreateRequestAsync(new CreateRequestBody(WireRequestType.Enroll, found.Uuid, DataItems(parse.GetValue(data)), Comment: ""), ct);
                await io.Err.WriteLineAsync($"[ 5] request {requestId:D} created for '{found.Name}'");
            }

            var request = await client.GetRequestAsync(requestId, ct);
            var retry = $"opencm card enroll --reader {Quote(name)} --request {requestId:D}";
            if (request.Status == (int)WireRequestStatus.Pending)
            {
                await io.Err.WriteLineAsync($"request {requestId:D} is Pending; once it is approved run: {retry}");
                await io.Out.WriteLineAsync(requestId.ToString("D"));
                return OpenCmCli.Ok;
            }

            if (request.Status != (int)WireRequestStatus.Approved)
            {
                await AdviseAsync(io, client, requestId, retry);
                throw new CliException($"request {requestId:D} cannot be executed now");
            }

            CardEnrollment enrollment;
            string cardPin;
            try
            {
                (enrollment, cardPin) = await new CardClient(client, Steps(io)).PersonalizeAsync(requestId, device, pin, ct);
            }
            catch (Exception e) when (e is CardException or OpenCmApiException && !ct.IsCancellationRequested)
            {
                await AdviseAsync(io, client, requestId, retry);
                throw;
            }

            await WriteCertificatesAsync(io, device);
            await io.Out.WriteLineAsync($"card {enrollment.Card:D} (card id {device.CardId}) is Active; request {requestId:D} completed");
            if (parse.GetValue(showPin))
            {
                await io.Out.WriteLineAsync($"PIN: {cardPin}");
            }

            return OpenCmCli.Ok;
        }));
        return command;
    }

    private static Task WriteCertificatesAsync(CliIo io, ICardDevice device) =>
        io.WriteTableAsync(
            ["Container", "Subject", "Thumbprint", "Not after"],
            [.. device.Certificates.Select(c => new[] { c.Key, c.Value.Subject, c.Value.Thumbprint, c.Value.NotAfter.ToUniversalTime().ToString("u", System.Globalization.CultureInfo.InvariantCulture) })]);

    // A request of <paramref name="type"/> on the card in the reader: the one given, else a new one filed for the card's record.
    private static async Task<Guid?> OnCardRequestAsync(CliIo io, OpenCmClient client, ICardDevice device, WireRequestType type, string? given, string verb, string reader, CancellationToken ct)
    {
        Guid requestId;
        if (given is not null)
        {
            requestId = Guid.TryParse(given, out var r) ? r : throw new CliException("--request is the request's uuid");
        }
        else
        {
            var card = await client.FindSmartcardAsync(device.CardId, ct);
            requestId = await client.CreateRequestAsync(new CreateRequestBody(type, null, [], Comment: "", Smartcard: card.Uuid), ct);
            await io.Err.WriteLineAsync($"[ 5] request {requestId:D} ({type}) created for card {card.Uuid:D}");
        }

        var request = await client.GetRequestAsync(requestId, ct);
        if (request.Status == (int)WireRequestStatus.Approved || (type == WireRequestType.Unblock && request.Status == (int)WireRequestStatus.Executing))
        {
            return requestId;
        }

        if (request.Status != (int)WireRequestStatus.Pending)
        {
            throw new CliException($"request {requestId:D} is {(WireRequestStatus)request.Status}; it cannot be executed now");
        }

        await io.Err.WriteLineAsync($"request {requestId:D} is Pending; once it is approved run: opencm card {verb} --reader {Quote(reader)} --request {requestId:D}");
        await io.Out.WriteLineAsync(requestId.ToString("D"));
        return null;
    }

    private static Command Renew(CliIo io)
    {
        var (server, token, reader) = (RequestCommands.ServerOption(), RequestCommands.TokenOption(), ReaderOption());
        var template = new Option<string?>("--template") { Description = "The card's profile template (checked against the card's)." };
        var requestOption = new Option<string?>("--request") { Description = "An approved Renew request for this card; else one is filed." };
        var pinStdin = PinStdinOption();
        var command = new Command("renew",
            $"New keys and certificates onto the card in a reader (Renew); the old certificates are superseded when it completes. The PIN from ${PinVariable} or --pin-stdin.")
            { server, token, reader, template, requestOption, pinStdin };
        command.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            var name = parse.GetValue(reader)!;
            var pin = await UserPinAsync(io, parse.GetValue(pinStdin), "renewing needs the card's PIN");
            using var client = RequestCommands.Client(parse.GetValue(server)!, parse.GetValue(token));
            using var device = OpenCard(io, name);
            if (parse.GetValue(template) is { } wanted)
            {
                var found = await CardTemplateAsync(client, wanted, ct);
                if ((await client.FindSmartcardAsync(device.CardId, ct)).ProfileTemplateUuid != found.Uuid)
                {
                    throw new CliException($"the card in the reader was not issued from '{wanted}'");
                }
            }

            if (await OnCardRequestAsync(io, client, device, WireRequestType.Renew, parse.GetValue(requestOption), "renew", name, ct) is not { } requestId)
            {
                return OpenCmCli.Ok;
            }

            try
            {
                await new CardClient(client, Steps(io)).RenewAsync(requestId, device, pin, ct);
            }
            catch (Exception e) when (e is CardException or OpenCmApiException && !ct.IsCancellationRequested)
            {
                await AdviseAsync(io, client, requestId, $"opencm card renew --reader {Quote(name)} --request {requestId:D}");
                throw;
            }

            await WriteCertificatesAsync(io, device);
            await io.Out.WriteLineAsync($"card id {device.CardId} renewed; request {requestId:D} completed");
            return OpenCmCli.Ok;
        }));
        return command;
    }

    private static Command Retire(CliIo io)
    {
        var (server, token, reader) = (RequestCommands.ServerOption(), RequestCommands.TokenOption(), ReaderOption());
        var requestOption = new Option<string?>("--request") { Description = "An approved Retire request for this card; else one is filed." };
        var command = new Command("retire",
            "Retire the card in a reader: its keys and certificates removed, its admin key set back to the policy's default, then the card reported Retired (its certificates revoked).")
            { server, token, reader, requestOption };
        command.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            var name = parse.GetValue(reader)!;
            using var client = RequestCommands.Client(parse.GetValue(server)!, parse.GetValue(token));
            using var device = OpenCard(io, name);
            if (await OnCardRequestAsync(io, client, device, WireRequestType.Retire, parse.GetValue(requestOption), "retire", name, ct) is not { } requestId)
            {
                return OpenCmCli.Ok;
            }

            try
            {
                await new CardClient(client, Steps(io)).RetireAsync(requestId, device, ct);
            }
            catch (Exception e) when (e is CardException or OpenCmApiException && !ct.IsCancellationRequested)
            {
                await AdviseAsync(io, client, requestId, $"opencm card retire --reader {Quote(name)} --request {requestId:D}");
                throw;
            }

            await io.Out.WriteLineAsync($"card id {device.CardId} is blank and Retired; request {requestId:D} completed");
            return OpenCmCli.Ok;
        }));
        return command;
    }

    private static Command OfflineUnblock(CliIo io)
    {
        var reader = ReaderOption();
        var pinStdin = new Option<bool>("--pin-stdin") { Description = $"Read the new PIN from standard input's line after the response (else ${PinVariable})." };
        var command = new Command("offline-unblock",
            "The card's half of an offline unblock, no server needed: prints the card's challenge to read to the help desk (who runs `opencm card unblock --card … --challenge …`), then reads their response (hex) from standard input and sets the new PIN.")
            { reader, pinStdin };
        command.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            using var device = OpenCard(io, parse.GetValue(reader)!);
            var challenge = CardClient.OfflineUnblockChallenge(device);
            await io.Out.WriteLineAsync($"card id: {device.CardId}");
            await io.Out.WriteLineAsync($"challenge: {Convert.ToHexString(challenge)}");
            await io.Err.WriteLineAsync("Read the card id and challenge to your help desk, then type the response they read back:");
            var line = await io.In.ReadLineAsync(ct) ?? throw new CliException("no response on standard input");
            byte[] response;
            try
            {
                response = Convert.FromHexString(string.Concat(line.Where(c => !char.IsWhiteSpace(c) && c != ':')));
            }
            catch (FormatException)
            {
                throw new CliException("the response is hex, as long as the challenge");
            }

            if (response.Length != challenge.Length)
            {
                throw new CliException($"the response is {challenge.Length * 2} hex digits, as long as the challenge");
            }

            var pin = await UserPinAsync(io, parse.GetValue(pinStdin), "the new PIN");
            CardClient.CompleteOfflineUnblock(device, challenge, response, pin);
            CryptographicOperations.ZeroMemory(response);
            await io.Out.WriteLineAsync($"card id {device.CardId}: the new PIN is set");
            return OpenCmCli.Ok;
        }));
        return command;
    }

    private static Command Simulate(CliIo io)
    {
        var (server, token) = (RequestCommands.ServerOption(), RequestCommands.TokenOption());
        var template = new Option<string>("--template") { Description = "The smart card profile template's name.", Required = true };
        var data = new Option<string[]>("--data-item") { Description = "A data collection item, NAME=VALUE; repeatable." };
        var showPin = new Option<bool>("--show-pin") { Description = $"Print the PIN the card was given (from ${PinVariable}, the server's proposal, or made up here)." };
        var command = new Command("simulate",
            $"Enroll a software-emulated Base CSP card through the 28 steps of Microsoft's walkthrough, each step printed to stderr. The PIN comes from ${PinVariable}, the server, or is made up; --show-pin prints it.")
            { server, token, template, data, showPin };
        command.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            var items = DataItems(parse.GetValue(data));
            using var client = RequestCommands.Client(parse.GetValue(server)!, parse.GetValue(token));
            void Step(int number, string what) => io.Err.WriteLine($"[{number,2}] {what}");

            // 1-2. The template by name; it must be a smart card template.
            Step(1, "Listing the profile templates you may enroll for");
            var wanted = parse.GetValue(template)!;
            var found = (await client.ProfileTemplatesAsync(ct)).FirstOrDefault(t => string.Equals(t.Name, wanted, StringComparison.OrdinalIgnoreCase))
                ?? throw CliException.Refused($"no profile template named '{wanted}' is available to you");
            if (!found.IsSmartcardProfileTemplate)
            {
                throw new CliException($"'{wanted}' is a software template; use enroll");
            }

            Step(2, $"Choosing '{found.Name}' ({found.Uuid:D})");

            // 3-4. Its Enroll policy and the data it collects.
            Step(3, "Reading the template's Enroll policy");
            var workflow = await client.WorkflowPolicyAsync(found.Uuid, WireRequestType.Enroll, ct);
            Step(4, workflow.PolicyDataCollection.Count == 0
                ? "The policy collects no data"
                : "The policy collects " + string.Join(", ", workflow.PolicyDataCollection.Select(d => $"'{d.Name}'{(items.Any(i => string.Equals(i.Name, d.Name, StringComparison.OrdinalIgnoreCase)) ? " (given)" : d.Required ? " (required, not given)" : "")}")));

            // The card is made up front with the policy's default admin key (steps 10-13, printed in their place below).
            var policy = await client.SmartcardPolicyAsync(found.Uuid, ct);
            using var device = EmulatedCard.CreateVirtual(AdminKeys.FromHex(policy.DefaultAdminKeyHex));
            var (pin, pinSource) = policy.UserPinOption == (int)UserPinOption.ServerProposed
                ? ((string?)null, "the PIN the server proposed")
                : Environment.GetEnvironmentVariable(PinVariable) is { Length: > 0 } p
                    ? (p, $"the PIN from ${PinVariable}")
                    : (Pins.Propose(Math.Max(policy.MinimumPinLength, Pins.MinLength)), "a PIN made up here");

            // 5-6. The request.
            Step(5, "Filing the Enroll request");
            var requestId = await client.CreateRequestAsync(new CreateRequestBody(WireRequestType.Enroll, found.Uuid, items, Comment: ""), ct);
            Step(6, $"request {requestId:D} created for '{found.Name}'");

            // 7-28: the card client's steps, and between them those it performs without a call of its own.
            var between = new SortedDictionary<int, string>
            {
                [8] = "The request is Approved: execution may begin",
                [9] = "No card is bound to the request yet",
                [10] = "A new card is needed: the template's cards are virtual smart cards",
                [11] = $"A virtual smart card (emulated Base CSP) is made, card id {device.CardId}",
                [13] = "The card's admin key is the policy's default admin key",
                [15] = "The server created the card's record",
                [16] = "Reading the card's record",
                [17] = policy.DiversifyAdminKey ? "The policy diversifies the card's admin key" : "The policy keeps the default admin key (no diversification)",
                [22] = "The server answered the card's challenge for the PIN",
                [23] = $"The card took {pinSource}",
            };
            if (policy.DiversifyAdminKey)
            {
                between[19] = "The server answered the card's challenge under the default admin key";
                between[20] = "The card took its diversified admin key";
            }

            var progress = new SyncProgress<CardStep>(step =>
            {
                foreach (var done in between.Where(b => b.Key < step.Number).ToList())
                {
                    Step(done.Key, done.Value);
                    between.Remove(done.Key);
                }

                Step(step.Number, step.What);
            });
            CardEnrollment enrollment;
            string cardPin;
            try
            {
                (enrollment, cardPin) = await new CardClient(client, progress).PersonalizeAsync(requestId, device, pin, ct);
            }
            catch (Exception) when (!ct.IsCancellationRequested)
            {
                // Leave nothing half-done: the request is abandoned, which frees the card and revokes what it issued.
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

            await WriteCertificatesAsync(io, device);
            await io.Out.WriteLineAsync($"card {enrollment.Card:D} (card id {device.CardId}) is Active; request {requestId:D} completed");
            if (parse.GetValue(showPin))
            {
                await io.Out.WriteLineAsync($"PIN: {cardPin}");
            }
            else
            {
                await io.Err.WriteLineAsync($"the card has {pinSource}{(pinSource.Contains(PinVariable, StringComparison.Ordinal) ? "" : "; pass --show-pin to print it")}");
            }

            return OpenCmCli.Ok;
        }));
        return command;
    }

    private static Command List(CliIo io)
    {
        var (server, token) = (RequestCommands.ServerOption(), RequestCommands.TokenOption());
        var format = Output.FormatOption(" (JSON: the cards as the wire sends them)");
        var user = new Option<string?>("--user") { Description = "Another user's cards, by name or uuid (for managers; GET /smartcards?user=).", HelpName = "NAME" };
        var command = new Command("list", "List your smart cards, or with --user (managers) another user's.") { server, token, user, format };
        command.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            var chosen = Output.Parse(parse.GetValue(format));
            var whose = parse.GetValue(user);
            if (whose is not null && string.IsNullOrWhiteSpace(whose))
            {
                throw new CliException("--user names a user (a name or a uuid)");
            }

            using var client = RequestCommands.Client(parse.GetValue(server)!, parse.GetValue(token));
            var cards = whose is null ? await client.SmartcardsAsync(ct) : await client.SmartcardsOfAsync(whose.Trim(), ct);
            await io.WriteListAsync(chosen, cards, WireJson.TypeInfo<SmartcardDto>(),
            [
                new("Uuid", c => c.Uuid.ToString("D")),
                new("Card id", c => c.SerialNumber),
                new("Status", c => StatusName(c.Status)),
                new("Template", c => c.ProfileTemplateUuid.ToString("D")),
                new("Middleware", c => c.Middleware),
            ], ct);
            return OpenCmCli.Ok;
        }));
        return command;
    }

    private static Command Show(CliIo io)
    {
        var (server, token) = (RequestCommands.ServerOption(), RequestCommands.TokenOption());
        var id = new Argument<string>("card") { Description = "The card's uuid, or its physical card id." };
        var format = Output.FormatOption(" (JSON: {Smartcard, Operations, Certificates}, each as the wire sends it)");
        var command = new Command("show", "Show a smart card, what may be done with it, and its certificates.") { server, token, id, format };
        command.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            var chosen = Output.Parse(parse.GetValue(format));
            using var client = RequestCommands.Client(parse.GetValue(server)!, parse.GetValue(token));
            var text = parse.GetValue(id)!;
            var card = Guid.TryParse(text, out var uuid) ? await FindAsync(client, uuid, text, ct) : await client.FindSmartcardAsync(text, ct);
            if (chosen == OutputFormat.Json)
            {
                // The three answers of GET /smartcards/{id}, …/operations and …/certificates in one object.
                var operations = await client.SmartcardOperationsAsync(card.Uuid, ct);
                var certificates = await client.SmartcardCertificatesAsync(card.Uuid, ct);
                await io.Out.WriteLineAsync(OutputWriter.Compose(
                    ("Smartcard", w => System.Text.Json.JsonSerializer.Serialize(w, card, WireJson.TypeInfo<SmartcardDto>())),
                    ("Operations", w => System.Text.Json.JsonSerializer.Serialize(w, operations, WireJson.TypeInfo<IReadOnlyList<string>>())),
                    ("Certificates", w => System.Text.Json.JsonSerializer.Serialize(w, [.. certificates], WireJson.TypeInfo<List<ProfileCertificateDto>>()))));
                return OpenCmCli.Ok;
            }

            await io.WriteTableAsync(null,
            [
                ["Uuid", card.Uuid.ToString("D")],
                ["Card id", card.SerialNumber],
                ["Status", StatusName(card.Status)],
                ["Assigned user", card.AssignedUserUuid.ToString("D")],
                ["Template", $"{card.ProfileTemplateUuid:D} (version {card.ProfileTemplateVersion})"],
                ["ATR", card.Atr],
                ["Operations", string.Join(", ", await client.SmartcardOperationsAsync(card.Uuid, ct))],
            ]);
            await io.Out.WriteLineAsync();
            await io.WriteTableAsync(["Template", "Serial", "Thumbprint"], [.. (await client.SmartcardCertificatesAsync(card.Uuid, ct)).Select(c => new[] { c.TemplateCommonName, c.SerialNumber, c.Thumbprint })]);
            return OpenCmCli.Ok;
        }));
        return command;
    }

    // A GUID may be the card record's uuid or a physical card id (virtual cards have GUID ids).
    private static async Task<SmartcardDto> FindAsync(OpenCmClient client, Guid uuid, string text, CancellationToken ct)
    {
        try
        {
            return await client.GetSmartcardAsync(uuid, ct);
        }
        catch (OpenCmApiException e) when (e.Kind == ErrorKind.NotFound)
        {
            return await client.FindSmartcardAsync(text, ct);
        }
    }

    private static Command Unblock(CliIo io)
    {
        var (server, token) = (RequestCommands.ServerOption(), RequestCommands.TokenOption());
        var card = new Option<string?>("--card") { Description = "Help desk: the card id the user reads out (as `opencm card offline-unblock` prints it), or the card record's uuid." };
        var challenge = new Option<string?>("--challenge") { Description = "Help desk: the challenge the user reads off the card, in hex (16 digits; 80 for a GIDS card)." };
        var reader = new Option<string?>("--reader") { Description = "On the card's computer: the reader the card is in (an online Unblock)." };
        var requestOption = new Option<string?>("--request") { Description = "With --reader: an approved Unblock request for the card; else one is filed." };
        var pinStdin = PinStdinOption();
        var command = new Command("unblock",
            "With --card and --challenge, offline unblock for a help desk: files an OfflineUnblock request for the card, answers the challenge the user reads out, and completes the request. "
            + $"With --reader, an online Unblock of the card in the reader: the server answers the card's challenge and the card takes the new PIN (${PinVariable} or --pin-stdin).")
            { server, token, card, challenge, reader, requestOption, pinStdin };
        command.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            if (parse.GetValue(reader) is { } name)
            {
                if (parse.GetValue(card) is not null || parse.GetValue(challenge) is not null)
                {
                    throw new CliException("--reader unblocks the card in the reader; --card and --challenge answer a help desk's offline unblock: give one or the other");
                }

                return await UnblockOnReaderAsync(io, parse.GetValue(server)!, parse.GetValue(token), name, parse.GetValue(requestOption), parse.GetValue(pinStdin), ct);
            }

            var cardText = parse.GetValue(card) is { } given && given.Trim().Length > 0
                ? given
                : throw new CliException("--card is the card id the user reads out, or the card's uuid (or give --reader to unblock the card in a reader)");
            byte[] bytes;
            try
            {
                bytes = Convert.FromHexString(string.Concat((parse.GetValue(challenge) ?? throw new CliException("--challenge is required with --card")).Where(c => !char.IsWhiteSpace(c) && c != ':')));
            }
            catch (FormatException)
            {
                throw new CliException("--challenge is hex: 16 hex digits (80 for a GIDS card)");
            }

            if (!ChallengeResponse.IsValidLength(bytes.Length))
            {
                throw new CliException("--challenge is the card's 8 to 40 bytes: 16 hex digits (80 for a GIDS card)");
            }

            using var client = RequestCommands.Client(parse.GetValue(server)!, parse.GetValue(token));
            var cardUuid = await CardUuidAsync(client, cardText, ct);
            var (request, response) = await client.OfflineUnblockAsync(cardUuid, bytes, ct);

            // What the user types into the card's unblock dialog; it answers this one challenge only.
            await io.Out.WriteLineAsync($"response: {Convert.ToHexString(response)}");
            await io.Out.WriteLineAsync($"request {request:D} completed");
            CryptographicOperations.ZeroMemory(response);
            return OpenCmCli.Ok;
        }));
        return command;
    }

    // The card a help desk names (issue #23.8): the record's uuid, else the physical card id the
    // user reads out (hex, read with spaces or colons and in either case; a virtual card's is a GUID).
    private static async Task<Guid> CardUuidAsync(OpenCmClient client, string text, CancellationToken ct)
    {
        var trimmed = text.Trim();
        if (Guid.TryParse(trimmed, out var uuid))
        {
            return (await FindAsync(client, uuid, trimmed, ct)).Uuid;
        }

        var spoken = string.Concat(trimmed.Where(c => !char.IsWhiteSpace(c) && c != ':'));
        var candidates = new[] { spoken, spoken.ToUpperInvariant(), spoken.ToLowerInvariant() }.Distinct(StringComparer.Ordinal).ToList();
        for (var i = 0; ; i++)
        {
            try
            {
                return (await client.FindSmartcardAsync(candidates[i], ct)).Uuid;
            }
            catch (OpenCmApiException e) when (e.Kind == ErrorKind.NotFound && i < candidates.Count - 1)
            {
                // Card ids are hex; the user may have read it in the other case.
            }
        }
    }

    // An online Unblock on the card in the reader: the server answers the card's challenge, the card takes the new PIN, the request completes.
    private static async Task<int> UnblockOnReaderAsync(CliIo io, string server, string? token, string name, string? given, bool pinStdin, CancellationToken ct)
    {
        var pin = await UserPinAsync(io, pinStdin, "the new PIN");
        using var client = RequestCommands.Client(server, token);
        using var device = OpenCard(io, name);
        if (await OnCardRequestAsync(io, client, device, WireRequestType.Unblock, given, "unblock", name, ct) is not { } requestId)
        {
            return OpenCmCli.Ok;
        }

        try
        {
            var request = await client.GetRequestAsync(requestId, ct);
            await new CardClient(client, Steps(io)).UnblockAsync(requestId, request.OldSmartcardUuid, device, pin, ct);
        }
        catch (Exception e) when (e is CardException or OpenCmApiException && !ct.IsCancellationRequested)
        {
            await AdviseAsync(io, client, requestId, $"opencm card unblock --reader {Quote(name)} --request {requestId:D}", resumes: true);
            throw;
        }

        await io.Out.WriteLineAsync($"card id {device.CardId}: the new PIN is set; request {requestId:D} completed");
        return OpenCmCli.Ok;
    }

    private static string StatusName(int status) => Enum.IsDefined((WireSmartcardStatus)status) ? ((WireSmartcardStatus)status).ToString() : status.ToString(System.Globalization.CultureInfo.InvariantCulture);

    // Progress reported on the caller's thread, in order (Progress<T> posts to the thread pool).
    private sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
