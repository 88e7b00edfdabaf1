using OpenCM.Cards;
using OpenCM.Cards.Apdu;
using OpenCM.Cards.Tests.Fakes;

namespace OpenCM.Cards.Tests;

/// <summary>The APDU helpers: command encodings as ISO 7816-4 gives them, and a card's answers read as hostile input.</summary>
public sealed class ApduTests
{
    [Theory]
    [InlineData("", 0, "00A40400")]
    [InlineData("A0000003974254465900", 0, "00A404000AA0000003974254465900")]
    [InlineData("A00000039742544659", 256, "00A4040009A0000003974254465900")]
    [InlineData("", 16, "00A4040010")]
    [InlineData("", 257, "00A40400000101")]
    [InlineData("", 65536, "00A40400000000")]
    public void Build_DataAndLe_ShortOrExtendedEncoding(string data, int le, string expected) =>
        Assert.Equal(expected, Convert.ToHexString(CommandApdu.Build(0x00, 0xA4, 0x04, 0x00, Convert.FromHexString(data), le)));

    [Fact]
    public void Build_DataOver255_ExtendedLc()
    {
        var command = CommandApdu.Build(0x00, 0xDB, 0x3F, 0xFF, new byte[300], le: 0);
        Assert.Equal("00DB3FFF00012C", Convert.ToHexString(command[..7]));
        Assert.Equal(7 + 300, command.Length);
    }

    [Fact]
    public void Chain_DataOver255_PiecesOf255WithTheChainingBitButTheLast()
    {
        var data = Enumerable.Range(0, 300).Select(i => (byte)i).ToArray();
        var commands = CommandApdu.Chain(0x00, 0xDB, 0xA0, 0x10, data);
        Assert.Equal(2, commands.Count);
        Assert.Equal("10DBA010FF", Convert.ToHexString(commands[0][..5]));
        Assert.Equal("00DBA0102D", Convert.ToHexString(commands[1][..5]));
        Assert.Equal(data, commands[0][5..].Concat(commands[1][5..]).ToArray());
    }

    [Theory]
    [InlineData("DF")]               // a two-byte tag cut off
    [InlineData("DF1F")]             // no length
    [InlineData("0105AA")]           // a value longer than the answer
    [InlineData("018400000001AA")]   // a four-byte length
    [InlineData("0180")]             // indefinite length
    [InlineData("1F818181010100")]   // a tag of four bytes
    [InlineData("7F49820200AABB")]   // an 82 length past the end
    public void Parse_MalformedAnswer_Malformed(string answer) =>
        Assert.Equal(CardRefusal.Malformed, Assert.Throws<CardException>(() => BerTlv.Parse(Convert.FromHexString(answer))).Refusal);

    [Theory]
    [InlineData("7C128110000102030405060708090A0B0C0D0E0F", 0x7C, "8110000102030405060708090A0B0C0D0E0F")]
    [InlineData("00FF7F71069701039301039000", 0x7F71, "970103930103")]
    [InlineData("9701037F7100", 0x7F71, "")]
    [InlineData("DF2481020102", 0xDF24, "0102")]
    public void Find_WellFormedAnswer_TheValue(string answer, int tag, string value) =>
        Assert.Equal(value, Convert.ToHexString(BerTlv.Find(Convert.FromHexString(answer), tag)!));

    [Theory]
    [InlineData(0x70, 3, "7003")]
    [InlineData(0xDF23, 0x80, "DF238180")]
    [InlineData(0x7F49, 0x104, "7F49820104")]
    public void Encode_TagAndLength_ShortOrLongForm(int tag, int length, string header) =>
        Assert.StartsWith(header, Convert.ToHexString(BerTlv.Encode(tag, new byte[length])), StringComparison.Ordinal);

    [Theory]
    [InlineData(0x63C2, CardRefusal.WrongPin)]
    [InlineData(0x63C0, CardRefusal.PinBlocked)]
    [InlineData(0x6983, CardRefusal.PinBlocked)]
    [InlineData(0x6982, CardRefusal.AdminAuthenticationFailed)]
    [InlineData(0x6985, CardRefusal.AdminAuthenticationFailed)]
    [InlineData(0x6A84, CardRefusal.CardFull)]
    [InlineData(0x6A82, CardRefusal.NoSuchContainer)]
    [InlineData(0x6D00, CardRefusal.Unsupported)]
    [InlineData(0x6F00, CardRefusal.Refused)]
    public void ToException_StatusWord_ItsRefusal(int statusWord, CardRefusal refusal) =>
        Assert.Equal(refusal, StatusWords.ToException((ushort)statusWord, "a test", CardRefusal.AdminAuthenticationFailed).Refusal);

    [Theory]
    [InlineData("")]
    [InlineData("90")]
    public void Parse_AnswerShorterThanAStatusWord_Malformed(string answer) =>
        Assert.Equal(CardRefusal.Malformed, Assert.Throws<CardException>(() => ResponseApdu.Parse(Convert.FromHexString(answer))).Refusal);

    [Fact]
    public void ProcessorChannel_AnswerIn61xxPieces_OneWholeAnswer()
    {
        var answer = Enumerable.Range(0, 300).Select(i => (byte)i).ToArray();
        using var channel = new ApduProcessorChannel(new PiecewiseCard(answer));
        var response = channel.Transmit(Convert.FromHexString("00CA010000"));
        Assert.Equal(answer.Concat(new byte[] { 0x90, 0x00 }).ToArray(), response);
    }

    [Fact]
    public void ProcessorChannel_6CxxWrongLe_SentAgainWithTheLengthTheCardAsked()
    {
        using var channel = new ApduProcessorChannel(new PiecewiseCard(new byte[5]));
        Assert.Equal("00000000009000", Convert.ToHexString(channel.Transmit(Convert.FromHexString("00CA020001"))));
    }

    // Answers GET DATA 01 with its answer in 256-byte pieces (61xx), GET DATA 02 with 6C05 unless Le is 5.
    private sealed class PiecewiseCard(byte[] answer) : IApduProcessor
    {
        private int _offset;

        public byte[] Atr => [0x3B, 0x00];

        public void Reset() => _offset = 0;

        public byte[] Process(ReadOnlySpan<byte> command)
        {
            if (command[1] == 0xCA && command[2] == 0x02)
            {
                return command[4] == 5 ? [.. answer, 0x90, 0x00] : [0x6C, 0x05];
            }

            if (command[1] == 0xCA)
            {
                _offset = 0;
            }

            var length = Math.Min(256, answer.Length - _offset);
            var piece = answer.AsSpan(_offset, length).ToArray();
            _offset += length;
            var left = answer.Length - _offset;
            return left == 0 ? [.. piece, 0x90, 0x00] : [.. piece, 0x61, (byte)Math.Min(left, 0xFF)];
        }
    }
}
