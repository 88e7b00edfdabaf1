using System.Diagnostics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OpenCM.Cards;
using OpenCM.Cards.Emulation;
using OpenCM.Cards.Emulator;
using OpenCM.Cards.Gids;
using OpenCM.Cards.Pcsc;
using OpenCM.Cards.Tests.Fakes;
using OpenCM.Smartcards;
using OpenCM.TestKit;

namespace OpenCM.Cards.Tests;

/// <summary>
/// The GIDS driver through the real card stack (issue #22 "Tests"): the project's GIDS emulator in
/// vsmartcard's virtual reader, the real pcscd, OpenCM's PC/SC channel; then OpenSC, independently,
/// reads what the driver wrote: pkcs11-tool lists the key with its certificate and signs with it,
/// gids-tool authenticates with the admin key the driver set and not with the default one.
/// </summary>
[Collection(PcscCollection.Name)]
public sealed class GidsCardThroughPcscdTests(PcscdFixture pcscd)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);
    private static readonly byte[] DefaultKey = AdminKeys.FromHex("010203040506070801020304050607080102030405060708");

    [SkippableFact]
    public async Task Personalize_ThroughPcscd_OpenScListsSignsAndAuthenticatesWithTheNewAdminKey()
    {
        Prerequisite.SkipIfMissing(pcscd.Daemon is null, PcscDaemon.SkipReason);
        var cardId = RandomNumberGenerator.GetBytes(16);
        var applet = GidsApplet.CreateInitialized(DefaultKey, cardId);
        var link = await VpcdLink.ConnectAsync(applet, port: PcscDaemon.FirstPort);
        using var stop = new CancellationTokenSource();
        var serving = link.ServeAsync(stop.Token);
        var readers = new PcscCardReaders(GidsCard.Open);
        using var dir = new TempDirectory();
        const string container = "opencm-0123456789abcdef0123456789abcdef";
        var diversified = AdminKeys.Diversify(RandomNumberGenerator.GetBytes(32), "card", 1);
        try
        {
            X509Certificate2 certificate;
            using (var card = await EventuallyAsync(() => readers.Open(PcscDaemon.FirstReader)))
            {
                Assert.Equal(Convert.ToHexString(GidsApplet.DefaultAtr), card.Atr);
                card.ChangeAdminKey(TripleDesCbc.Encrypt(DefaultKey, card.GetChallenge()), diversified);
                card.UnblockPin(TripleDesCbc.Encrypt(diversified, card.GetChallenge()), "123456");
                using var caKey = RSA.Create(2048);
                var request = CertificateRequest.LoadSigningRequest(card.CreateCertificateRequest(container, "123456", "CN=Alice", "RSA", 2048, "SHA256"), HashAlgorithmName.SHA256);
                using var ca = new CertificateRequest("CN=OpenCM Test CA", caKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
                    .CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
                certificate = request.Create(ca.SubjectName, X509SignatureGenerator.CreateForRSA(caKey, RSASignaturePadding.Pkcs1), DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30), [9]);
                card.InstallCertificate(container, certificate.RawData, "123456");
                Assert.Equal(Convert.ToHexString(cardId), card.CardId);
            }

            using (certificate)
            {
                // OpenSC's serial number is the card id in lower-case hex, of which PKCS#11 shows the last 16 characters.
                var slots = await OpenSc.CheckAsync("pkcs11-tool", "--module", OpenSc.Pkcs11Module, "--list-token-slots");
                Assert.True(slots.Contains(Convert.ToHexString(cardId)[16..].ToLowerInvariant(), StringComparison.Ordinal), slots);

                // pkcs11-tool lists the private key (after a login: it is a private object) and the certificate, both labelled with the container's name.
                var objects = await OpenSc.CheckAsync("pkcs11-tool", "--module", OpenSc.Pkcs11Module, "--login", "--pin", "123456", "--list-objects");
                Assert.True(objects.Contains("Private Key Object", StringComparison.Ordinal), objects);
                Assert.Contains("Certificate Object", objects, StringComparison.Ordinal);
                Assert.Contains(container, objects, StringComparison.Ordinal);

                // It signs with the card's key under the PIN the driver set, and the signature verifies under the certificate.
                var data = dir.File("data");
                await File.WriteAllBytesAsync(data, "signed by OpenSC"u8.ToArray());
                await OpenSc.CheckAsync("pkcs11-tool", "--module", OpenSc.Pkcs11Module, "--login", "--pin", "123456", "--sign",
                    "--mechanism", "SHA256-RSA-PKCS", "--id", "00", "--input-file", data, "--output-file", dir.File("signature"));
                using var publicKey = certificate.GetRSAPublicKey()!;
                Assert.True(publicKey.VerifyData(await File.ReadAllBytesAsync(data), await File.ReadAllBytesAsync(dir.File("signature")), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
            }

            // gids-tool refuses the default admin key and takes the diversified one (unblocking with a new PIN).
            var refused = await OpenSc.RunAsync("gids-tool", ["--reader", "0", "--unblock", "--admin-key", Convert.ToHexString(DefaultKey), "--pin", "222222"]);
            Assert.NotEqual(0, refused.ExitCode);
            var unblocked = await OpenSc.RunAsync("gids-tool", ["--reader", "0", "--unblock", "--admin-key", Convert.ToHexString(diversified), "--pin", "222222"]);
            Assert.True(unblocked.ExitCode == 0, unblocked.All);
            using (var card = await EventuallyAsync(() => readers.Open(PcscDaemon.FirstReader)))
            {
                card.VerifyPin("222222");
            }
        }
        finally
        {
            await stop.CancelAsync();
            await link.DisposeAsync();
            try
            {
                await serving;
            }
            catch (OperationCanceledException)
            {
            }

            await UntilEmptyAsync(readers);
        }
    }

    private static async Task<T> EventuallyAsync<T>(Func<T> open)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return open();
            }
            catch (CardException e) when (e.Refusal is CardRefusal.NoCard && clock.Elapsed < Deadline)
            {
                await Task.Delay(100);
            }
        }
    }

    // pcscd sees the card pulled at its next poll: the next test must not find its ghost.
    private static async Task UntilEmptyAsync(PcscCardReaders readers)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < Deadline)
        {
            try
            {
                readers.OpenChannel(PcscDaemon.FirstReader).Dispose();
            }
            catch (CardException e) when (e.Refusal == CardRefusal.NoCard)
            {
                return;
            }
            catch (CardException)
            {
            }

            await Task.Delay(100);
        }
    }
}
