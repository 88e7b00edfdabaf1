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
/// <c>opencm card …</c> (issue #8.10): <c>simulate</c> plays the client side of Microsoft's
/// enrollment walkthrough with a software-emulated Base CSP card; <c>list</c>, <c>show</c> and
/// <c>unblock</c> serve a help desk.
/// </summary>
internal static class CardCommands
{
    private const string PinVariable = "OPENCM_CARD_PIN";

    public static Command Card(CliIo io)
    {
        var card = new Command("card", "Smart cards: simulate an enrollment, list and show cards, answer an offline unblock.");
        card.Subcommands.Add(Simulate(io));
        card.Subcommands.Add(List(io));
        card.Subcommands.Add(Show(io));
        card.Subcommands.Add(Unblock(io));
        card.Subcommands.Add(CardEmulateCommand.Create(io));
        return card;
    }

    private static Command Simulate(CliIo io)
    {
        var (server, token) = (RequestCommands.ServerOption(), RequestCommands.TokenOption());
        var template = new Option<string>("--template") { Description = "The smart card profile template's name.", Required = true };
        var data = new Option<string[]>("--data-item") { Description = "A data collection item, NAME=VALUE; repeatable." };
        var command = new Command("simulate",
            $"Enroll a software-emulated Base CSP card through the 28 steps of Microsoft's walkthrough. The PIN comes from ${PinVariable}, the server, or is made up.")
            { server, token, template, data };
        command.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            var items = (parse.GetValue(data) ?? []).Select(d => d.Split('=', 2)).Select(p => p.Length == 2
                ? new DataItemDto(p[0], p[1])
                : throw new CliException($"--data-item '{p[0]}' is not NAME=VALUE")).ToList();
            using var client = RequestCommands.Client(parse.GetValue(server)!, parse.GetValue(token));

            // 1-2. The template by name; it must be a smart card template.
            var wanted = parse.GetValue(template)!;
            var found = (await client.ProfileTemplatesAsync(ct)).FirstOrDefault(t => string.Equals(t.Name, wanted, StringComparison.OrdinalIgnoreCase))
                ?? throw new CliException($"no profile template named '{wanted}' is available to you");
            if (!found.IsSmartcardProfileTemplate)
            {
                throw new CliException($"'{wanted}' is a software template; use enroll");
            }

            // 10-13. A blank card made with the policy's default admin key.
            var policy = await client.SmartcardPolicyAsync(found.Uuid, ct);
            using var device = EmulatedCard.CreateVirtual(AdminKeys.FromHex(policy.DefaultAdminKeyHex));
            var pin = Environment.GetEnvironmentVariable(PinVariable) is { Length: > 0 } p ? p : Pins.Propose(Math.Max(policy.MinimumPinLength, Pins.MinLength));

            // 5-6. The request; then the walkthrough from step 7, one line per step.
            var requestId = await client.CreateRequestAsync(new CreateRequestBody(WireRequestType.Enroll, found.Uuid, items, Comment: ""), ct);
            await io.Out.WriteLineAsync($"[ 5] request {requestId:D} created for '{found.Name}'");
            CardEnrollment enrollment;
            try
            {
                var progress = new SyncProgress<CardStep>(step => io.Out.WriteLine($"[{step.Number,2}] {step.What}"));
                (enrollment, _) = await new CardClient(client, progress).PersonalizeAsync(requestId, device, pin, ct);
            }
            catch (Exception) when (!ct.IsCancellationRequested)
            {
                // Leave nothing half-done: the request is abandoned, which frees the card and revokes what it issued.
                try
                {
                    await client.SetStatusAsync(requestId, WireRequestStatus.Abandoned, CancellationToken.None);
                    await io.Err.WriteLineAsync($"request {requestId:D} abandoned");
                }
                catch (OpenCmApiException)
                {
                    // Abandoning is best effort; the original failure is what the user needs to see.
                }

                throw;
            }

            var table = new Table().AddColumns("Container", "Subject", "Thumbprint", "Not after");
            foreach (var (container, cert) in device.Certificates)
            {
                table.AddRow(Markup.Escape(container), Markup.Escape(cert.Subject), cert.Thumbprint, cert.NotAfter.ToUniversalTime().ToString("u", System.Globalization.CultureInfo.InvariantCulture));
            }

            io.Console.Write(table);
            await io.Out.WriteLineAsync($"card {enrollment.Card:D} (card id {device.CardId}) is Active; request {requestId:D} completed");
            return OpenCmCli.Ok;
        }));
        return command;
    }

    private static Command List(CliIo io)
    {
        var (server, token) = (RequestCommands.ServerOption(), RequestCommands.TokenOption());
        var command = new Command("list", "List your smart cards.") { server, token };
        command.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            using var client = RequestCommands.Client(parse.GetValue(server)!, parse.GetValue(token));
            var table = new Table().AddColumns("Uuid", "Card id", "Status", "Template", "Middleware");
            foreach (var c in await client.SmartcardsAsync(ct))
            {
                table.AddRow(c.Uuid.ToString("D"), Markup.Escape(c.SerialNumber), StatusName(c.Status), c.ProfileTemplateUuid.ToString("D"), Markup.Escape(c.Middleware));
            }

            io.Console.Write(table);
            return OpenCmCli.Ok;
        }));
        return command;
    }

    private static Command Show(CliIo io)
    {
        var (server, token) = (RequestCommands.ServerOption(), RequestCommands.TokenOption());
        var id = new Argument<string>("card") { Description = "The card's uuid, or its physical card id." };
        var command = new Command("show", "Show a smart card, what may be done with it, and its certificates.") { server, token, id };
        command.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            using var client = RequestCommands.Client(parse.GetValue(server)!, parse.GetValue(token));
            var text = parse.GetValue(id)!;
            var card = Guid.TryParse(text, out var uuid) ? await FindAsync(client, uuid, text, ct) : await client.FindSmartcardAsync(text, ct);
            var grid = new Grid().AddColumns(2);
            grid.AddRow("Uuid", card.Uuid.ToString("D"));
            grid.AddRow("Card id", Markup.Escape(card.SerialNumber));
            grid.AddRow("Status", StatusName(card.Status));
            grid.AddRow("Assigned user", card.AssignedUserUuid.ToString("D"));
            grid.AddRow("Template", $"{card.ProfileTemplateUuid:D} (version {card.ProfileTemplateVersion})");
            grid.AddRow("ATR", Markup.Escape(card.Atr));
            grid.AddRow("Operations", Markup.Escape(string.Join(", ", await client.SmartcardOperationsAsync(card.Uuid, ct))));
            io.Console.Write(grid);
            var certificates = new Table().AddColumns("Template", "Serial", "Thumbprint");
            foreach (var c in await client.SmartcardCertificatesAsync(card.Uuid, ct))
            {
                certificates.AddRow(Markup.Escape(c.TemplateCommonName), c.SerialNumber, c.Thumbprint);
            }

            io.Console.Write(certificates);
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
        var card = new Option<string>("--card") { Description = "The card's uuid.", Required = true };
        var challenge = new Option<string>("--challenge") { Description = "The 8-byte challenge the user reads off the card, in hex (16 digits).", Required = true };
        var command = new Command("unblock",
            "Offline unblock for a help desk: files an OfflineUnblock request for the card, answers the challenge the user reads out, and completes the request.")
            { server, token, card, challenge };
        command.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            var cardUuid = Guid.TryParse(parse.GetValue(card), out var u) ? u : throw new CliException("--card is the card's uuid");
            byte[] bytes;
            try
            {
                bytes = Convert.FromHexString(string.Concat(parse.GetValue(challenge)!.Where(c => !char.IsWhiteSpace(c) && c != ':')));
            }
            catch (FormatException)
            {
                throw new CliException("--challenge is hex: 16 digits");
            }

            if (bytes.Length != ChallengeResponse.ChallengeLength)
            {
                throw new CliException("--challenge is the card's 8 bytes: 16 hex digits");
            }

            using var client = RequestCommands.Client(parse.GetValue(server)!, parse.GetValue(token));
            var (request, response) = await client.OfflineUnblockAsync(cardUuid, bytes, ct);

            // What the user types into the card's unblock dialog; it answers this one challenge only.
            await io.Out.WriteLineAsync($"response: {Convert.ToHexString(response)}");
            await io.Out.WriteLineAsync($"request {request:D} completed");
            CryptographicOperations.ZeroMemory(response);
            return OpenCmCli.Ok;
        }));
        return command;
    }

    private static string StatusName(int status) => Enum.IsDefined((WireSmartcardStatus)status) ? ((WireSmartcardStatus)status).ToString() : status.ToString(System.Globalization.CultureInfo.InvariantCulture);

    // Progress reported on the caller's thread, in order (Progress<T> posts to the thread pool).
    private sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
