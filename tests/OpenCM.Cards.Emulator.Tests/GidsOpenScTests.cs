using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OpenCM.Cards.Emulation;
using OpenCM.TestKit;

namespace OpenCM.Cards.Emulator.Tests;

/// <summary>
/// The GIDS card emulator behind the real pcscd (vsmartcard's virtual reader), checked by
/// OpenSC, which knows GIDS independently of OpenCM (issue #22.4): opensc-tool names it, gids-tool
/// initializes it and authenticates with its admin key, pkcs11-tool makes a key on it, signs with
/// it and writes a certificate to it, and all of that survives a restart from the state file.
/// These mirror OpenSC's own CI against its Java Card GIDS applet (.github/test-gidsapplet.sh).
/// </summary>
public sealed class GidsOpenScTests : IAsyncLifetime
{
    private const string AdminKey = "0102030405060708090A0B0C0D0E0F101112131415161718";
    private const string NewAdminKey = "2122232425262728292A2B2C2D2E2F303132333435363738";
    private const string WrongAdminKey = "0102030405060708090A0B0C0D0E0F101112131415161728"; // not just another parity bit: DES ignores those;
    private PcscDaemon? _pcscd;
    private DirectoryInfo? _directory;

    public async Task InitializeAsync()
    {
        _pcscd = await PcscDaemon.AcquireAsync();
        _directory = Directory.CreateTempSubdirectory("opencm-gids-opensc-");
    }

    public async Task DisposeAsync()
    {
        _directory?.Delete(recursive: true);
        if (_pcscd is not null)
        {
            await _pcscd.ReleaseAsync();
        }
    }

    [SkippableFact]
    public async Task OpenSc_FactoryBlankCardThroughItsLife_AgreesAtEveryStep()
    {
        Prerequisite.SkipIfMissing(_pcscd is null, PcscDaemon.SkipReason);
        var state = Path.Combine(_directory!.FullName, "card.state");
        var work = _directory.FullName;

        await using (var inserted = await InsertAsync(new PersistentCard(GidsApplet.CreateBlank(), state)))
        {
            // The card is a GIDS card to OpenSC.
            var name = await Check("opensc-tool", "-r", "0", "-n");
            Assert.Contains("GIDS", name, StringComparison.Ordinal);

            // gids-tool initializes it (it prints a failure but exits 0, so its output is checked too).
            var init = await Check("gids-tool", "-r", "0", "-X", "--admin-key", AdminKey, "--pin", "123456", "--serial-number", "00112233445566778899AABBCCDDEEFF");
            Assert.DoesNotContain("failed", init, StringComparison.OrdinalIgnoreCase);

            // The admin key: a wrong one fails, the right one changes it, the old one then fails.
            var wrong = await OpenSc.RunAsync("gids-tool", ["-r", "0", "-C", "--admin-key", WrongAdminKey, "--new-admin-key", NewAdminKey]);
            Assert.True(wrong.ExitCode != 0, wrong.All);
            await Check("gids-tool", "-r", "0", "-C", "--admin-key", AdminKey, "--new-admin-key", NewAdminKey);
            var old = await OpenSc.RunAsync("gids-tool", ["-r", "0", "-C", "--admin-key", AdminKey, "--new-admin-key", AdminKey]);
            Assert.True(old.ExitCode != 0, old.All);

            // A key made on the card, listed, signing what openssl verifies.
            await Check("pkcs11-tool", "--module", OpenSc.Pkcs11Module, "--login", "--pin", "123456", "--keypairgen", "--key-type", "rsa:2048", "--id", "01", "--label", "opencm");

            // OpenSC's GIDS emulation names a key by its container's number (pkcs15-gids.c): the first is id 00, whatever id the key was asked for with.
            // Private keys are listed to a logged-in user only; the public key to anyone.
            var objects = await Check("pkcs11-tool", "--module", OpenSc.Pkcs11Module, "--login", "--pin", "123456", "-O");
            Assert.Contains("Private Key Object", objects, StringComparison.Ordinal);
            Assert.Contains("Public Key Object", await Check("pkcs11-tool", "--module", OpenSc.Pkcs11Module, "-O"), StringComparison.Ordinal);
            await Check("pkcs11-tool", "--module", OpenSc.Pkcs11Module, "--read-object", "--type", "pubkey", "--id", "00", "-o", Path.Combine(work, "pub.der"));
            await SignAndVerifyAsync(work, "123456");

            // A certificate for that key, written and listed.
            var certificate = Certificate(File.ReadAllBytes(Path.Combine(work, "pub.der")));
            File.WriteAllBytes(Path.Combine(work, "cert.der"), certificate);
            await Check("pkcs11-tool", "--module", OpenSc.Pkcs11Module, "--login", "--pin", "123456", "--write-object", Path.Combine(work, "cert.der"), "--type", "cert", "--id", "00", "--label", "opencm");
            objects = await Check("pkcs11-tool", "--module", OpenSc.Pkcs11Module, "-O");
            Assert.Contains("Certificate Object", objects, StringComparison.Ordinal);
            await Check("pkcs11-tool", "--module", OpenSc.Pkcs11Module, "--read-object", "--type", "cert", "--id", "00", "-o", Path.Combine(work, "read.der"));
            Assert.Equal(certificate, File.ReadAllBytes(Path.Combine(work, "read.der")));

            // A wrong PIN until the card blocks it; then the right one is refused too; the admin key unblocks.
            for (var i = 0; i < 3; i++)
            {
                var bad = await OpenSc.RunAsync("pkcs11-tool", ["--module", OpenSc.Pkcs11Module, "--login", "--pin", "000000", "-O"]);
                Assert.True(bad.ExitCode != 0, bad.All);
            }

            var locked = await OpenSc.RunAsync("pkcs11-tool", ["--module", OpenSc.Pkcs11Module, "--login", "--pin", "123456", "-O"]);
            Assert.True(locked.ExitCode != 0, locked.All);
            Assert.Contains("LOCKED", locked.All, StringComparison.Ordinal);
            var unblock = await Check("gids-tool", "-r", "0", "-U", "--admin-key", NewAdminKey, "--pin", "654321");
            Assert.Contains("Unblock PIN done successfully", unblock, StringComparison.Ordinal);
            await SignAndVerifyAsync(work, "654321");
        }

        await EmptyAsync();

        // Restarted from its state file: OpenSC still finds the key and the certificate, and the key still signs.
        await using (var again = await InsertAsync(new PersistentCard(GidsApplet.FromState(GidsStateFile.Load(state)), state)))
        {
            var objects = await Check("pkcs11-tool", "--module", OpenSc.Pkcs11Module, "--login", "--pin", "654321", "-O");
            Assert.Contains("Private Key Object", objects, StringComparison.Ordinal);
            Assert.Contains("Certificate Object", objects, StringComparison.Ordinal);
            await SignAndVerifyAsync(work, "654321");
        }
    }

    [SkippableFact]
    public async Task OpenSc_SiteBlankCard_AlreadyInitializedAndUnblockedWithTheSiteKey()
    {
        Prerequisite.SkipIfMissing(_pcscd is null, PcscDaemon.SkipReason);
        var card = GidsApplet.CreateInitialized(Convert.FromHexString(AdminKey), RandomNumberGenerator.GetBytes(16));
        await using var inserted = await InsertAsync(new PersistentCard(card, null));

        // Initialized already: gids-tool refuses to initialize it again.
        var init = await OpenSc.RunAsync("gids-tool", ["-r", "0", "-X", "--admin-key", AdminKey, "--pin", "123456", "--serial-number", "00112233445566778899AABBCCDDEEFF"]);
        Assert.Contains("failed", init.All, StringComparison.OrdinalIgnoreCase);

        // No PIN yet: the site's admin key sets one (as personalization does), and it logs in.
        var unblock = await Check("gids-tool", "-r", "0", "-U", "--admin-key", AdminKey, "--pin", "24681357");
        Assert.Contains("Unblock PIN done successfully", unblock, StringComparison.Ordinal);
        await Check("pkcs11-tool", "--module", OpenSc.Pkcs11Module, "--login", "--pin", "24681357", "--keypairgen", "--key-type", "rsa:2048", "--id", "02", "--label", "site");
        var objects = await Check("pkcs11-tool", "--module", OpenSc.Pkcs11Module, "--login", "--pin", "24681357", "-O");
        Assert.Contains("Private Key Object", objects, StringComparison.Ordinal);
        Assert.Contains("site", objects, StringComparison.Ordinal);

        // Retiring a key: OpenSC deletes its key file (SELECT B081, DELETE FILE) and empties its container.
        await Check("pkcs11-tool", "--module", OpenSc.Pkcs11Module, "--login", "--pin", "24681357", "--delete-object", "--type", "privkey", "--id", "00");
        objects = await Check("pkcs11-tool", "--module", OpenSc.Pkcs11Module, "--login", "--pin", "24681357", "-O");
        // (OpenSC 0.23 still lists the emptied container map record as a nameless, sizeless key: its pkcs15-gids.c lists every record.)
        Assert.DoesNotContain("site", objects, StringComparison.Ordinal);
        Assert.DoesNotContain("RSA 2048", objects, StringComparison.Ordinal);
        Assert.False(card.ExportState().Files.Exists(f => f.PrivateKey is not null), "the key file is gone from the card");
    }

    private static async Task SignAndVerifyAsync(string work, string pin)
    {
        var data = Path.Combine(work, "data.txt");
        var signature = Path.Combine(work, "data.sig");
        await File.WriteAllTextAsync(data, "signed by the emulated GIDS card");
        await Check("pkcs11-tool", "--module", OpenSc.Pkcs11Module, "--login", "--pin", pin, "--sign", "-m", "SHA256-RSA-PKCS", "--id", "00", "-i", data, "-o", signature);
        var verified = await OpenSsl.CheckAsync(work, "dgst", "-sha256", "-keyform", "DER", "-verify", Path.Combine(work, "pub.der"), "-signature", signature, data);
        Assert.Contains("Verified OK", verified, StringComparison.Ordinal);
    }

    // A certificate for the card's public key, issued by a throwaway CA (what the CA issues is not this test's subject).
    private static byte[] Certificate(byte[] subjectPublicKeyInfo)
    {
        using var subject = RSA.Create();
        subject.ImportSubjectPublicKeyInfo(subjectPublicKeyInfo, out _);
        using var issuer = RSA.Create(2048);
        var request = new CertificateRequest("CN=GIDS emulator test", subject, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var notBefore = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        using var certificate = request.Create(new X500DistinguishedName("CN=Test CA"), X509SignatureGenerator.CreateForRSA(issuer, RSASignaturePadding.Pkcs1), notBefore, notBefore.AddYears(10), [1, 2, 3, 4]);
        return certificate.RawData;
    }

    private static async Task<Inserted> InsertAsync(IApduProcessor card)
    {
        var link = await VpcdLink.ConnectAsync(card, port: PcscDaemon.FirstPort);
        var stop = new CancellationTokenSource();
        var serving = link.ServeAsync(stop.Token);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while ((await OpenSc.RunAsync("opensc-tool", ["-r", "0", "-a"])).ExitCode != 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200);
        }

        return new Inserted(link, stop, serving);
    }

    private static async Task EmptyAsync()
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while ((await OpenSc.RunAsync("opensc-tool", ["-r", "0", "-a"])).ExitCode == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200);
        }
    }

    private static Task<string> Check(string tool, params string[] args) => OpenSc.CheckAsync(tool, args);

    private sealed class Inserted(VpcdLink link, CancellationTokenSource stop, Task serving) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await stop.CancelAsync();
            await serving;
            await link.DisposeAsync();
            stop.Dispose();
        }
    }
}
