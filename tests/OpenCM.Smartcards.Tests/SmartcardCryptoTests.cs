using System.Numerics;
using System.Text;
using OpenCM.Smartcards;
using OpenCM.TestKit;

namespace OpenCM.Smartcards.Tests;

/// <summary>SPEC §8's smart card crypto, checked against openssl as an independent implementation.</summary>
public sealed class SmartcardCryptoTests : IDisposable
{
    // The well-known default admin key of Base CSP cards: 01…08, three times.
    private const string DefaultAdminKey = "010203040506070801020304050607080102030405060708";
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static string Hex(ReadOnlySpan<byte> bytes) => Convert.ToHexString(bytes);

    [Theory]
    [InlineData(DefaultAdminKey, "1hFD+cz/0so=")]
    [InlineData(DefaultAdminKey, "AAAAAAAAAAA=")]
    [InlineData("0123456789ABCDEFFEDCBA98765432100F1E2D3C4B5A6978", "//////////8=")]
    public async Task Respond_Challenge_EqualsOpensslDes3Ecb(string keyHex, string challengeBase64)
    {
        var challenge = Convert.FromBase64String(challengeBase64);
        await File.WriteAllBytesAsync(_dir.File("challenge.bin"), challenge);
        await OpenSsl.CheckAsync(_dir.Path, "enc", "-des-ede3-ecb", "-nopad", "-K", keyHex, "-in", "challenge.bin", "-out", "response.bin");
        Assert.Equal(await File.ReadAllBytesAsync(_dir.File("response.bin")), ChallengeResponse.Respond(AdminKeys.FromHex(keyHex), challenge));
    }

    [Fact]
    public void Respond_KnownAnswer_DefaultKey() =>
        Assert.Equal("K1EIo4id/24=", Convert.ToBase64String(ChallengeResponse.Respond(AdminKeys.FromHex(DefaultAdminKey), Convert.FromBase64String("1hFD+cz/0so="))));

    [Theory]
    [InlineData(7, 8)]
    [InlineData(8, 23)]
    [InlineData(8, 25)]
    public void Respond_WrongLengths_Refused(int challengeLength, int keyLength) =>
        Assert.Throws<ArgumentException>(() => ChallengeResponse.Respond(new byte[keyLength], new byte[challengeLength]));

    // Decision 0013: any challenge of 8..40 bytes, a multiple of 8, is answered with 3DES-EDE-CBC
    // under a zero IV, as openssl computes it; 40 bytes is a GIDS card's R2 || R1 || Z1.
    [Theory]
    [InlineData(DefaultAdminKey, 8)]
    [InlineData(DefaultAdminKey, 16)]
    [InlineData(DefaultAdminKey, 24)]
    [InlineData(DefaultAdminKey, 32)]
    [InlineData(DefaultAdminKey, 40)]
    [InlineData("0123456789ABCDEFFEDCBA98765432100F1E2D3C4B5A6978", 40)]
    public async Task Respond_ChallengeOfBlocks_EqualsOpensslDes3CbcZeroIv(string keyHex, int length)
    {
        var challenge = new byte[length];
        new Random(length).NextBytes(challenge);
        await File.WriteAllBytesAsync(_dir.File("challenge.bin"), challenge);
        await OpenSsl.CheckAsync(_dir.Path, "enc", "-des-ede3-cbc", "-nopad", "-K", keyHex, "-iv", "0000000000000000", "-in", "challenge.bin", "-out", "response.bin");
        Assert.Equal(Hex(await File.ReadAllBytesAsync(_dir.File("response.bin"))), Hex(ChallengeResponse.Respond(AdminKeys.FromHex(keyHex), challenge)));
    }

    // The one-block answer is the Base CSP card's ECB answer: MIM CM's clients see no change.
    [Fact]
    public void Respond_OneBlock_FirstBlockOfTheLongerAnswer()
    {
        var key = AdminKeys.FromHex(DefaultAdminKey);
        var challenge = Convert.FromBase64String("1hFD+cz/0soAAAAAAAAAAA==");
        Assert.Equal(Hex(ChallengeResponse.Respond(key, challenge.AsSpan(0, 8))), Hex(ChallengeResponse.Respond(key, challenge).AsSpan(0, 8)));
    }

    [Theory]
    [InlineData(0, false)]
    [InlineData(1, false)]
    [InlineData(7, false)]
    [InlineData(8, true)]
    [InlineData(12, false)]
    [InlineData(16, true)]
    [InlineData(39, false)]
    [InlineData(40, true)]
    [InlineData(41, false)]
    [InlineData(48, false)]
    public void IsValidLength_Length_OnlyWholeBlocksFrom8To40(int length, bool valid)
    {
        Assert.Equal(valid, ChallengeResponse.IsValidLength(length));
        if (!valid)
        {
            Assert.Throws<ArgumentException>(() => ChallengeResponse.Respond(AdminKeys.FromHex(DefaultAdminKey), new byte[length]));
        }
    }

    // Generation 0 is the context of records from before generations (the card id alone); from 1
    // on the id, a zero byte and the generation in four big-endian bytes (issue #18.7).
    [Theory]
    [InlineData(0, "")]
    [InlineData(1, "0000000001")]
    [InlineData(258, "0000000102")]
    public async Task Diversify_CardAndGeneration_Sp800108CounterHmacSha256AsOpensslKbkdfWithDesParity(int generation, string contextTail)
    {
        var master = Convert.FromHexString("000102030405060708090A0B0C0D0E0F");
        const string card = "BC88F13F-83BA-4037-8262-46EBA1291C6E";
        var printed = await OpenSsl.CheckAsync(_dir.Path, "kdf", "-keylen", "24", "-kdfopt", "mac:HMAC", "-kdfopt", "digest:SHA2-256",
            "-kdfopt", "hexkey:" + Hex(master), "-kdfopt", "hexsalt:" + Hex(AdminKeys.Label),
            "-kdfopt", "hexinfo:" + Hex(Encoding.UTF8.GetBytes(card.ToLowerInvariant())) + contextTail, "KBKDF");
        var expected = Convert.FromHexString(printed.Trim().Replace(":", "", StringComparison.Ordinal));
        AdminKeys.SetOddParity(expected);

        var key = AdminKeys.Diversify(master, card, generation);
        Assert.Equal(Hex(expected), Hex(key));
        Assert.All(key, b => Assert.Equal(1, BitOperations.PopCount(b) % 2));
    }

    // Fixed vectors: openssl 3.0 `kdf KBKDF` output with DES parity set; they pin the derivation across releases.
    [Theory]
    [InlineData("000102030405060708090A0B0C0D0E0F", "bc88f13f-83ba-4037-8262-46eba1291c6e", "4F3B737A8C0107A79D16D068D5F1E66B7CD66EB9649120BF")]
    [InlineData("000102030405060708090A0B0C0D0E0F", "BC88F13F-83BA-4037-8262-46EBA1291C6E", "4F3B737A8C0107A79D16D068D5F1E66B7CD66EB9649120BF")]
    public void Diversify_FixedVector(string master, string card, string expected) =>
        Assert.Equal(expected, Hex(AdminKeys.Diversify(Convert.FromHexString(master), card, generation: 0)));

    [Fact]
    public void Diversify_SameCardAnyGuidForm_SameKeyAndOtherCardsDiffer()
    {
        var master = new byte[32];
        var a = AdminKeys.Diversify(master, "bc88f13f-83ba-4037-8262-46eba1291c6e", 1);
        Assert.Equal(a, AdminKeys.Diversify(master, "{BC88F13F-83BA-4037-8262-46EBA1291C6E}", 1));
        Assert.NotEqual(a, AdminKeys.Diversify(master, "bc88f13f-83ba-4037-8262-46eba1291c6f", 1));
        Assert.NotEqual(a, AdminKeys.Diversify([.. master[..31], 1], "bc88f13f-83ba-4037-8262-46eba1291c6e", 1));
        Assert.Throws<ArgumentException>(() => AdminKeys.Diversify(new byte[8], "card", 1));
    }

    // Issue #18.7: the same card id bound again (another holder, another issuance) has another key.
    [Fact]
    public void Diversify_SameCardOtherGeneration_OtherKey()
    {
        var master = new byte[32];
        const string card = "bc88f13f-83ba-4037-8262-46eba1291c6e";
        var keys = Enumerable.Range(0, 4).Select(g => Hex(AdminKeys.Diversify(master, card, g))).ToList();
        Assert.Equal(keys.Count, keys.Distinct().Count());
        Assert.Throws<ArgumentOutOfRangeException>(() => AdminKeys.Diversify(master, card, -1));
    }

    [Fact]
    public void Propose_Length_DigitsOnlyAndNotRepeated()
    {
        var pins = Enumerable.Range(0, 200).Select(_ => Pins.Propose(8)).ToList();
        Assert.All(pins, p => Assert.Matches("^[0-9]{8}$", p));
        Assert.True(pins.Distinct().Count() > 190);

        // Every digit turns up in every position over enough draws.
        Assert.All(Enumerable.Range(0, 8), i => Assert.Equal(10, pins.Select(p => p[i]).Distinct().Count()));
        Assert.Throws<ArgumentOutOfRangeException>(() => Pins.Propose(3));
        Assert.Throws<ArgumentOutOfRangeException>(() => Pins.Propose(128));
    }
}
