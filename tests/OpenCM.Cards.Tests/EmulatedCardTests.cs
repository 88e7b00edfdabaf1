using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OpenCM.Cards;
using OpenCM.Smartcards;
using OpenCM.TestKit;

namespace OpenCM.Cards.Tests;

/// <summary>The emulated Base CSP card (issue #8.10) keeps its secrets as a card does.</summary>
public sealed class EmulatedCardTests : IDisposable
{
    private static readonly byte[] DefaultKey = AdminKeys.FromHex("010203040506070801020304050607080102030405060708");
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static byte[] Answer(EmulatedCard card, byte[] key) => ChallengeResponse.Respond(key, card.GetChallenge());

    // A card with a PIN set through the admin key, as a client personalizes it.
    private static EmulatedCard Personalized(string pin = "123456")
    {
        var card = EmulatedCard.CreateVirtual(DefaultKey);
        card.UnblockPin(Answer(card, DefaultKey), pin);
        return card;
    }

    [Fact]
    public void ChangeAdminKey_ResponseUnderTheCurrentKey_NewKeyTakesOverOldOneNoLonger()
    {
        using var card = EmulatedCard.CreateVirtual(DefaultKey);
        var diversified = AdminKeys.Diversify(RandomNumberGenerator.GetBytes(32), card.CardId, 1);
        card.ChangeAdminKey(Answer(card, DefaultKey), diversified);

        Assert.Equal(CardRefusal.AdminAuthenticationFailed, Assert.Throws<CardException>(() => card.UnblockPin(Answer(card, DefaultKey), "123456")).Refusal);
        card.UnblockPin(Answer(card, diversified), "123456");
        Assert.True(card.HasPin);
    }

    [Fact]
    public void AdminResponse_WrongReplayedOrUnasked_RefusedAndTheChallengeUsedUp()
    {
        using var card = EmulatedCard.CreateVirtual(DefaultKey);

        // Never asked for a challenge.
        Assert.Throws<CardException>(() => card.UnblockPin(new byte[8], "123456"));

        // A wrong answer uses the challenge up: the right answer to it is refused afterwards.
        var challenge = card.GetChallenge();
        Assert.Throws<CardException>(() => card.UnblockPin(new byte[8], "123456"));
        Assert.Throws<CardException>(() => card.UnblockPin(ChallengeResponse.Respond(DefaultKey, challenge), "123456"));

        // A right answer works once; replaying it is refused.
        var response = Answer(card, DefaultKey);
        card.UnblockPin(response, "123456");
        Assert.Throws<CardException>(() => card.UnblockPin(response, "654321"));
        card.VerifyPin("123456");
    }

    [Fact]
    public void VerifyPin_WrongFiveTimes_BlockedUntilAnAdminUnblock()
    {
        using var card = Personalized();
        for (var i = 1; i < EmulatedCard.PinTries; i++)
        {
            Assert.Equal(CardRefusal.WrongPin, Assert.Throws<CardException>(() => card.VerifyPin("000000")).Refusal);
            Assert.Equal(EmulatedCard.PinTries - i, card.PinTriesLeft);
        }

        Assert.Equal(CardRefusal.PinBlocked, Assert.Throws<CardException>(() => card.VerifyPin("000000")).Refusal);
        Assert.Equal(CardRefusal.PinBlocked, Assert.Throws<CardException>(() => card.VerifyPin("123456")).Refusal);

        card.UnblockPin(Answer(card, DefaultKey), "778899");
        Assert.False(card.IsPinBlocked);
        card.VerifyPin("778899");
    }

    [Theory]
    [InlineData("")]
    [InlineData("123")]
    [InlineData("12\n34")]
    public void UnblockPin_PinTheCardDoesNotTake_RefusedAndTheChallengeKept(string pin)
    {
        using var card = EmulatedCard.CreateVirtual(DefaultKey);
        var response = Answer(card, DefaultKey);
        Assert.Equal(CardRefusal.PinInvalid, Assert.Throws<CardException>(() => card.UnblockPin(response, pin)).Refusal);
        card.UnblockPin(response, "123456");
    }

    [Fact]
    public async Task CertificateRequest_MadeOnTheCard_OpensslVerifiesItAndOnlyTheMatchingCertificateInstalls()
    {
        using var card = Personalized();
        Assert.Equal(CardRefusal.WrongPin, Assert.Throws<CardException>(() => card.CreateCertificateRequest("vpn", "999999", "CN=x", "RSA", 2048, "SHA256")).Refusal);
        var csr = card.CreateCertificateRequest("vpn", "123456", "CN=Alice,O=OpenCM", "RSA", 2048, "SHA256");

        // An independent check of what the card signed.
        await File.WriteAllBytesAsync(_dir.File("csr.der"), csr);
        await OpenSsl.CheckAsync(_dir.Path, "req", "-inform", "DER", "-in", "csr.der", "-verify", "-noout");

        // A certificate for the card's key installs; one for another key does not.
        var parsed = CertificateRequest.LoadSigningRequest(csr, HashAlgorithmName.SHA256, CertificateRequestLoadOptions.UnsafeLoadCertificateExtensions);
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var issuer = new X500DistinguishedName("CN=Test CA");
        using var good = parsed.Create(issuer, X509SignatureGenerator.CreateForECDsa(caKey), DateTimeOffset.UtcNow, DateTimeOffset.UtcNow.AddDays(1), [1]);
        using var otherKey = RSA.Create(2048);
        using var bad = new CertificateRequest("CN=Mallory", otherKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
            .Create(issuer, X509SignatureGenerator.CreateForECDsa(caKey), DateTimeOffset.UtcNow, DateTimeOffset.UtcNow.AddDays(1), [2]);
        Assert.Equal(CardRefusal.CertificateMismatch, Assert.Throws<CardException>(() => card.InstallCertificate("vpn", bad.RawData, "123456")).Refusal);
        card.InstallCertificate("vpn", good.RawData, "123456");

        // The key stays on the card; its signatures verify under the certificate.
        var data = "proof"u8.ToArray();
        Assert.True(good.GetRSAPublicKey()!.VerifyData(data, card.Sign("vpn", "123456", data), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
        Assert.Equal(good.Thumbprint, Assert.Single(card.Certificates).Value.Thumbprint);
    }
}
