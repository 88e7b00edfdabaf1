using System.Security.Cryptography;
using static OpenCM.Cards.Emulator.Tests.Apdus;

namespace OpenCM.Cards.Emulator.Tests;

/// <summary>The GIDS card emulator in process: the commands OpenSC's GIDS driver sends, the access rules, and hostile APDUs.</summary>
public sealed class GidsAppletTests
{
    [Fact]
    public void Select_GidsAid_AnswersTheFciWithTheVersion2Aid()
    {
        var card = GidsApplet.CreateBlank();
        var (fci, sw) = Send(card, "00A4040009A0000003974254465900");
        Assert.Equal(0x9000, sw);
        Assert.Equal("61124F0BA00000039742544659020173034001C0", Convert.ToHexString(fci));
    }

    [Fact]
    public void Select_OtherAid_FileNotFound()
    {
        var card = GidsApplet.CreateBlank();
        Assert.Equal(0x6A82, Send(card, "00A4040005A000000308").Sw);
        Assert.Equal(0x6D00, Send(card, "00CBA000045C02DF1F00").Sw);
    }

    [Fact]
    public void BlankCard_MasterFile_NotFound()
    {
        // gids_check_that_card_is_new: a card whose master file cannot be read is a new card.
        var card = GidsApplet.CreateBlank();
        Select(card);
        Assert.Equal(0x6A82, Send(card, "00CBA000045C02DF1F00").Sw);
    }

    [Theory]
    [InlineData("", 0x6700)]
    [InlineData("00", 0x6700)]
    [InlineData("00A404", 0x6700)]
    [InlineData("00A40400FF00", 0x6700)]
    [InlineData("00A4040005A0", 0x6700)]
    [InlineData("00A4040000000501", 0x6700)]
    [InlineData("80CA9F7F00", 0x6E00)]
    [InlineData("0CA4040000", 0x6882)]
    [InlineData("00FF000000", 0x6D00)]
    [InlineData("00A4080000", 0x6A86)]
    [InlineData("00CB3FFF0A70", 0x6700)]
    [InlineData("00CB3FFF025C00", 0x6984)]
    [InlineData("00CB3FFF045C027F7200", 0x6A88)]
    [InlineData("00CBA000035C02DF", 0x6A80)]
    [InlineData("00CB1234045C02DF1F", 0x6A82)]
    [InlineData("00DB3FFF03700184", 0x6A80)]
    [InlineData("00DB3FFF0570038401FF", 0x6A80)]
    [InlineData("00DBA0000ADF1F8301", 0x6700)]
    [InlineData("00DBA00004DF1F8301", 0x6A80)]
    [InlineData("00DBA00004DF1F0201", 0x6A80)]
    [InlineData("00E000000462028201", 0x6A80)]
    [InlineData("00E00000086205820139830100", 0x6A80)]
    [InlineData("00E000000A6208820107830201010000", 0x6A80)]
    [InlineData("00E0000009620782010783020101", 0x6982)]
    [InlineData("00E4000003010203", 0x6700)]
    [InlineData("00E4000002B099", 0x6A82)]
    [InlineData("00470000087C06800107830181", 0x6A80)]
    [InlineData("0047000008AC06800107830181", 0x6A88)]
    [InlineData("002A9E9A040102030400", 0x6985)]
    [InlineData("002A1111020102", 0x6A86)]
    [InlineData("0022C1A403830181", 0x6A88)]
    [InlineData("0022C1A4028301", 0x6A80)]
    [InlineData("0022414103800107", 0x6A86)]
    [InlineData("00870000047C028100", 0x6985)]
    [InlineData("00C0000000", 0x6985)]
    [InlineData("00200080FF01", 0x6700)]
    [InlineData("00200180", 0x6A86)]
    [InlineData("00200081", 0x6A88)]
    [InlineData("002C0180", 0x6A86)]
    [InlineData("00240280", 0x6A86)]
    [InlineData("0024018003313233", 0x6A80)]
    public void Process_MalformedOrWrongCommand_AnswersItsStatusWord(string hex, int expected)
    {
        var card = SiteBlank();
        var (_, sw) = Send(card, Convert.FromHexString(hex));
        Assert.Equal(expected, sw);

        // …and the card still works.
        Assert.Equal(0x9000, Send(card, "00CBA010045C02DF2100").Sw);
    }

    [Fact]
    public void Process_RandomBytes_NeverThrowsAndAlwaysAnswersAStatusWord()
    {
        var card = SiteBlank();
        var random = new Random(22);
        for (var i = 0; i < 5000; i++)
        {
            var length = random.Next(0, 300);
            var command = new byte[length];
            random.NextBytes(command);
            if (length > 1 && i % 2 == 0)
            {
                command[0] = 0x00; // mostly the interindustry class, so the instructions are reached
                command[1] = (byte)(i % 7 switch { 0 => 0xCB, 1 => 0xDB, 2 => 0xE0, 3 => 0x87, 4 => 0x22, 5 => 0x2A, _ => 0x47 });
            }

            var answer = card.Process(command);
            Assert.True(answer.Length >= 2);
        }

        card.Reset();
        Select(card);
        Assert.Equal(0x9000, Send(card, "00CBA010045C02DF2100").Sw);
    }

    [Fact]
    public void InitializeAsOpenScDoes_ThenActivate_AccessRulesHold()
    {
        // gids_initialize: the first PIN (CHANGE REFERENCE DATA P1 01), the files, the admin key, then SELECT 3FFF + ACTIVATE.
        var card = GidsApplet.CreateBlank();
        Select(card);
        Ok(card, "0024018006313233343536");
        Ok(card, "00E000000E620C8201398302A0108C03033000");
        Ok(card, "00440000");
        Ok(card, "00E000000E620C8201398302A0128C03032000");
        Ok(card, "00440000");
        Ok(card, "00E000000E620C8201398302A0118C030330FF");
        Ok(card, "00440000");
        Ok(card, "00E000001C621A8201188302B0808C04870020FFA50BA4098001028301809501C0");
        Ok(card, "00440000");
        Assert.Equal(0x9000, Send(card, Command(0xDB, 0x3F, 0xFF, [0x70, 0x24, 0x84, 0x01, 0x80, 0xA5, 0x1F, 0x87, 0x18, .. SiteKey, 0x88, 0x03, 0xB0, 0x73, 0xDC])).Sw);
        Ok(card, "00DBA01006DF2103010203");
        Ok(card, "00DBA01106DF2403AABBCC");
        Ok(card, "00DBA01206DF2003CAFE01");
        Ok(card, "00A4000C023FFF");
        Ok(card, "00440000");

        // Operational now: everyone reads A010 and A012; A011 is never readable; writing wants the PIN (A010) or the admin key (A012).
        Assert.Equal(0x9000, Send(card, "00CBA010045C02DF2100").Sw);
        Assert.Equal(0x6982, Send(card, "00CBA011045C02DF2400").Sw);
        Assert.Equal(0x6982, Send(card, "00DBA01006DF2103010203").Sw);
        Assert.Equal(0x9000, VerifyPin(card, "123456"));
        Ok(card, "00DBA01006DF2103040506");
        Assert.Equal(0x6982, Send(card, "00DBA01206DF2003CAFE02").Sw);
        Assert.Equal(0x6982, Send(card, "00CBA011045C02DF2400").Sw);
        Assert.Equal(0x9000, AuthenticateAdmin(card, SiteKey));
        Ok(card, "00DBA01206DF2003CAFE02");

        // The PIN status: 3 tries of 3.
        var (status, _) = Send(card, "00CB3FFF045C027F7100");
        Assert.Equal("7F7106970103930103", Convert.ToHexString(status));
    }

    [Fact]
    public void SiteBlank_PinBlockedUntilTheAdminSetsIt()
    {
        var card = SiteBlank();
        Assert.Equal(0x6983, VerifyPin(card, "1234"));
        var (status, _) = Send(card, "00CB3FFF045C027F7100");
        Assert.Equal(0x00, status[5]);

        // Without the admin key, no unblock.
        Assert.Equal(0x6982, Send(card, Command(0x2C, 0x02, 0x80, "1234"u8)).Sw);
        SetPinWithAdmin(card, "1234");
        Assert.Equal(0x9000, VerifyPin(card, "1234"));
    }

    [Fact]
    public void AdminAuthentication_WrongKey_SecurityStatusNotSatisfiedAndNothingAllowed()
    {
        var card = SiteBlank();
        var wrong = SiteKey.ToArray();
        wrong[23] ^= 0x02;
        Assert.Equal(0x6982, AuthenticateAdmin(card, wrong));
        Assert.Equal(0x6982, Send(card, Command(0x2C, 0x02, 0x80, "1234"u8)).Sw);

        // A second answer to the same challenge is not taken either (the challenge is spent).
        Assert.Equal(0x6985, Send(card, Command(0x87, 0, 0, [0x7C, 0x2A, 0x82, 0x28, .. new byte[40]], le: true)).Sw);
    }

    [Fact]
    public void ChangeAdminKey_AfterAuthentication_NewKeyAuthenticatesOldDoesNot()
    {
        var card = SiteBlank();
        var fresh = Convert.FromHexString("2122232425262728292A2B2C2D2E2F303132333435363738");
        Assert.Equal(0x6982, Send(card, Command(0xDB, 0x3F, 0xFF, [0x70, 0x1F, 0x84, 0x01, 0x80, 0xA5, 0x1A, 0x87, 0x18, .. fresh])).Sw);
        Assert.Equal(0x9000, AuthenticateAdmin(card, SiteKey));
        Assert.Equal(0x9000, Send(card, Command(0xDB, 0x3F, 0xFF, [0x70, 0x1F, 0x84, 0x01, 0x80, 0xA5, 0x1A, 0x87, 0x18, .. fresh])).Sw);
        Ok(card, "00200082");
        Assert.Equal(0x6982, AuthenticateAdmin(card, SiteKey));
        Assert.Equal(0x9000, AuthenticateAdmin(card, fresh));
    }

    [Fact]
    public void WrongPin_ThreeTimes_BlockedThenUnblockedByTheAdmin()
    {
        var card = SiteBlank();
        SetPinWithAdmin(card, "123456");
        Assert.Equal(0x63C2, VerifyPin(card, "000000"));
        Assert.Equal(0x63C1, VerifyPin(card, "000000"));
        Assert.Equal(0x63C0, VerifyPin(card, "000000"));
        Assert.Equal(0x6983, VerifyPin(card, "123456"));
        SetPinWithAdmin(card, "654321");
        Assert.Equal(0x9000, VerifyPin(card, "654321"));

        // Unblocking forgot the admin authentication.
        Assert.Equal(0x6982, Send(card, Command(0x2C, 0x02, 0x80, "11112222"u8)).Sw);
    }

    [Fact]
    public void ChangePin_OldThenNew_NewPinVerifies()
    {
        var card = SiteBlank();
        SetPinWithAdmin(card, "1234");
        Assert.Equal(0x63C2, Send(card, Command(0x24, 0x00, 0x80, "9999abcdef"u8)).Sw);
        Assert.Equal(0x9000, Send(card, Command(0x24, 0x00, 0x80, "1234abcdef"u8)).Sw);
        Assert.Equal(0x9000, VerifyPin(card, "abcdef"));
    }

    [Fact]
    public void GenerateRsa2048_SignWithPin_VerifiesUnderThePublicKey()
    {
        var card = SiteBlank();
        SetPinWithAdmin(card, "1234");
        Assert.Equal(0x6982, Send(card, Command(0xE0, 0, 0, [0x62, 0x09, 0x82, 0x01, 0x18, 0x83, 0x02, 0xB0, 0x81, 0x8C, 0x00])).Sw);
        Assert.Equal(0x9000, VerifyPin(card, "1234"));
        CreateKeyFile(card, 0x81);
        Generate(card, 0x81);
        var (template, sw) = ReadPublicKey(card, 0x81);
        Assert.Equal(0x9000, sw);
        using var rsa = PublicRsa(template);
        Assert.Equal(2048, rsa.KeySize);

        var message = "to be signed"u8.ToArray();
        var (signature, signed) = Sign(card, 0x81, Sha256DigestInfo(message));
        Assert.Equal(0x9000, signed);
        Assert.True(rsa.VerifyData(message, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));

        // Deciphering: MSE 41 B8 with RSAES-PKCS1-v1_5, then PSO 80 86 (chained: 256 bytes).
        var secret = "a session key"u8.ToArray();
        var cipher = rsa.Encrypt(secret, RSAEncryptionPadding.Pkcs1);
        Ok(card, "002241B806800147840181");
        Assert.Equal(0x9000, Send(card, [0x10, 0x2A, 0x80, 0x86, 0xFF, .. cipher[..255]]).Sw);
        var (plain, deciphered) = Send(card, [0x00, 0x2A, 0x80, 0x86, 0x01, cipher[255], 0x00]);
        Assert.Equal(0x9000, deciphered);
        Assert.Equal(secret, plain);
    }

    [Fact]
    public void GenerateP256_SignVerifies()
    {
        var card = SiteBlank();
        SetPinWithAdmin(card, "1234");
        Assert.Equal(0x9000, VerifyPin(card, "1234"));
        CreateKeyFile(card, 0x82, 0x0C);
        Generate(card, 0x82, 0x0C);
        var (template, _) = ReadPublicKey(card, 0x82);
        Assert.Equal("7F4943864104", Convert.ToHexString(template[..6]));
        using var ec = ECDsa.Create(new ECParameters { Curve = ECCurve.NamedCurves.nistP256, Q = new ECPoint { X = template[6..38], Y = template[38..70] } });
        var hash = SHA256.HashData("ec"u8);
        Ok(card, "002241B60680015C840182");
        var (signature, sw) = Send(card, Command(0x2A, 0x9E, 0x9A, hash, le: true));
        Assert.Equal(0x9000, sw);
        Assert.True(ec.VerifyHash(hash, signature));
    }

    [Fact]
    public void PrivateKeyUse_WithoutPinOrAfterReset_SecurityStatusNotSatisfied()
    {
        var card = SiteBlank();
        SetPinWithAdmin(card, "1234");
        Assert.Equal(0x9000, VerifyPin(card, "1234"));
        CreateKeyFile(card, 0x81);
        Generate(card, 0x81);
        card.Reset();
        Select(card);
        Assert.Equal(0x6982, Sign(card, 0x81, Sha256DigestInfo([1])).Sw);

        // A reselect forgets the PIN as a reset does.
        Assert.Equal(0x9000, VerifyPin(card, "1234"));
        Select(card);
        Assert.Equal(0x6982, Sign(card, 0x81, Sha256DigestInfo([1])).Sw);

        // The public key is anyone's to read.
        Assert.Equal(0x9000, ReadPublicKey(card, 0x81).Sw);
    }

    [Fact]
    public void ImportRsaKey_AsOpenScSendsIt_SignsWithIt()
    {
        var card = SiteBlank();
        SetPinWithAdmin(card, "1234");
        Assert.Equal(0x9000, VerifyPin(card, "1234"));
        CreateKeyFile(card, 0x83);
        using var key = RSA.Create(2048);
        var p = key.ExportParameters(true);

        // OpenSC (card-gids.c) writes each part as BN_bn2bin's bytes under an INTEGER tag: no
        // leading zeros, no sign byte. ExportParameters pads D, DP, DQ and InverseQ to fixed
        // lengths, so the zeros it adds are stripped here as BN_bn2bin never writes them.
        static byte[] Magnitude(byte[]? part)
        {
            var span = part.AsSpan();
            while (span.Length > 1 && span[0] == 0)
            {
                span = span[1..];
            }

            return Enc(0x02, span.ToArray());
        }

        byte[] sequence = Enc(0x30, [.. Enc(0x02, [0]), .. new[] { p.Modulus, p.Exponent, p.D, p.P, p.Q, p.DP, p.DQ, p.InverseQ }.SelectMany(Magnitude)]);
        byte[] template = [0x83, 0x01, 0x02, 0x84, 0x01, 0x00, .. Enc(0x87, sequence)];
        byte[] body = [0x84, 0x01, 0x83, .. Enc(0xA5, template)];
        PutChained(card, 0x3F, 0xFF, Enc(0x70, body));

        var (signature, sw) = Sign(card, 0x83, Sha256DigestInfo("imported"u8.ToArray()));
        Assert.Equal(0x9000, sw);
        Assert.True(key.VerifyData("imported"u8.ToArray(), signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
    }

    [Fact]
    public void LargeDataObject_WrittenChainedReadWithGetResponse_RoundTrips()
    {
        var card = SiteBlank();
        SetPinWithAdmin(card, "1234");
        Assert.Equal(0x9000, VerifyPin(card, "1234"));
        var value = RandomNumberGenerator.GetBytes(1500);
        var put = Enc(0xDF30, value);
        PutChained(card, 0xA0, 0x10, put);

        var (read, sw) = Send(card, "00CBA010045C02DF3000");
        Assert.Equal(0x9000, sw);
        Assert.Equal(put, read);
    }

    [Fact]
    public void StateRoundTrip_KeysPinAndFilesSurvive()
    {
        var card = SiteBlank();
        SetPinWithAdmin(card, "1234");
        Assert.Equal(0x9000, VerifyPin(card, "1234"));
        CreateKeyFile(card, 0x81);
        Generate(card, 0x81);
        Assert.Equal(0x63C2, VerifyPin(card, "9999"));
        var before = ReadPublicKey(card, 0x81).Data;

        var copy = GidsApplet.FromState(card.ExportState());
        Select(copy);
        Assert.Equal(before, ReadPublicKey(copy, 0x81).Data);
        var (status, _) = Send(copy, "00CB3FFF045C027F7100");
        Assert.Equal(2, status[5]);
        Assert.Equal(0x9000, VerifyPin(copy, "1234"));
        using var rsa = PublicRsa(before);
        var (signature, sw) = Sign(copy, 0x81, Sha256DigestInfo([7]));
        Assert.Equal(0x9000, sw);
        Assert.True(rsa.VerifyData(new byte[] { 7 }, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
    }

    [Fact]
    public void StateFile_EncryptedMode0600AndReloads()
    {
        var directory = Directory.CreateTempSubdirectory("opencm-gids-");
        try
        {
            var path = Path.Combine(directory.FullName, "card.state");
            var card = new PersistentCard(SiteBlank(), path);
            SetPinWithAdmin(card, "98765432");
            Assert.Equal(0x9000, VerifyPin(card, "98765432"));
            CreateKeyFile(card, 0x81);
            Generate(card, 0x81);
            Assert.True(File.Exists(path));

            var bytes = File.ReadAllBytes(path);
            var state = card.Card.ExportState();
            var privateKey = state.Files.Single(f => f.PrivateKey is not null).PrivateKey!;
            Assert.False(Contains(bytes, privateKey.AsSpan(privateKey.Length - 64)));
            Assert.False(Contains(bytes, SiteKey));
            Assert.False(Contains(bytes, "98765432"u8.ToArray()));
            Assert.False(Contains(bytes, Convert.ToBase64String(privateKey)[..40].Select(c => (byte)c).ToArray()));
            if (!OperatingSystem.IsWindows())
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(GidsStateFile.KeyPath(path)));
            }

            var reloaded = GidsApplet.FromState(GidsStateFile.Load(path));
            Select(reloaded);
            Assert.Equal(ReadPublicKey(card, 0x81).Data, ReadPublicKey(reloaded, 0x81).Data);

            // Another key does not open it.
            File.WriteAllBytes(GidsStateFile.KeyPath(path), RandomNumberGenerator.GetBytes(32));
            Assert.Throws<InvalidDataException>(() => GidsStateFile.Load(path));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    // PUT DATA in command chaining (CLA 10) as OpenSC sends anything longer than 255 bytes.
    private static void PutChained(IApduProcessor card, byte p1, byte p2, byte[] put)
    {
        for (var i = 0; i < put.Length; i += 255)
        {
            var chunk = put[i..Math.Min(put.Length, i + 255)];
            var last = i + 255 >= put.Length;
            Assert.Equal(0x9000, Send(card, [(byte)(last ? 0x00 : 0x10), 0xDB, p1, p2, (byte)chunk.Length, .. chunk]).Sw);
        }
    }

    private static bool Contains(byte[] haystack, ReadOnlySpan<byte> needle) => haystack.AsSpan().IndexOf(needle) >= 0;

    private static byte[] Enc(int tag, byte[] value)
    {
        byte[] tagBytes = tag > 0xFF ? [(byte)(tag >> 8), (byte)tag] : [(byte)tag];
        byte[] length = value.Length < 0x80 ? [(byte)value.Length] : value.Length <= 0xFF ? [0x81, (byte)value.Length] : [0x82, (byte)(value.Length >> 8), (byte)value.Length];
        return [.. tagBytes, .. length, .. value];
    }
}
