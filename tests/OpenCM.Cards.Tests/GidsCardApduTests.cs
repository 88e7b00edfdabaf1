using OpenCM.Cards;
using OpenCM.Cards.Gids;
using OpenCM.Cards.Tests.Fakes;

namespace OpenCM.Cards.Tests;

/// <summary>
/// GidsCard against a scripted channel: the exact APDUs of OpenSC's card-gids.c for opening a card
/// and for the admin authentication of decision 0013, and what a hostile card's answers become.
/// </summary>
public sealed class GidsCardApduTests
{
    private const string DefaultKey = "010203040506070801020304050607080102030405060708";
    private const string CardIdHex = "00112233445566778899AABBCCDDEEFF";

    // OpenSC's gids_initialize master file: mscp, cardid (A012/DF20), cardapps, cardcf, mscp\cmapfile (A010/DF21..23).
    private const string MasterFile =
        "016D736370000000000000000000000000000000000000000000A00000000000000000000000636172646964000000000020DF000012A00000000000000000000000636172646170707300000021DF000010A00000000000000000000000636172646366000000000022DF000010A000006D7363700000000000636D617066696C6500000023DF000010A00000";

    private const string Select = "00A4040009A0000003974254465900";
    private const string GetMasterFile = "00CBA000045C02DF1F00";
    private const string GetCardId = "00CBA012045C02DF2000";

    private static string Tlv(string tag, string value) => tag + (value.Length / 2 < 0x80 ? $"{value.Length / 2:X2}" : $"81{value.Length / 2:X2}") + value;

    private static ScriptedChannel Opening() => new ScriptedChannel()
        .On(Select, "9000")
        .On(GetMasterFile, "DF1F818D" + MasterFile + "9000")
        .On(GetCardId, Tlv("DF20", CardIdHex) + "9000");

    [Fact]
    public void TripleDesCbc_KnownVector_AsOpensslEncryptsIt()
    {
        // printf 00..27 | openssl enc -des-ede3-cbc -nopad -K 0102…08 (three times) -iv 0000000000000000
        var block = Enumerable.Range(0, 40).Select(i => (byte)i).ToArray();
        Assert.Equal("90152A4C1CF4278085EB167ADD683F9063F2A29A83DA40D9B62BF95797E47DCA6CCE134C95EEFA0A",
            Convert.ToHexString(TripleDesCbc.Encrypt(Convert.FromHexString(DefaultKey), block)));
        Assert.Equal(block, TripleDesCbc.Decrypt(Convert.FromHexString(DefaultKey), TripleDesCbc.Encrypt(Convert.FromHexString(DefaultKey), block)));
    }

    [Fact]
    public void Open_InitializedGidsCard_CardIdFromTheCardidFileAndAtrFromTheChannel()
    {
        var channel = Opening();
        using var card = GidsCard.Open(channel);

        Assert.Equal(CardIdHex, card.CardId);
        Assert.Equal("3B8D0180FBA000000397425446590301C8", card.Atr);
        Assert.Equal(0, channel.Remaining);
        Assert.True(channel.EveryCommandInATransaction);
    }

    [Theory]
    [InlineData("6A82", null, CardRefusal.WrongCard)]                          // no GIDS application
    [InlineData("9000", "6A88", CardRefusal.WrongCard)]                        // GIDS, never initialized
    [InlineData("9000", "DF1F0102" + "9000", CardRefusal.WrongCard)]           // a master file of another version
    [InlineData("9000", "DF1F05010203" + "9000", CardRefusal.Malformed)]       // a length past the end
    [InlineData("9000", "DF1F8201" + "9000", CardRefusal.Malformed)]           // a length cut off
    [InlineData("9000", "90", CardRefusal.Malformed)]                          // less than a status word
    public void Open_CardNotGidsOrAnsweringGarbage_WrongCardOrMalformed(string selectAnswer, string? masterFileAnswer, CardRefusal refusal)
    {
        var channel = new ScriptedChannel().On(Select, selectAnswer);
        if (masterFileAnswer is not null)
        {
            channel.On(GetMasterFile, masterFileAnswer);
        }

        Assert.Equal(refusal, Assert.Throws<CardException>(() => GidsCard.Open(channel)).Refusal);
    }

    [Theory]
    [InlineData("DF2011" + CardIdHex + "00")]   // 17 bytes
    [InlineData("DF2008" + "0011223344556677")] // 8 bytes
    public void Open_CardIdNotSixteenBytes_Malformed(string cardIdAnswer)
    {
        var channel = new ScriptedChannel()
            .On(Select, "9000")
            .On(GetMasterFile, "DF1F818D" + MasterFile + "9000")
            .On(GetCardId, cardIdAnswer + "9000");
        Assert.Equal(CardRefusal.Malformed, Assert.Throws<CardException>(() => GidsCard.Open(channel)).Refusal);
    }

    [Fact]
    public void Open_CardPulledWhileReading_CardRemoved()
    {
        var channel = new ScriptedChannel().On(Select, "9000").PulledAt(GetMasterFile);
        Assert.Equal(CardRefusal.CardRemoved, Assert.Throws<CardException>(() => GidsCard.Open(channel)).Refusal);
    }

    [Fact]
    public void ChangeAdminKey_ResponseUnderTheKey_ExactApdusOfGidsMutualAuthenticationThenTheKeyWritten()
    {
        var r2 = "A1A2A3A4A5A6A7A8A9AAABACADAEAFB0";
        const string newKey = "111213141516171821222324252627283132333435363738";
        var channel = Opening()
            .On(Select, "9000")
            .On("0022C1A403830180", "9000")
            .On(null, command =>
            {
                Assert.StartsWith("00870000147C12811", Convert.ToHexString(command), StringComparison.Ordinal);
                Assert.Equal(5 + 20 + 1, command.Length);
                return Convert.FromHexString("7C128110" + r2 + "9000");
            });
        using var card = GidsCard.Open(channel);

        var challenge = card.GetChallenge();
        var r1 = channel.Sent[^1].AsSpan(9, 16).ToArray();
        Assert.Equal(40, challenge.Length);
        Assert.Equal(r2 + Convert.ToHexString(r1), Convert.ToHexString(challenge[..32]));
        Assert.Equal(0x80, challenge[39]);

        // The server's answer: 3DES-EDE-CBC, zero IV, over the whole block (decision 0013).
        var response = TripleDesCbc.Encrypt(Convert.FromHexString(DefaultKey), challenge);
        var cardCryptogram = TripleDesCbc.Encrypt(Convert.FromHexString(DefaultKey), [.. r1, .. Convert.FromHexString(r2), .. new byte[7], 0x80]);
        channel
            .On("008700002C7C2A8228" + Convert.ToHexString(response) + "00", "7C2A8228" + Convert.ToHexString(cardCryptogram) + "9000")
            .On("00DB3FFF267024840180A51F8718" + newKey + "8803B073DC", "9000")
            .On("00200082", "9000");
        card.ChangeAdminKey(response, Convert.FromHexString(newKey));

        Assert.Equal(0, channel.Remaining);
        Assert.True(channel.EveryCommandInATransaction);
    }

    [Fact]
    public void UnblockPin_ResponseAccepted_ResetRetryCounterWithTheNewPinThenLogout()
    {
        var channel = Opening()
            .On(Select, "9000")
            .On("0022C1A403830180", "9000")
            .On(null, _ => Convert.FromHexString("7C128110" + new string('0', 32) + "9000"));
        using var card = GidsCard.Open(channel);
        var response = TripleDesCbc.Encrypt(Convert.FromHexString(DefaultKey), card.GetChallenge());
        channel
            .On("008700002C7C2A8228" + Convert.ToHexString(response) + "00", "7C2A8228" + new string('1', 80) + "9000")
            .On("002C028006313233343536", "9000")
            .On("00200082", "9000");
        card.UnblockPin(response, "123456");
        Assert.Equal(0, channel.Remaining);
    }

    [Theory]
    [InlineData("6982", CardRefusal.AdminAuthenticationFailed)]                 // the card's check failed
    [InlineData("6300", CardRefusal.AdminAuthenticationFailed)]
    [InlineData("7C2A8228" + "00" + "9000", CardRefusal.Malformed)]            // 9000 but a cut-off cryptogram
    [InlineData("7C0482020000" + "9000", CardRefusal.Malformed)]                // 9000 but a short cryptogram
    public void ChangeAdminKey_CardRefusesOrAnswersGarbage_NothingWrittenAndTheKind(string answer, CardRefusal refusal)
    {
        var channel = Opening()
            .On(Select, "9000")
            .On("0022C1A403830180", "9000")
            .On(null, _ => Convert.FromHexString("7C128110" + new string('0', 32) + "9000"));
        using var card = GidsCard.Open(channel);
        var response = TripleDesCbc.Encrypt(Convert.FromHexString(DefaultKey), card.GetChallenge());
        channel.On(null, _ => Convert.FromHexString(answer));

        Assert.Equal(refusal, Assert.Throws<CardException>(() => card.ChangeAdminKey(response, new byte[24])).Refusal);
        Assert.Equal(0, channel.Remaining); // no PUT DATA followed
    }

    [Theory]
    [InlineData("7C1481120000000000000000000000000000000000009000")]     // an R2 of 18 bytes
    [InlineData("FFFFFFFF9000")]                                          // padding and nothing
    [InlineData("7C03810100" + "9000")]                                   // an R2 of one byte
    [InlineData("7C82010081820100" + "9000")]                             // a length past the end
    public void GetChallenge_GarbageOrOversizedAnswer_Malformed(string answer)
    {
        var channel = Opening()
            .On(Select, "9000")
            .On("0022C1A403830180", "9000")
            .On(null, _ => Convert.FromHexString(answer));
        using var card = GidsCard.Open(channel);
        Assert.Equal(CardRefusal.Malformed, Assert.Throws<CardException>(card.GetChallenge).Refusal);
    }

    [Fact]
    public void AdminOperation_NoChallengeOrAResponseOfAnotherLength_RefusedWithoutAsking()
    {
        var channel = Opening();
        using var card = GidsCard.Open(channel);
        Assert.Equal(CardRefusal.AdminAuthenticationFailed, Assert.Throws<CardException>(() => card.UnblockPin(new byte[40], "123456")).Refusal);

        channel
            .On(Select, "9000")
            .On("0022C1A403830180", "9000")
            .On(null, _ => Convert.FromHexString("7C128110" + new string('0', 32) + "9000"));
        card.GetChallenge();

        // The Base CSP's 8-byte answer is not a GIDS answer; the challenge is used up all the same.
        Assert.Equal(CardRefusal.AdminAuthenticationFailed, Assert.Throws<CardException>(() => card.ClearContainers(new byte[8])).Refusal);
        Assert.Equal(CardRefusal.AdminAuthenticationFailed, Assert.Throws<CardException>(() => card.ClearContainers(new byte[40])).Refusal);
        Assert.Equal(0, channel.Remaining);
    }

    [Theory]
    [InlineData("63C2", CardRefusal.WrongPin)]
    [InlineData("63C0", CardRefusal.PinBlocked)]
    [InlineData("6983", CardRefusal.PinBlocked)]
    public void VerifyPin_CardCountsDown_WrongPinOrBlocked(string answer, CardRefusal refusal)
    {
        var channel = Opening().On(Select, "9000").On("002000800431323334", answer);
        using var card = GidsCard.Open(channel);
        Assert.Equal(refusal, Assert.Throws<CardException>(() => card.VerifyPin("1234")).Refusal);
    }

    [Theory]
    [InlineData("7F71069701029301039000", 2)]
    [InlineData("7F71079F1701009301039000", 0)]
    public void PinTriesLeft_PinStatusObject_TheTryCounter(string answer, int tries)
    {
        var channel = Opening().On(Select, "9000").On("00CB3FFF045C027F7100", answer);
        using var card = GidsCard.Open(channel);
        Assert.Equal(tries, card.PinTriesLeft);
    }

    [Fact]
    public void Dispose_OpenCard_DisposesTheChannel()
    {
        var channel = Opening();
        GidsCard.Open(channel).Dispose();
        Assert.True(channel.Disposed);
    }
}
