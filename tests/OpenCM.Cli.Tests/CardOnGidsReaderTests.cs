using System.Text.RegularExpressions;
using OpenCM.TestKit;

namespace OpenCM.Cli.Tests;

/// <summary>
/// Issue #22's "done means", end to end on the real card stack: the project's GIDS card
/// (<c>opencm card emulate</c>) in vsmartcard's virtual reader behind the real pcscd, personalized
/// by <c>opencm card enroll|unblock|offline-unblock|renew|retire</c> against OpenCM on Kestrel
/// through PC/SC; after each step OpenSC, independently, reads the card: pkcs11-tool lists each
/// key with its certificate (issued by OpenCM's CA, checked with openssl) and signs what openssl
/// verifies; gids-tool no longer authenticates with the policy's default admin key until Retire
/// puts it back.
/// </summary>
[Collection(PcscdCollection.Name)]
public sealed partial class CardOnGidsReaderTests : IAsyncLifetime, IDisposable
{
    private const string Reader = "Virtual PCD 00 00";
    private const string Template = "Virtual Smartcard VPN";
    private const string DefaultAdminKey = "010203040506070801020304050607080102030405060708"; // samples/templates/virtual-smartcard-vpn.yaml
    private readonly TempDirectory _dir = new();
    private PcscDaemon? _pcscd;

    public async Task InitializeAsync() => _pcscd = await PcscDaemon.AcquireAsync();

    public void Dispose() => _dir.Dispose();

    public async Task DisposeAsync()
    {
        if (_pcscd is not null)
        {
            await _pcscd.ReleaseAsync();
        }
    }

    private string Data => _dir.File("data");

    [SkippableFact]
    public async Task GidsCardInPcscd_EnrollUnblockOfflineUnblockRenewRetire_OpenScAgreesAtEachStep()
    {
        Prerequisite.SkipIfMissing(_pcscd is null, PcscDaemon.SkipReason);
        await using var server = await KestrelServer.StartAsync(Data);
        await Cli.RunAsync("users", "add", "--data", Data, "--name", "hana");
        var token = (await Cli.RunAsync("token", "--data", Data, "--user", "hana")).Out.Trim();
        var admin = (await Cli.RunAsync("token", "--data", Data, "--user", "admin")).Out.Trim();
        string[] at = ["--server", server.Address, "--token", token, "--reader", Reader];
        using (var http = new HttpClient())
        {
            var der = await http.GetByteArrayAsync(server.Address + "/CertificateManagement/ca/OpenCM-Root-CA.crt");
            await File.WriteAllTextAsync(_dir.File("ca.pem"), System.Security.Cryptography.PemEncoding.WriteString("CERTIFICATE", der));
        }

        // 1. A site's blank GIDS card (the policy's default admin key, no PIN yet) in the first reader.
        await using var card = await EmulatorAsync(["card", "emulate", "--vpcd", $"127.0.0.1:{PcscDaemon.FirstPort}", "--new", "--admin-key", DefaultAdminKey]);
        Assert.Contains("GIDS", (await OpenSc.UntilItSucceedsAsync("opensc-tool", "-r", "0", "-n")).Output, StringComparison.Ordinal);

        // 2. opencm card enroll: the walkthrough's steps; the PIN from standard input, never printed.
        var enroll = await Cli.RunWithInputAsync("482615\n", ["card", "enroll", .. at, "--template", Template, "--data-item", "Request Reason=VPN", "--pin-stdin"]);
        Assert.True(enroll.Exit == 0, enroll.Out + enroll.Err + card.Output);
        foreach (var step in new[] { "[14] Assigning card", "[18]", "[21]", "[25]", "[26]", "[27]", "[28] Completing" })
        {
            Assert.Contains(step, enroll.Err, StringComparison.Ordinal);
        }

        Assert.Contains("is Active", enroll.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("482615", enroll.Out + enroll.Err + card.Output, StringComparison.Ordinal);

        // 3. OpenSC: one private key and its certificate, issued by OpenCM's CA; the key signs what the certificate verifies.
        var first = await CertificatesAsync("482615");
        var id = Assert.Single(first);
        await SignAndVerifyAsync("482615", id);

        // 4. The card's admin key is its own now: the policy's default key no longer authenticates.
        var defaultKey = await OpenSc.RunAsync("gids-tool", ["-r", "0", "-U", "--admin-key", DefaultAdminKey, "--pin", "99999999"]);
        Assert.NotEqual(0, defaultKey.ExitCode);

        // 5. Wrong PINs until blocked; opencm card unblock (online) sets a new one.
        await BlockAsync();
        var unblock = await Cli.RunWithInputAsync("731902\n", ["card", "unblock", .. at, "--pin-stdin"]);
        Assert.True(unblock.Exit == 0, unblock.Out + unblock.Err);
        Assert.Single(await CertificatesAsync("731902"));

        // 6. Blocked again; offline: the user reads the card's challenge to the help desk and types back its answer.
        await BlockAsync();
        var cardUuid = CardUuid().Match(enroll.Out).Groups[1].Value;
        var user = new Conversation();
        using var error = new StringWriter();
        var offline = OpenCmCli.RunAsync(["card", "offline-unblock", "--reader", Reader, "--pin-stdin"], user, user.Output, error);
        var challenge = (await user.ChallengeAsync()).Split(": ")[1].Trim();
        Assert.Equal(80, challenge.Length); // GIDS: R2 || R1 || Z1, decision 0013
        var desk = await Cli.RunAsync("card", "unblock", "--server", server.Address, "--token", admin, "--card", cardUuid, "--challenge", challenge);
        Assert.True(desk.Exit == 0, desk.Err);
        user.Say(desk.Out.Split('\n').Single(l => l.StartsWith("response: ", StringComparison.Ordinal))["response: ".Length..].Trim());
        user.Say("550134");
        Assert.True(await offline.WaitAsync(TimeSpan.FromMinutes(2)) == 0, error.ToString());
        Assert.Single(await CertificatesAsync("550134"));

        // 7. opencm card renew: a second key and certificate on the same card, beside the first.
        var renew = await Cli.RunWithInputAsync("550134\n", ["card", "renew", .. at, "--template", Template, "--pin-stdin"]);
        Assert.True(renew.Exit == 0, renew.Out + renew.Err);
        var renewed = await CertificatesAsync("550134");
        Assert.Equal(2, renewed.Count);
        Assert.Contains(id, renewed);
        await SignAndVerifyAsync("550134", renewed.Single(i => i != id));

        // 8. opencm card retire: no key or certificate is left, and the policy's default admin key authenticates again.
        var retire = await Cli.RunAsync(["card", "retire", .. at]);
        Assert.True(retire.Exit == 0, retire.Out + retire.Err);
        Assert.Contains("Retired", retire.Out, StringComparison.Ordinal);
        var objects = await OpenSc.RunAsync("pkcs11-tool", ["--module", OpenSc.Pkcs11Module, "-O"]);
        Assert.DoesNotContain("Certificate Object", objects.Output, StringComparison.Ordinal);
        var back = await OpenSc.RunAsync("gids-tool", ["-r", "0", "-U", "--admin-key", DefaultAdminKey, "--pin", "24681357"]);
        Assert.True(back.ExitCode == 0, back.All);
    }

    // The certificates OpenSC lists after logging in with the PIN, by object id; each is OpenCM's, verified by openssl, with a private key beside it.
    private async Task<List<string>> CertificatesAsync(string pin)
    {
        var listed = await OpenSc.RunAsync("pkcs11-tool", ["--module", OpenSc.Pkcs11Module, "--login", "--pin", pin, "-O"]);
        Assert.True(listed.ExitCode == 0, listed.All);
        var ids = new List<string>();
        foreach (var block in listed.Output.Split("Certificate Object", StringSplitOptions.RemoveEmptyEntries).Skip(1))
        {
            var id = ObjectId().Match(block).Groups[1].Value;
            Assert.False(string.IsNullOrEmpty(id), listed.Output);
            var der = _dir.File($"cert-{id}.der");
            await OpenSc.CheckAsync("pkcs11-tool", "--module", OpenSc.Pkcs11Module, "--read-object", "--type", "cert", "--id", id, "-o", der);
            var pem = _dir.File($"cert-{id}.pem");
            await OpenSsl.CheckAsync(_dir.Path, "x509", "-inform", "DER", "-in", der, "-out", pem);
            Assert.Contains(": OK", await OpenSsl.CheckAsync(_dir.Path, ["verify", .. OpenSsl.At(DateTimeOffset.UtcNow), "-CAfile", "ca.pem", pem]), StringComparison.Ordinal);
            ids.Add(id);
        }

        Assert.Equal(ids.Count, Regex.Count(listed.Output, "Private Key Object"));
        return ids;
    }

    private async Task SignAndVerifyAsync(string pin, string id)
    {
        await File.WriteAllTextAsync(_dir.File("data.txt"), "signed on the card");
        await OpenSc.CheckAsync("pkcs11-tool", "--module", OpenSc.Pkcs11Module, "--login", "--pin", pin, "--sign", "--mechanism", "SHA256-RSA-PKCS",
            "--id", id, "-i", _dir.File("data.txt"), "-o", _dir.File("data.sig"));
        await OpenSsl.CheckAsync(_dir.Path, "x509", "-in", $"cert-{id}.pem", "-pubkey", "-noout", "-out", "pub.pem");
        Assert.Contains("Verified OK", await OpenSsl.CheckAsync(_dir.Path, "dgst", "-sha256", "-verify", "pub.pem", "-signature", "data.sig", "data.txt"), StringComparison.Ordinal);
    }

    // Wrong PINs through OpenSC until the card blocks the PIN (GIDS: three tries).
    private static async Task BlockAsync()
    {
        for (var i = 0; i < 5; i++)
        {
            var attempt = await OpenSc.RunAsync("pkcs11-tool", ["--module", OpenSc.Pkcs11Module, "--login", "--pin", "00000000", "-O"]);
            Assert.NotEqual(0, attempt.ExitCode);
            if (attempt.All.Contains("CKR_PIN_LOCKED", StringComparison.Ordinal))
            {
                return;
            }
        }

        Assert.Fail("the card never blocked its PIN");
    }

    // opencm card emulate, in process, until it is in the reader; disposing stops it as Ctrl-C does.
    private static async Task<Emulator> EmulatorAsync(string[] args)
    {
        var emulator = new Emulator(args);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!emulator.Output.Contains("In the reader", StringComparison.Ordinal))
        {
            Assert.False(emulator.Run.IsCompleted, $"the emulator stopped: {emulator.Output}");
            Assert.True(DateTime.UtcNow < deadline, $"the emulator never reached the reader: {emulator.Output}");
            await Task.Delay(100);
        }

        return emulator;
    }

    [GeneratedRegex(@"card ([0-9a-f-]{36}) \(card id")]
    private static partial Regex CardUuid();

    [GeneratedRegex(@"ID:\s+([0-9a-f]+)")]
    private static partial Regex ObjectId();

    private sealed class Emulator : IAsyncDisposable
    {
        private readonly StringWriter _text = new();
        private readonly TextWriter _writer;
        private readonly CancellationTokenSource _stop = new();

        public Emulator(string[] args)
        {
            _writer = TextWriter.Synchronized(_text);
            Run = OpenCmCli.RunAsync(args, _writer, _writer, _stop.Token);
        }

        public Task<int> Run { get; }

        public string Output
        {
            get
            {
                lock (_writer)
                {
                    return _text.ToString();
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await Run;
            _stop.Dispose();
        }
    }
}

/// <summary>The Cli tests that put cards into vsmartcard's readers: one at a time, as there is one pcscd and one first reader.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class PcscdCollection
{
    public const string Name = "pcscd";
}
