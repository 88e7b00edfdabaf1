using System.IO.Compression;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using OpenCM.Cards;
using OpenCM.Cards.Gids;
using OpenCM.Cards.Tests.Fakes;
using OpenCM.Smartcards;

namespace OpenCM.Cards.Tests;

/// <summary>
/// GidsCard end to end against a GIDS card in process (the tests' own small card, through
/// <see cref="ApduProcessorChannel"/>): personalization as the card client does it, and what it
/// leaves in the minidriver's files, byte for byte where OpenSC reads them.
/// </summary>
public sealed class GidsCardTests
{
    private static readonly byte[] DefaultKey = AdminKeys.FromHex("010203040506070801020304050607080102030405060708");
    private static readonly byte[] CardIdBytes = Convert.FromHexString("0F0E0D0C0B0A09080706050403020100");

    private static (FakeGidsCard Card, GidsCard Device) Fresh(string pin = "0000")
    {
        var fake = new FakeGidsCard((byte[])DefaultKey.Clone(), pin, CardIdBytes);
        return (fake, GidsCard.Open(new ApduProcessorChannel(fake)));
    }

    private static byte[] Answer(GidsCard card, byte[] key) => TripleDesCbc.Encrypt(key, card.GetChallenge());

    private static X509Certificate2 Issue(byte[] csr, RSA caKey, string subject = "CN=OpenCM Test CA")
    {
        var request = CertificateRequest.LoadSigningRequest(csr, HashAlgorithmName.SHA256); // checks the card's signature
        var caRequest = new CertificateRequest(subject, caKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var ca = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
        return request.Create(ca.SubjectName, X509SignatureGenerator.CreateForRSA(caKey, RSASignaturePadding.Pkcs1),
            DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30), [1, 2, 3]);
    }

    [Fact]
    public void Personalize_AsTheCardClientDoes_AdminKeyPinKeyAndCertificateOnTheCard()
    {
        var (fake, card) = Fresh();
        using var _ = card;
        Assert.Equal("0F0E0D0C0B0A09080706050403020100", card.CardId);

        // Step 20: the diversified key replaces the default one.
        var diversified = AdminKeys.Diversify(RandomNumberGenerator.GetBytes(32), card.CardId, 1);
        card.ChangeAdminKey(Answer(card, DefaultKey), diversified);
        Assert.Equal(diversified, fake.AdminKey);
        Assert.Equal(CardRefusal.AdminAuthenticationFailed, Assert.Throws<CardException>(() => card.UnblockPin(Answer(card, DefaultKey), "123456")).Refusal);

        // Steps 22-23: the PIN, set through the new admin key.
        card.UnblockPin(Answer(card, diversified), "123456");
        card.VerifyPin("123456");

        // Step 26: a key made on the card, and a request it signed.
        const string container = "opencm-0123456789abcdef0123456789abcdef";
        var csr = card.CreateCertificateRequest(container, "123456", "CN=Alice", "RSA", 2048, "SHA256");
        using var caKey = RSA.Create(2048);
        using var certificate = Issue(csr, caKey);
        Assert.Equal(certificate.PublicKey.ExportSubjectPublicKeyInfo(), card.PublicKey(container));

        card.InstallCertificate(container, certificate.RawData, "123456");
        var onCard = card.Certificates;
        Assert.Equal(certificate.RawData, Assert.Single(onCard, c => c.Key == container).Value.RawData);

        // The card's key signs, and the signature verifies under the certificate.
        var data = Encoding.UTF8.GetBytes("proof of possession");
        using var publicKey = certificate.GetRSAPublicKey()!;
        Assert.True(publicKey.VerifyData(data, card.Sign(container, "123456", data), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
    }

    [Fact]
    public void CreateCertificateRequest_FirstContainer_MinidriverFilesAsOpenScWritesThem()
    {
        var (fake, card) = Fresh("123456");
        using var _ = card;
        const string container = "opencm-0123456789abcdef0123456789abcdef";
        var csr = card.CreateCertificateRequest(container, "123456", "CN=Alice", "RSA", 2048, "SHA256");
        using var caKey = RSA.Create(2048);
        using var certificate = Issue(csr, caKey);
        card.InstallCertificate(container, certificate.RawData, "123456");

        // mscp\cmapfile: one CONTAINER_MAP_RECORD, the name as UTF-16, valid and default, a 2048-bit key exchange key.
        var cmap = fake.Object(0xA010, 0xDF23);
        Assert.Equal(86, cmap.Length);
        Assert.Equal(container, Encoding.Unicode.GetString(cmap, 0, 80).TrimEnd('\0'));
        Assert.Equal("03000000" + "0008", Convert.ToHexString(cmap[80..86]));

        // The key map: version 1, one record: state 1, algorithm 07 (RSA 2048), AT_KEYEXCHANGE, key B081, FFFF.
        Assert.Equal("01" + "01000000" + "07" + "9A" + "81B0" + "FFFF" + "0000", Convert.ToHexString(fake.Object(0xA000, 0xDF20)));

        // The master file gained mscp\kxc00 at A010/DF24, the first free certificate object.
        var masterFile = fake.Object(0xA000, 0xDF1F);
        Assert.Equal(1 + (6 * 28), masterFile.Length);
        Assert.Equal("6D73637000000000006B7863303000000000000024DF000010A00000", Convert.ToHexString(masterFile[^28..]));

        // The certificate file: 01 00, the length, zlib.
        var file = fake.Object(0xA010, 0xDF24);
        Assert.Equal([0x01, 0x00, (byte)certificate.RawData.Length, (byte)(certificate.RawData.Length >> 8)], file[..4]);
        using var zlib = new ZLibStream(new MemoryStream(file[4..]), CompressionMode.Decompress);
        using var plain = new MemoryStream();
        zlib.CopyTo(plain);
        Assert.Equal(certificate.RawData, plain.ToArray());

        // cardcf counted the changes: containers (key file) and files (cmapfile twice, master file, certificate).
        var cardcf = fake.Object(0xA010, 0xDF22);
        Assert.Equal(1, cardcf[2] | (cardcf[3] << 8));
        Assert.Equal(4, cardcf[4] | (cardcf[5] << 8));
    }

    [Fact]
    public void CreateCertificateRequest_TwoContainers_SecondInTheNextSlotNotDefault()
    {
        var (fake, card) = Fresh("123456");
        using var _ = card;
        card.CreateCertificateRequest("first", "123456", "CN=A", "RSA", 1024, "SHA256");
        card.CreateCertificateRequest("second", "123456", "CN=B", "RSA", 1024, "SHA384");
        var cmap = fake.Object(0xA010, 0xDF23);
        Assert.Equal(2 * 86, cmap.Length);
        Assert.Equal(0x01, cmap[86 + 80]);
        Assert.Equal(2, fake.KeyCount);
        Assert.NotEqual(card.PublicKey("first"), card.PublicKey("second"));
    }

    [Fact]
    public void InstallCertificate_ForAnotherKey_CertificateMismatchAndNothingWritten()
    {
        var (fake, card) = Fresh("123456");
        using var _ = card;
        card.CreateCertificateRequest("mine", "123456", "CN=A", "RSA", 1024, "SHA256");
        using var other = RSA.Create(1024);
        using var caKey = RSA.Create(2048);
        using var foreign = Issue(new CertificateRequest("CN=B", other, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1).CreateSigningRequest(), caKey);
        var before = fake.Object(0xA000, 0xDF1F);

        Assert.Equal(CardRefusal.CertificateMismatch, Assert.Throws<CardException>(() => card.InstallCertificate("mine", foreign.RawData, "123456")).Refusal);
        Assert.Equal(before, fake.Object(0xA000, 0xDF1F));
        Assert.Empty(card.Certificates);
    }

    [Theory]
    [InlineData("ECDSA_P256", 256)]
    [InlineData("RSA", 1536)]
    [InlineData("DSA", 2048)]
    public void CreateCertificateRequest_AlgorithmTheCardDoesNotMake_UnsupportedAndNoContainer(string algorithm, int size)
    {
        var (fake, card) = Fresh("123456");
        using var _ = card;
        Assert.Equal(CardRefusal.Unsupported, Assert.Throws<CardException>(() => card.CreateCertificateRequest("c", "123456", "CN=A", algorithm, size, "SHA256")).Refusal);
        Assert.Empty(fake.Object(0xA010, 0xDF23));
    }

    [Fact]
    public void VerifyPin_WrongUntilBlocked_CountsDownThenBlockedUntilAnAdminUnblock()
    {
        var (_, card) = Fresh("123456");
        using var __ = card;
        Assert.Equal(FakeGidsCard.PinLimit, card.PinTriesLeft);
        Assert.Equal(CardRefusal.WrongPin, Assert.Throws<CardException>(() => card.VerifyPin("9999")).Refusal);
        Assert.Equal(FakeGidsCard.PinLimit - 1, card.PinTriesLeft);
        Assert.Equal(CardRefusal.WrongPin, Assert.Throws<CardException>(() => card.VerifyPin("9999")).Refusal);
        Assert.Equal(CardRefusal.PinBlocked, Assert.Throws<CardException>(() => card.VerifyPin("9999")).Refusal);
        Assert.True(card.IsPinBlocked);
        Assert.Equal(CardRefusal.PinBlocked, Assert.Throws<CardException>(() => card.VerifyPin("123456")).Refusal);

        card.UnblockPin(Answer(card, DefaultKey), "654321");
        Assert.False(card.IsPinBlocked);
        card.VerifyPin("654321");
    }

    [Theory]
    [InlineData("123")]
    [InlineData("12345678901234567")]
    [InlineData("12345\n")]
    public void UnblockPin_PinTheCardDoesNotTake_PinInvalidBeforeTheChallengeIsUsed(string pin)
    {
        var (_, card) = Fresh();
        using var __ = card;
        var response = Answer(card, DefaultKey);
        Assert.Equal(CardRefusal.PinInvalid, Assert.Throws<CardException>(() => card.UnblockPin(response, pin)).Refusal);
        card.UnblockPin(response, "1234");
        card.VerifyPin("1234");
    }

    [Fact]
    public void AdminChallenge_AnotherCallInBetween_ChallengeVoid()
    {
        var (_, card) = Fresh("123456");
        using var __ = card;
        var response = Answer(card, DefaultKey);
        card.VerifyPin("123456");
        Assert.Equal(CardRefusal.AdminAuthenticationFailed, Assert.Throws<CardException>(() => card.UnblockPin(response, "654321")).Refusal);
        card.VerifyPin("123456");
    }

    [Fact]
    public void ClearContainers_AdminAuthenticated_KeysCertificatesAndCmapRecordsGone()
    {
        var (fake, card) = Fresh("123456");
        using var _ = card;
        using var caKey = RSA.Create(2048);
        foreach (var name in new[] { "one", "two" })
        {
            using var cert = Issue(card.CreateCertificateRequest(name, "123456", "CN=" + name, "RSA", 1024, "SHA256"), caKey);
            card.InstallCertificate(name, cert.RawData, "123456");
        }

        Assert.Equal(2, card.Certificates.Count);
        card.ClearContainers(Answer(card, DefaultKey));

        Assert.Empty(card.Certificates);
        Assert.Equal(0, fake.KeyCount);
        Assert.All(fake.Object(0xA010, 0xDF23), b => Assert.Equal(0, b));
        Assert.Equal(1 + (5 * 28), fake.Object(0xA000, 0xDF1F).Length);
        Assert.False(fake.Objects.ContainsKey((0xA010, 0xDF24)));
        Assert.Equal(CardRefusal.NoSuchContainer, Assert.Throws<CardException>(() => card.PublicKey("one")).Refusal);

        // The slots are reused by the next enrollment, after a PIN set through the admin key.
        card.UnblockPin(Answer(card, DefaultKey), "123456");
        card.CreateCertificateRequest("three", "123456", "CN=three", "RSA", 1024, "SHA256");
        Assert.Equal(2 * 86, fake.Object(0xA010, 0xDF23).Length);
    }

    [Fact]
    public void ClearContainers_WrongAdminKey_NothingRemoved()
    {
        var (fake, card) = Fresh("123456");
        using var _ = card;
        card.CreateCertificateRequest("kept", "123456", "CN=kept", "RSA", 1024, "SHA256");
        Assert.Equal(CardRefusal.AdminAuthenticationFailed, Assert.Throws<CardException>(() => card.ClearContainers(Answer(card, RandomNumberGenerator.GetBytes(24)))).Refusal);
        Assert.Equal(1, fake.KeyCount);
        card.VerifyPin("123456");
    }

    [Fact]
    public void CreateCertificateRequest_Rsa2048_TheKeyFileGenerationAndSignatureApdusOfOpenSc()
    {
        var fake = new FakeGidsCard((byte[])DefaultKey.Clone(), "123456", CardIdBytes);
        var channel = new PullingChannel(new ApduProcessorChannel(fake));
        using var card = GidsCard.Open(channel);
        channel.Sent.Clear();

        card.CreateCertificateRequest("c", "123456", "CN=A", "RSA", 2048, "SHA256");

        // gids_perform_create_keyfile's AT_KEYEXCHANGE template for key 81, algorithm 07 (RSA 2048), then ACTIVATE FILE.
        Assert.Contains("00E000004962478201188302B0818C058F10101000A537"
            + "B809800107830181950140" + "B809800187830181950140" + "B809800147830181950140"
            + "B609800117830181950140" + "B609800157830181950140", channel.Sent);
        Assert.Contains("00440000", channel.Sent);

        // gids_generate_key, gids_read_public_key, gids_set_security_env for a PKCS#1 v1.5 signature, PSO over a SHA-256 DigestInfo.
        Assert.Contains("0047000008AC06800107830181", channel.Sent);
        Assert.Contains("00CB3FFF0A70088401" + "81A5037F498000", channel.Sent);
        Assert.Contains("002241B606800157840181", channel.Sent);
        Assert.Single(channel.Sent, c => c.StartsWith("002A9E9A333031300D060960864801650304020105000420", StringComparison.Ordinal) && c.EndsWith("00", StringComparison.Ordinal));
    }

    public static TheoryData<int> PullPoints => [.. Enumerable.Range(1, 26)];

    [Theory]
    [MemberData(nameof(PullPoints))]
    public void CreateCertificateRequest_CardPulledMidWayThenRetried_CardRemovedThenTheRetryEnrolls(int commandsBeforePull)
    {
        var fake = new FakeGidsCard((byte[])DefaultKey.Clone(), "123456", CardIdBytes);
        var channel = new PullingChannel(new ApduProcessorChannel(fake));
        using (var card = GidsCard.Open(channel))
        {
            channel.PullAfter(commandsBeforePull);
            try
            {
                card.CreateCertificateRequest("pulled", "123456", "CN=A", "RSA", 1024, "SHA256");
            }
            catch (CardException e)
            {
                Assert.Equal(CardRefusal.CardRemoved, e.Refusal);
            }
        }

        // Put back in: the card forgot its session; the client tries again, and it enrolls.
        fake.Reset();
        using var again = GidsCard.Open(new ApduProcessorChannel(fake));
        using var caKey = RSA.Create(2048);
        using var certificate = Issue(again.CreateCertificateRequest("retried", "123456", "CN=A", "RSA", 1024, "SHA256"), caKey);
        again.InstallCertificate("retried", certificate.RawData, "123456");
        Assert.Equal(certificate.RawData, again.Certificates["retried"].RawData);
        var cmapRecords = fake.Object(0xA010, 0xDF23).Length / 86;
        Assert.Equal(cmapRecords, (fake.Object(0xA000, 0xDF20).Length - 1) / 12);
    }

    [Fact]
    public void Operations_OnTheInProcessChannel_EachInsideATransactionThatEnds()
    {
        var fake = new FakeGidsCard((byte[])DefaultKey.Clone(), "123456", CardIdBytes);
        var channel = new ApduProcessorChannel(fake);
        using var card = GidsCard.Open(channel);
        var response = Answer(card, DefaultKey);
        Assert.Equal(1, channel.TransactionDepth); // held from the challenge to the admin operation
        card.UnblockPin(response, "1234");
        Assert.Equal(0, channel.TransactionDepth);
        card.CreateCertificateRequest("c", "1234", "CN=A", "RSA", 1024, "SHA256");
        Assert.Equal(0, channel.TransactionDepth);
    }

    // A reader from which the card is pulled after a number of commands.
    private sealed class PullingChannel(IApduChannel inner) : IApduChannel
    {
        private int _left = int.MaxValue;

        public byte[] Atr => inner.Atr;

        public List<string> Sent { get; } = [];

        public void PullAfter(int commands) => _left = commands;

        public byte[] Transmit(ReadOnlySpan<byte> command)
        {
            Sent.Add(Convert.ToHexString(command));
            return _left-- > 0 ? inner.Transmit(command) : throw new CardException(CardRefusal.CardRemoved, "The card was removed.");
        }

        public IDisposable BeginTransaction() => inner.BeginTransaction();

        public void Dispose() => inner.Dispose();
    }
}
