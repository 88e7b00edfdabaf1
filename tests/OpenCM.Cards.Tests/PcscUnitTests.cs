using System.Text;
using OpenCM.Cards.Pcsc;

namespace OpenCM.Cards.Tests;

/// <summary>
/// PC/SC's codes become the card errors a client can act on, and the channel's handling of
/// answers (issue #22.2), through a hand-written PC/SC where the real one cannot be made to
/// fail that way; <see cref="PcscReaderTests"/> does the rest through the real pcscd.
/// </summary>
public sealed class PcscUnitTests
{
    private const string Reader = "Fake Reader 0";

    public static TheoryData<uint, int, CardRefusal> Codes => new()
    {
        { PcscErrors.NoService, (int)PcscStage.Service, CardRefusal.NoReader },
        { PcscErrors.ServiceStopped, (int)PcscStage.Operation, CardRefusal.NoReader },
        { PcscErrors.NoReadersAvailable, (int)PcscStage.Connect, CardRefusal.NoReader },
        { PcscErrors.UnknownReader, (int)PcscStage.Connect, CardRefusal.NoReader },
        { PcscErrors.ReaderUnavailable, (int)PcscStage.Connect, CardRefusal.NoReader },
        { PcscErrors.ReaderUnavailable, (int)PcscStage.Operation, CardRefusal.CardRemoved },
        { PcscErrors.NoSmartcard, (int)PcscStage.Connect, CardRefusal.NoCard },
        { PcscErrors.RemovedCard, (int)PcscStage.Connect, CardRefusal.NoCard },
        { PcscErrors.NoSmartcard, (int)PcscStage.Operation, CardRefusal.CardRemoved },
        { PcscErrors.RemovedCard, (int)PcscStage.Operation, CardRefusal.CardRemoved },
        { PcscErrors.ResetCard, (int)PcscStage.Operation, CardRefusal.CardRemoved },
        { PcscErrors.NotTransacted, (int)PcscStage.Operation, CardRefusal.CardRemoved },
        { PcscErrors.CommError, (int)PcscStage.Operation, CardRefusal.CardRemoved },
        { PcscErrors.UnresponsiveCard, (int)PcscStage.Connect, CardRefusal.WrongCard },
        { PcscErrors.UnsupportedCard, (int)PcscStage.Connect, CardRefusal.WrongCard },
        { PcscErrors.ProtoMismatch, (int)PcscStage.Connect, CardRefusal.WrongCard },
        { PcscErrors.SharingViolation, (int)PcscStage.Connect, CardRefusal.Refused },
        { PcscErrors.InsufficientBuffer, (int)PcscStage.Operation, CardRefusal.Malformed },
        { PcscErrors.Timeout, (int)PcscStage.Operation, CardRefusal.Refused },
        { 0x80100099, (int)PcscStage.Operation, CardRefusal.Refused },
    };

    [Theory]
    [MemberData(nameof(Codes))]
    public void ToException_Code_KindThatSaysWhatHappened(uint code, int stage, CardRefusal expected)
    {
        var e = PcscErrors.ToException(code, Reader, (PcscStage)stage);

        Assert.Equal(expected, e.Refusal);
        Assert.Contains(PcscErrors.Name(code), e.Message, StringComparison.Ordinal);
        Assert.Contains(Reader, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void List_LibraryNotInstalled_NoReaderSayingWhatToInstall()
    {
        var readers = new PcscCardReaders(new FakePcsc { EstablishThrows = new DllNotFoundException("libpcsclite.so.1") }, NoDriver);

        var e = Assert.Throws<CardException>(() => readers.List());

        Assert.Equal(CardRefusal.NoReader, e.Refusal);
        Assert.Contains("install pcscd", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void List_PcscdNotRunning_NoReaderSayingSo()
    {
        var readers = new PcscCardReaders(new FakePcsc { EstablishCode = PcscErrors.NoService }, NoDriver);

        var e = Assert.Throws<CardException>(() => readers.List());

        Assert.Equal(CardRefusal.NoReader, e.Refusal);
        Assert.Contains("pcscd is not running", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void List_NoReadersAttached_Empty()
    {
        var pcsc = new FakePcsc { ListCode = PcscErrors.NoReadersAvailable };

        Assert.Empty(new PcscCardReaders(pcsc, NoDriver).List());
        Assert.Equal(1, pcsc.Releases);
    }

    public static TheoryData<string, string[]> MultiStrings => new()
    {
        { "", [] },
        { "\0", [] },
        { "A\0\0", ["A"] },
        { "Virtual PCD 00 00\0Virtual PCD 00 01\0\0", ["Virtual PCD 00 00", "Virtual PCD 00 01"] },
        { "Ünïcode Reader\0\0", ["Ünïcode Reader"] },
        { "No final NUL", ["No final NUL"] },
        { "A\0\0after the end\0\0", ["A"] },
    };

    [Theory]
    [MemberData(nameof(MultiStrings))]
    public void ParseMultiString_PcscReaderList_Names(string multiString, string[] expected) =>
        Assert.Equal(expected, PcscCardReaders.ParseMultiString(Encoding.UTF8.GetBytes(multiString)));

    [Theory]
    [InlineData("")]
    [InlineData("Fake\0Reader 0")]
    [InlineData("Another Reader")]
    public void OpenChannel_NoSuchReader_NoReaderListingThoseThere(string reader)
    {
        var pcsc = new FakePcsc();

        var e = Assert.Throws<CardException>(() => new PcscCardReaders(pcsc, NoDriver).OpenChannel(reader));

        Assert.Equal(CardRefusal.NoReader, e.Refusal);
        Assert.Contains($"'{Reader}'", e.Message, StringComparison.Ordinal);
        Assert.Equal(1, pcsc.Releases);
    }

    [Fact]
    public void OpenChannel_EmptyReader_NoCardAndContextReleased()
    {
        var pcsc = new FakePcsc { ConnectCode = PcscErrors.NoSmartcard };

        var e = Assert.Throws<CardException>(() => new PcscCardReaders(pcsc, NoDriver).OpenChannel(Reader));

        Assert.Equal(CardRefusal.NoCard, e.Refusal);
        Assert.Equal(1, pcsc.Releases);
    }

    [Fact]
    public void Open_DriverRefusesTheCard_ChannelDisconnected()
    {
        var pcsc = new FakePcsc();
        var readers = new PcscCardReaders(pcsc, _ => throw new CardException(CardRefusal.WrongCard, "not GIDS"));

        var e = Assert.Throws<CardException>(() => readers.Open(Reader));

        Assert.Equal(CardRefusal.WrongCard, e.Refusal);
        Assert.Equal((1, 1), (pcsc.Disconnects, pcsc.Releases));
    }

    public static TheoryData<uint, int?, CardRefusal> TransmitFailures => new()
    {
        { PcscErrors.InsufficientBuffer, null, CardRefusal.Malformed },
        { PcscErrors.RemovedCard, null, CardRefusal.CardRemoved },
        { PcscErrors.NotTransacted, null, CardRefusal.CardRemoved },
        { 0, 70000, CardRefusal.Malformed },
        { 0, 1, CardRefusal.Malformed },
        { 0, 0, CardRefusal.CardRemoved },
    };

    [Theory]
    [MemberData(nameof(TransmitFailures))]
    public void Transmit_PcscFails_CardException(uint code, int? reportedLength, CardRefusal expected)
    {
        var pcsc = new FakePcsc { TransmitCode = code, ReportedLength = reportedLength };
        using var channel = new PcscCardReaders(pcsc, NoDriver).OpenChannel(Reader);

        var e = Assert.Throws<CardException>(() => channel.Transmit([0x00, 0xA4, 0x04, 0x00, 0x00]));

        Assert.Equal(expected, e.Refusal);
        Assert.Contains(Reader, e.Message, StringComparison.Ordinal);
        Assert.Equal((1, 1), (pcsc.Begins, pcsc.Ends));
    }

    [Fact]
    public void BeginTransaction_NestedScopesAndTransmits_OnePcscTransaction()
    {
        var pcsc = new FakePcsc();
        using var channel = new PcscCardReaders(pcsc, NoDriver).OpenChannel(Reader);

        using (channel.BeginTransaction())
        {
            using (channel.BeginTransaction())
            {
                channel.Transmit([0x00, 0xA4, 0x04, 0x00]);
            }

            channel.Transmit([0x00, 0xA4, 0x04, 0x00]);
            Assert.Equal((1, 0), (pcsc.Begins, pcsc.Ends));
        }

        Assert.Equal((1, 1), (pcsc.Begins, pcsc.Ends));

        // Outside a transaction each command holds the card for itself (with its GET RESPONSEs).
        channel.Transmit([0x00, 0xA4, 0x04, 0x00]);
        Assert.Equal((2, 2), (pcsc.Begins, pcsc.Ends));
    }

    [Fact]
    public void BeginTransaction_ScopeDisposedTwice_EndsOnce()
    {
        var pcsc = new FakePcsc();
        using var channel = new PcscCardReaders(pcsc, NoDriver).OpenChannel(Reader);

        var scope = channel.BeginTransaction();
        scope.Dispose();
        scope.Dispose();

        Assert.Equal((1, 1), (pcsc.Begins, pcsc.Ends));
    }

    [Fact]
    public void Transmit_AnotherProgramHoldsTheCardTooLong_RefusedAndTheHandleLetGo()
    {
        var pcsc = new FakePcsc { HeldByAnother = true };
        var channel = new PcscCardReaders(pcsc, NoDriver, TimeSpan.FromMilliseconds(200)).OpenChannel(Reader);

        var e = Assert.Throws<CardException>(() => channel.Transmit([0x00, 0xA4, 0x04, 0x00]));
        var again = Assert.Throws<CardException>(() => channel.BeginTransaction());
        channel.Dispose();

        Assert.Equal((CardRefusal.Refused, CardRefusal.Refused), (e.Refusal, again.Refusal));
        Assert.Contains("Another program held the card", e.Message, StringComparison.Ordinal);
        Assert.Empty(pcsc.Sent);
        Assert.Equal((1, 1, 0), (pcsc.Disconnects, pcsc.Releases, pcsc.Ends));
    }

    [Fact]
    public void Dispose_Twice_DisconnectsAndReleasesOnce()
    {
        var pcsc = new FakePcsc();
        var channel = new PcscCardReaders(pcsc, NoDriver).OpenChannel(Reader);

        channel.Dispose();
        channel.Dispose();

        Assert.Equal((1, 1), (pcsc.Disconnects, pcsc.Releases));
        Assert.Throws<ObjectDisposedException>(() => channel.Transmit([0x00, 0xA4, 0x04, 0x00]));
    }

    [Fact]
    public void Transmit_AnswerOverTheCommandsLe_MalformedWithoutTheAnswersBytes()
    {
        var pcsc = new FakePcsc { Answer = _ => [.. Enumerable.Repeat((byte)0xAB, 300), 0x90, 0x00] };
        using var channel = new PcscCardReaders(pcsc, NoDriver).OpenChannel(Reader);

        var e = Assert.Throws<CardException>(() => channel.Transmit([0x80, 0xCA, 0x00, 0x00, 0x10]));

        Assert.Equal(CardRefusal.Malformed, e.Refusal);
        Assert.DoesNotContain("ABAB", e.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData(65536, true)]
    [InlineData(65537, false)]
    [InlineData(1_000_000, false)]
    public void Transmit_Card61xxChain_JoinedUpTo64KiB(int length, bool whole)
    {
        // The card has `length` bytes and says "61xx" until it sent them all, as a T=0 card does.
        var sent = 0;
        byte[] Remaining() => length - sent > 0 ? [0x61, (byte)Math.Min(length - sent, 256)] : [0x90, 0x00];
        var pcsc = new FakePcsc
        {
            Answer = c =>
            {
                if (c[1] != 0xC0)
                {
                    return Remaining();
                }

                var piece = Math.Min(c[4] == 0 ? 256 : c[4], length - sent);
                sent += piece;
                return [.. Enumerable.Repeat((byte)0x5A, piece), .. Remaining()];
            },
        };
        using var channel = new PcscCardReaders(pcsc, NoDriver).OpenChannel(Reader);

        if (whole)
        {
            var response = channel.Transmit([0x80, 0x10, 0x00, 0x00, 0x00]);
            Assert.Equal(length + 2, response.Length);
            Assert.Equal([0x90, 0x00], response[^2..]);
            return;
        }

        var e = Assert.Throws<CardException>(() => channel.Transmit([0x80, 0x10, 0x00, 0x00, 0x00]));
        Assert.Equal(CardRefusal.Malformed, e.Refusal);
        Assert.True(pcsc.Sent.Count < 300, $"{pcsc.Sent.Count} commands sent");
    }

    [Fact]
    public void Transmit_Card61xxWithAByteARound_MalformedAfterBoundedRounds()
    {
        var pcsc = new FakePcsc { Answer = c => c[1] == 0xC0 ? [0x5A, 0x61, 0x01] : [0x61, 0x01] };
        using var channel = new PcscCardReaders(pcsc, NoDriver).OpenChannel(Reader);

        var e = Assert.Throws<CardException>(() => channel.Transmit([0x80, 0x10, 0x00, 0x00, 0x00]));

        Assert.Equal(CardRefusal.Malformed, e.Refusal);
        Assert.InRange(pcsc.Sent.Count, 1000, 1100);
    }

    public static TheoryData<string, string[], string> Exchanges => new()
    {
        // 6Cxx: the command again with the card's Le, replacing the one it had or added where it had none.
        { "00CA000000", ["00CA000000", "00CA000004"], "010203049000" },
        { "00CA0000", ["00CA0000", "00CA000004"], "010203049000" },
        { "00CA000001AA", ["00CA000001AA", "00CA000001AA04"], "010203049000" },

        // 61xx: GET RESPONSE on the command's logical channel (CLA 01), and 6Cxx to a GET RESPONSE followed too.
        { "01CB3FFF00", ["01CB3FFF00", "01C0000008", "01C0000004"], "010203049000" },

        // An extended command's Le is two bytes: its 6Cxx goes back to the driver as it is.
        { "00CB3FFF000000", ["00CB3FFF000000"], "6C04" },
    };

    [Theory]
    [MemberData(nameof(Exchanges))]
    public void Transmit_Card6CxxOr61xx_FollowedAsIso7816Says(string command, string[] sent, string answer)
    {
        var pcsc = new FakePcsc
        {
            Answer = c => Convert.ToHexString(c) switch
            {
                "00CA000004" or "00CA000001AA04" or "01C0000004" => [1, 2, 3, 4, 0x90, 0x00],
                "01CB3FFF00" => [0x61, 0x08],
                _ => [0x6C, 0x04],
            },
        };
        using var channel = new PcscCardReaders(pcsc, NoDriver).OpenChannel(Reader);

        Assert.Equal(answer, Convert.ToHexString(channel.Transmit(Convert.FromHexString(command))));
        Assert.Equal(sent, pcsc.Sent.Select(Convert.ToHexString));
    }

    public static TheoryData<string, int, bool, bool> Shapes => new()
    {
        { "00A40400", 256, true, false },
        { "00B0000010", 16, true, true },
        { "00B0000000", 256, true, true },
        { "00A4040003A00000", 256, true, false },
        { "00A4040003A0000000", 256, true, true },
        { "00A4040003A0000020", 32, true, true },
        { "00B00000000000", 65536, false, true },
        { "00B00000000400", 1024, false, true },
        { "00DB3FFF000003010203", 65536, false, false },
        { "00CB3FFF0000035C0102", 65536, false, false },
        { "00CB3FFF0000035C01020000", 65536, false, true },
        { "00CB3FFF0000035C01020100", 256, false, true },
        { "00A4040005A000", 65536, false, false },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void ApduShape_Command_NeAndWhetherShort(string command, int maxData, bool isShort, bool hasLe) =>
        Assert.Equal(new ApduShape(maxData, isShort, hasLe), ApduShape.Of(Convert.FromHexString(command)));

    private static ICardDevice NoDriver(IApduChannel channel) => throw new InvalidOperationException("These tests open channels, not cards.");
}
