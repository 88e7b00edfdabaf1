using System.CommandLine;
using System.Globalization;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using OpenCM.Cards.Emulation;
using OpenCM.Cards.Emulator;

namespace OpenCM.Cli;

/// <summary>
/// <c>opencm card emulate</c> (issue #22.4): a software GIDS card put into vsmartcard's virtual
/// reader, so that pcscd, OpenSC and <c>opencm card …</c> see a card in "Virtual PCD 00 00". It
/// connects to vpcd, serves until stopped (Ctrl-C, SIGTERM), and reconnects when pcscd restarts.
/// With <c>--state FILE</c> the card (keys, PIN, admin key, files) is saved after every change,
/// encrypted under <c>FILE.key</c>, and a later run goes on with the same card. A new card is a
/// factory-blank GIDS card (to be initialized, e.g. by <c>gids-tool -X</c>), or with
/// <c>--admin-key</c> a site's blank card: initialized with that admin key (the profile policy's
/// default) and no PIN yet (docs/operations.md). A test and trial card, not a security device.
/// </summary>
internal static class CardEmulateCommand
{
    public static Command Create(CliIo io)
    {
        var vpcd = new Option<string>("--vpcd") { Description = "Where vsmartcard's vpcd listens for a card (HOST:PORT; 35963 is \"Virtual PCD 00 00\", 35964 \"… 00 01\").", DefaultValueFactory = _ => $"127.0.0.1:{VpcdLink.DefaultPort}" };
        var state = new Option<string?>("--state") { Description = "The card's state file: loaded when it exists, made when it does not, saved after every change (its key beside it in FILE.key)." };
        var fresh = new Option<bool>("--new") { Description = "Start a new card (refused when the state file exists)." };
        var adminKey = new Option<string?>("--admin-key") { Description = "A new card as a site's blank card: initialized with this admin key (48 hex digits, the profile policy's default admin key) and no PIN yet. Without it a new card is factory blank." };
        var cardId = new Option<string?>("--card-id") { Description = "A new site's blank card's id (32 hex digits); random when not given." };
        var command = new Command("emulate", "Emulate a GIDS smart card in vsmartcard's virtual reader (pcscd with vsmartcard-vpcd) for tests and trials.")
            { vpcd, state, fresh, adminKey, cardId };
        command.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            var (host, port) = Endpoint(parse.GetValue(vpcd)!);
            var path = parse.GetValue(state);
            var (card, origin) = Open(path, parse.GetValue(fresh), parse.GetValue(adminKey), parse.GetValue(cardId));
            var persistent = new PersistentCard(card, path);
            if (path is not null && !persistent.TrySave())
            {
                throw new CliException($"cannot write the state file {path}");
            }

            await io.Out.WriteLineAsync($"GIDS card emulator: {origin}; ATR {Convert.ToHexString(card.Atr)}.");
            if (path is null)
            {
                await io.Out.WriteLineAsync("No --state file: the card lives only as long as this process.");
            }

            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
            {
                context.Cancel = true;
                stop.Cancel();
            });
            await ServeAsync(io, persistent, host, port, stop.Token);

            if (!persistent.TrySave())
            {
                throw new CliException($"cannot write the state file {path}");
            }

            await io.Out.WriteLineAsync(path is null ? "Stopped." : $"Stopped; the card is saved in {path}.");
            return OpenCmCli.Ok;
        }));
        return command;
    }

    private static async Task ServeAsync(CliIo io, PersistentCard card, string host, int port, CancellationToken ct)
    {
        var waiting = false;
        while (!ct.IsCancellationRequested)
        {
            VpcdLink link;
            try
            {
                link = await VpcdLink.ConnectAsync(card, host, port, ct);
            }
            catch (SocketException)
            {
                if (!waiting)
                {
                    await io.Out.WriteLineAsync($"Waiting for vpcd at {host}:{port} (pcscd with vsmartcard-vpcd)…");
                    waiting = true;
                }

                if (!await DelayAsync(ct))
                {
                    return;
                }

                continue;
            }
            catch (OperationCanceledException)
            {
                return;
            }

            waiting = false;
            await using (link)
            {
                await io.Out.WriteLineAsync($"In the reader at {host}:{port}. Ctrl-C stops.");
                await link.ServeAsync(ct);
            }

            // Pulled (pcscd stopped) or stopping: the card loses its session as a pulled card does.
            card.Reset();
            if (!ct.IsCancellationRequested)
            {
                await io.Out.WriteLineAsync("The reader went away (pcscd stopped?); reconnecting.");
                if (!await DelayAsync(ct))
                {
                    return;
                }
            }
        }
    }

    private static async Task<bool> DelayAsync(CancellationToken ct)
    {
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(1), ct);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private static (GidsApplet Card, string Origin) Open(string? path, bool fresh, string? adminKeyHex, string? cardIdHex)
    {
        if (path is not null && File.Exists(path))
        {
            if (fresh)
            {
                throw new CliException($"{path} exists: remove it and {GidsStateFile.KeyPath(path)} to start a new card, or leave out --new to go on with it");
            }

            if (adminKeyHex is not null || cardIdHex is not null)
            {
                throw new CliException("--admin-key and --card-id make a new card; the card in the state file keeps its own");
            }

            try
            {
                return (GidsApplet.FromState(GidsStateFile.Load(path)), $"the card saved in {path}");
            }
            catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
            {
                throw new CliException($"cannot read the card in {path}: {e.Message}");
            }
        }

        if (adminKeyHex is null)
        {
            return cardIdHex is null
                ? (GidsApplet.CreateBlank(), "a new factory-blank card (initialize it with gids-tool -X or OpenCM's client)")
                : throw new CliException("--card-id is for a site's blank card: give --admin-key too (a factory-blank card gets its id when it is initialized)");
        }

        var key = Hex(adminKeyHex, 24, "--admin-key");
        var id = cardIdHex is null ? RandomNumberGenerator.GetBytes(16) : Hex(cardIdHex, 16, "--card-id");
        try
        {
            return (GidsApplet.CreateInitialized(key, id), $"a new site's blank card {Convert.ToHexString(id)} with the given admin key and no PIN yet");
        }
        catch (ArgumentException)
        {
            throw new CliException("--admin-key: a third of this key is a weak DES key (all zeros, for one); the emulator cannot use it");
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    private static byte[] Hex(string hex, int length, string option)
    {
        try
        {
            var bytes = Convert.FromHexString(hex);
            return bytes.Length == length ? bytes : throw new CliException($"{option} is {length * 2} hex digits");
        }
        catch (FormatException)
        {
            throw new CliException($"{option} is {length * 2} hex digits");
        }
    }

    private static (string Host, int Port) Endpoint(string value)
    {
        var colon = value.LastIndexOf(':');
        return colon > 0 && int.TryParse(value.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is > 0 and <= 65535
            ? (value[..colon], port)
            : throw new CliException($"--vpcd '{value}' is not HOST:PORT");
    }
}
