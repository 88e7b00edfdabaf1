using System.Security.Cryptography.X509Certificates;
using OpenCM.Cards;
using OpenCM.Smartcards;
using OpenCM.TestKit;

namespace OpenCM.Cli.Tests;

/// <summary>
/// <c>opencm card readers|enroll|unblock|offline-unblock|renew|retire</c> on a reader (issue #22),
/// against the real server on Kestrel, with the computer's readers replaced by a hand-written fake
/// holding emulated cards (handed to the CLI in process, as no production option could).
/// </summary>
public sealed class CardReaderCommandTests : IDisposable
{
    private const string Reader = "Virtual PCD 00 00";
    private const string Template = "Virtual Smartcard VPN";
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Data => _dir.File("data");

    private async Task<string> TokenAsync(string user)
    {
        if (user != "admin")
        {
            await Cli.RunAsync("users", "add", "--data", Data, "--name", user);
        }

        return (await Cli.RunAsync("token", "--data", Data, "--user", user)).Out.Trim();
    }

    private static async Task<(int Exit, string Out, string Err)> RunAsync(FakeReaders readers, string stdin, params string[] args)
    {
        using var input = new StringReader(stdin);
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exit = await OpenCmCli.RunAsync(args, input, output, error, readers);
        return (exit, output.ToString(), error.ToString());
    }

    private static Guid RequestIn(string output) =>
        Guid.Parse(output.Split('\n').First(l => l.StartsWith("[ 5] request ", StringComparison.Ordinal)).Split(' ')[3]);

    [Fact]
    public async Task CardOnAReader_EnrollRenewUnblockOfflineUnblockRetire_EachStepNumberedAndThePinNeverPrinted()
    {
        await using var server = await KestrelServer.StartAsync(Data);
        var token = await TokenAsync("gina");
        using var card = EmulatedCard.CreateVirtual(AdminKeys.FromHex("010203040506070801020304050607080102030405060708"));
        var readers = new FakeReaders { [Reader] = () => new Borrowed(card) };
        string[] at = ["--server", server.Address, "--token", token, "--reader", Reader];

        var list = await RunAsync(readers, "", "card", "readers");
        Assert.Equal((0, Reader + "\n"), (list.Exit, list.Out.ReplaceLineEndings("\n")));

        // Enroll: the walkthrough's steps, one line each on stderr (the results on stdout); the PIN from standard input, never printed.
        var enroll = await RunAsync(readers, "482615\n", ["card", "enroll", .. at, "--template", Template, "--data-item", "Request Reason=VPN", "--pin-stdin"]);
        Assert.True(enroll.Exit == 0, enroll.Err);
        foreach (var step in new[] { "[ 5] request", "[ 7]", "[12]", "[14] Assigning card", "[18]", "[21]", "[24]", "[25]", "[26]", "[27]", "[28] Completing" })
        {
            Assert.Contains(step, enroll.Err, StringComparison.Ordinal);
            Assert.DoesNotContain(step, enroll.Out, StringComparison.Ordinal);
        }

        Assert.Contains("is Active", enroll.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("482615", enroll.Out + enroll.Err, StringComparison.Ordinal);
        card.VerifyPin("482615");
        var first = Assert.Single(card.Certificates.Values).Thumbprint;

        // Renew onto the same card: a second certificate beside the first.
        var renew = await RunAsync(readers, "482615\n", ["card", "renew", .. at, "--template", Template, "--pin-stdin"]);
        Assert.True(renew.Exit == 0, renew.Err);
        Assert.Contains("[28] Completing", renew.Err, StringComparison.Ordinal);
        Assert.Equal(2, card.Certificates.Count);
        Assert.Contains(card.Certificates.Values, c => c.Thumbprint == first);

        // Online unblock of a blocked PIN.
        Block(card);
        var unblock = await RunAsync(readers, "731902\n", ["card", "unblock", .. at, "--pin-stdin"]);
        Assert.True(unblock.Exit == 0, unblock.Err);
        card.VerifyPin("731902");

        // Offline unblock: the user reads the challenge to the help desk and types back its response.
        Block(card);
        var cardUuid = (await Cli.RunAsync("card", "show", card.CardId, "--server", server.Address, "--token", token)).Out
            .Split('\n').First(l => l.StartsWith("Uuid", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
        var admin = await TokenAsync("admin");
        var user = new Conversation();
        var offline = Task.Run(async () =>
        {
            using var error = new StringWriter();
            var exit = await OpenCmCli.RunAsync(["card", "offline-unblock", "--reader", Reader, "--pin-stdin"], user, user.Output, error, readers);
            return (exit, error.ToString());
        });
        var challenge = (await user.ChallengeAsync()).Split(": ")[1].Trim();
        var desk = await Cli.RunAsync("card", "unblock", "--server", server.Address, "--token", admin, "--card", cardUuid, "--challenge", challenge);
        Assert.True(desk.Exit == 0, desk.Err);
        user.Say(desk.Out.Split('\n').Single(l => l.StartsWith("response: ", StringComparison.Ordinal))["response: ".Length..].Trim());
        user.Say("550134");
        var (offlineExit, offlineErr) = await offline.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(offlineExit == 0, offlineErr);
        card.VerifyPin("550134");

        // Retire: the card is blank, its admin key the default again, the record Retired.
        var retire = await RunAsync(readers, "", ["card", "retire", .. at]);
        Assert.True(retire.Exit == 0, retire.Err);
        Assert.Contains("Retired", retire.Out, StringComparison.Ordinal);
        Assert.Empty(card.Certificates);
        card.ClearContainers(ChallengeResponse.Respond(AdminKeys.FromHex("010203040506070801020304050607080102030405060708"), card.GetChallenge()));
        var show = await Cli.RunAsync("card", "show", cardUuid, "--server", server.Address, "--token", token);
        Assert.Contains("Retired", show.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Enroll_CardPulledMidway_OneLineErrorExit1AndHowToRetryOrAbandon()
    {
        await using var server = await KestrelServer.StartAsync(Data);
        var token = await TokenAsync("hank");
        using var card = EmulatedCard.CreateVirtual(AdminKeys.FromHex("010203040506070801020304050607080102030405060708"));

        // Pulled at the fourth operation (the PIN), after the card was bound and given its admin key.
        var readers = new FakeReaders { [Reader] = () => new Borrowed(card, pullAt: 4) };
        var (exit, output, err) = await RunAsync(readers, "482615\n", "card", "enroll", "--server", server.Address, "--token", token, "--reader", Reader, "--template", Template, "--pin-stdin");

        Assert.Equal(OpenCmCli.Usage, exit);
        var request = RequestIn(err);
        Assert.Contains("error: the card was removed", err, StringComparison.Ordinal);
        Assert.Contains($"opencm requests abandon {request:D}", err, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", err, StringComparison.Ordinal);
        Assert.DoesNotContain("[28]", err + output, StringComparison.Ordinal);
        Assert.Contains("Executing", (await Cli.RunAsync("requests", "show", request.ToString(), "--server", server.Address, "--token", token)).Out, StringComparison.Ordinal);
    }

    // Every way to the card failing ends in one line naming it, exit code 2 (a local failure, issue #23.2), no stack trace; no server is needed to say so.
    [Theory]
    [InlineData(CardRefusal.NoReader, "error: no smart card reader")]
    [InlineData(CardRefusal.NoCard, "error: no card in the reader")]
    [InlineData(CardRefusal.CardRemoved, "error: the card was removed")]
    [InlineData(CardRefusal.WrongCard, "error: this is not the card")]
    [InlineData(CardRefusal.Malformed, "error: the card answered something that is not a valid answer")]
    [InlineData(CardRefusal.Unsupported, "error: the card does not support this")]
    [InlineData(CardRefusal.Refused, "error: the card refused the operation")]
    public async Task CardCommands_ReaderOrCardRefuses_OneLineErrorExit2(CardRefusal refusal, string expected)
    {
        var readers = new FakeReaders { [Reader] = () => throw new CardException(refusal) };
        foreach (var args in new[]
        {
            new[] { "card", "retire", "--reader", Reader, "--server", "http://127.0.0.1:9", "--token", "t" },
            ["card", "offline-unblock", "--reader", Reader],
        })
        {
            var (exit, output, err) = await RunAsync(readers, "", args);
            Assert.Equal((OpenCmCli.Usage, ""), (exit, output));
            Assert.StartsWith(expected, err, StringComparison.Ordinal);
            Assert.Single(err.Trim().Split('\n'));
        }
    }

    [Fact]
    public async Task Readers_NoneAttached_Exit2AndSaysSo()
    {
        var (exit, _, err) = await RunAsync(new FakeReaders(), "", "card", "readers");
        Assert.Equal(OpenCmCli.Usage, exit);
        Assert.StartsWith("error: no smart card reader", err, StringComparison.Ordinal);
    }

    private static void Block(EmulatedCard card)
    {
        while (!card.IsPinBlocked)
        {
            Assert.Throws<CardException>(() => card.VerifyPin("000000"));
        }
    }

    // The readers of this computer, as the test sets them up: a name and what opening it gives.
    private sealed class FakeReaders : Dictionary<string, Func<ICardDevice>>, ICardReaders
    {
        public IReadOnlyList<string> List() => [.. Keys];

        public ICardDevice Open(string reader) =>
            TryGetValue(reader, out var open) ? open() : throw new CardException(CardRefusal.NoReader, $"no reader named '{reader}'");
    }

    // The test's card, lent to one command: the command's Dispose does not wipe it; optionally pulled at the Nth card operation.
    private sealed class Borrowed(EmulatedCard card, int pullAt = 0) : ICardDevice
    {
        private int _count;

        public string CardId => card.CardId;

        public string Atr => card.Atr;

        public int PinTriesLeft => card.PinTriesLeft;

        public bool IsPinBlocked => card.IsPinBlocked;

        public IReadOnlyDictionary<string, X509Certificate2> Certificates => card.Certificates;

        public byte[] GetChallenge() => Step(card.GetChallenge);

        public void ChangeAdminKey(ReadOnlySpan<byte> response, ReadOnlySpan<byte> newKey)
        {
            var (r, k) = (response.ToArray(), newKey.ToArray());
            Step(() => card.ChangeAdminKey(r, k));
        }

        public void UnblockPin(ReadOnlySpan<byte> response, string newPin)
        {
            var r = response.ToArray();
            Step(() => card.UnblockPin(r, newPin));
        }

        public void VerifyPin(string pin) => Step(() => card.VerifyPin(pin));

        public byte[] CreateCertificateRequest(string container, string pin, string subject, string keyAlgorithm, int keySize, string hashAlgorithm) =>
            Step(() => card.CreateCertificateRequest(container, pin, subject, keyAlgorithm, keySize, hashAlgorithm));

        public void ImportPfx(string container, byte[] pfx, string password, string pin) => Step(() => card.ImportPfx(container, pfx, password, pin));

        public void InstallCertificate(string container, byte[] certificate, string pin) => Step(() => card.InstallCertificate(container, certificate, pin));

        public byte[] PublicKey(string container) => Step(() => card.PublicKey(container));

        public byte[] Sign(string container, string pin, byte[] data) => Step(() => card.Sign(container, pin, data));

        public void ClearContainers(ReadOnlySpan<byte> response)
        {
            var r = response.ToArray();
            Step(() => card.ClearContainers(r));
        }

        public void Dispose()
        {
        }

        private void Step(Action act) => Step(() =>
        {
            act();
            return 0;
        });

        private T Step<T>(Func<T> act) =>
            ++_count == pullAt ? throw new CardException(CardRefusal.CardRemoved) : act();
    }
}
