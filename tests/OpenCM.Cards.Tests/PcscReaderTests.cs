using System.Diagnostics;
using OpenCM.Cards.Emulation;
using OpenCM.Cards.Pcsc;
using OpenCM.TestKit;

namespace OpenCM.Cards.Tests;

/// <summary>
/// OpenCM's PC/SC client through the real pcscd (issue #22.2): hand-written cards put into
/// vsmartcard's virtual readers (<see cref="VpcdLink"/>) are listed, connected to, and talked to
/// as a card driver would, and OpenSC, an independent client, sees the same card the same way.
/// pcscd polls the virtual readers, so a card put in or pulled shows after a moment: the tests
/// wait for it with a deadline.
/// </summary>
[Collection(PcscCollection.Name)]
public sealed class PcscReaderTests(PcscdFixture pcscd)
{
    private const string Atr = "3B80800101";
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);
    private readonly PcscCardReaders _readers = new(_ => throw new InvalidOperationException("These tests open channels."));

    [SkippableFact]
    public void List_VpcdInstalled_BothVirtualReaders()
    {
        Prerequisite.SkipIfMissing(pcscd.Daemon is null, PcscDaemon.SkipReason);

        var readers = _readers.List();

        Assert.Contains(PcscDaemon.FirstReader, readers);
        Assert.Contains(PcscDaemon.SecondReader, readers);
    }

    [SkippableFact]
    public void OpenChannel_EmptyReader_NoCard()
    {
        Prerequisite.SkipIfMissing(pcscd.Daemon is null, PcscDaemon.SkipReason);

        // No test puts a card into the second reader.
        var e = Assert.Throws<CardException>(() => _readers.OpenChannel(PcscDaemon.SecondReader));

        Assert.Equal(CardRefusal.NoCard, e.Refusal);
        Assert.Contains(PcscDaemon.SecondReader, e.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void OpenChannel_UnknownReader_NoReaderNamingTheReadersThere()
    {
        Prerequisite.SkipIfMissing(pcscd.Daemon is null, PcscDaemon.SkipReason);

        var e = Assert.Throws<CardException>(() => _readers.OpenChannel("No Such Reader 99"));

        Assert.Equal(CardRefusal.NoReader, e.Refusal);
        Assert.Contains("'No Such Reader 99'", e.Message, StringComparison.Ordinal);
        Assert.Contains($"'{PcscDaemon.FirstReader}'", e.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Transmit_ToyCard_AtrAndAnswerAsOpenscSeesThem()
    {
        Prerequisite.SkipIfMissing(pcscd.Daemon is null, PcscDaemon.SkipReason);
        var card = new ScriptedCard(Atr, c => ScriptedCard.Is(c, "80CA9F7F00") ? [0xDE, 0xAD, 0xBE, 0xEF, 0x90, 0x00] : null);
        await using var inserted = await InsertAsync(card);

        using (var channel = await OpenWhenPresentAsync())
        {
            Assert.Equal(Convert.FromHexString(Atr), channel.Atr);
            Assert.Equal(Convert.FromHexString("DEADBEEF9000"), channel.Transmit(Convert.FromHexString("80CA9F7F00")));
            Assert.Equal(Convert.FromHexString("6A82"), channel.Transmit(Convert.FromHexString("00A4040000")));
        }

        // OpenSC, through the same pcscd, gets the same ATR and answer.
        var atr = await OpenSc.CheckAsync("opensc-tool", "-r", "0", "-a");
        Assert.Contains("3b:80:80:01:01", atr, StringComparison.OrdinalIgnoreCase);
        var answer = await OpenSc.CheckAsync("opensc-tool", "-r", "0", "-s", "80CA9F7F00");
        Assert.Contains("SW1=0x90, SW2=0x00", answer, StringComparison.Ordinal);
        Assert.Contains("DE AD BE EF", answer, StringComparison.OrdinalIgnoreCase);
    }

    [SkippableTheory]
    [InlineData(1000)]
    [InlineData(65536)]
    public async Task Transmit_Card61xx_GetResponsesJoinTheAnswer(int length)
    {
        Prerequisite.SkipIfMissing(pcscd.Daemon is null, PcscDaemon.SkipReason);
        var blob = Blob(length);
        var sent = 0;

        // As a T=0 card: "61xx, xx more" (00 for 256 or more), then the data in pieces a GET RESPONSE at a time.
        byte[] Remaining() => [(byte)0x61, (byte)Math.Min(blob.Length - sent, 256)];
        var card = new ScriptedCard(Atr, c =>
        {
            if (ScriptedCard.Is(c, "8010000000"))
            {
                sent = 0;
                return Remaining();
            }

            if (c is [0x00, 0xC0, 0x00, 0x00, var le])
            {
                var piece = blob.AsSpan(sent, le == 0 ? 256 : le).ToArray();
                sent += piece.Length;
                return sent == blob.Length ? [.. piece, 0x90, 0x00] : [.. piece, .. Remaining()];
            }

            return null;
        });
        await using var inserted = await InsertAsync(card);
        using var channel = await OpenWhenPresentAsync();

        var response = channel.Transmit(Convert.FromHexString("8010000000"));

        Assert.Equal([.. blob, 0x90, 0x00], response);
        Assert.Equal((length + 255) / 256, card.Commands.Count(c => c[1] == 0xC0));
    }

    [SkippableFact]
    public async Task Transmit_ExtendedLe_LongAnswerInOnePiece()
    {
        Prerequisite.SkipIfMissing(pcscd.Daemon is null, PcscDaemon.SkipReason);
        var blob = Blob(60000);
        await using var inserted = await InsertAsync(new ScriptedCard(Atr, c => ScriptedCard.Is(c, "80110000000000") ? [.. blob, 0x90, 0x00] : null));
        using var channel = await OpenWhenPresentAsync();

        Assert.Equal([.. blob, 0x90, 0x00], channel.Transmit(Convert.FromHexString("80110000000000")));
    }

    [SkippableFact]
    public async Task Transmit_Card6Cxx_SentAgainWithTheCardsLe()
    {
        Prerequisite.SkipIfMissing(pcscd.Daemon is null, PcscDaemon.SkipReason);
        var card = new ScriptedCard(Atr, c => Convert.ToHexString(c) switch
        {
            "8012000000" => [0x6C, 0x10],
            "8012000010" => [.. Blob(16), 0x90, 0x00],
            _ => null,
        });
        await using var inserted = await InsertAsync(card);
        using var channel = await OpenWhenPresentAsync();

        Assert.Equal([.. Blob(16), 0x90, 0x00], channel.Transmit(Convert.FromHexString("8012000000")));
        Assert.Equal(["8012000000", "8012000010"], card.Commands.Select(Convert.ToHexString).TakeLast(2));
    }

    // A card whose GET RESPONSEs never end is PcscUnitTests' (a real pcscd takes seconds for 256 rounds).
    public static TheoryData<string> HostileCards => ["one byte", "more than Le", "64 KiB in one", "61xx and nothing"];

    [SkippableTheory]
    [MemberData(nameof(HostileCards))]
    public async Task Transmit_HostileAnswer_Malformed(string hostile)
    {
        Prerequisite.SkipIfMissing(pcscd.Daemon is null, PcscDaemon.SkipReason);
        Func<byte[], byte[]?> answer = hostile switch
        {
            "one byte" => _ => [0x90],
            "more than Le" => _ => [.. Blob(300), 0x90, 0x00],
            "64 KiB in one" => _ => [.. Blob(65533), 0x90, 0x00],
            "61xx and nothing" => _ => [0x61, 0x00],
            _ => throw new ArgumentOutOfRangeException(nameof(hostile)),
        };
        await using var inserted = await InsertAsync(new ScriptedCard(Atr, answer));
        using var channel = await OpenWhenPresentAsync();

        var e = Assert.Throws<CardException>(() => channel.Transmit(Convert.FromHexString("80CA000010")));

        Assert.Equal(CardRefusal.Malformed, e.Refusal);
        Assert.Contains(PcscDaemon.FirstReader, e.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Transmit_CardPulledInATransaction_CardRemovedEveryTimeAfter()
    {
        Prerequisite.SkipIfMissing(pcscd.Daemon is null, PcscDaemon.SkipReason);
        var inserted = await InsertAsync(new ScriptedCard(Atr, _ => [0x90, 0x00]));
        using var channel = await OpenWhenPresentAsync();
        var transaction = channel.BeginTransaction();
        Assert.Equal([0x90, 0x00], channel.Transmit(Convert.FromHexString("80CA000000")));

        await inserted.PullAsync();

        var first = Assert.Throws<CardException>(() => channel.Transmit(Convert.FromHexString("80CA000000")));
        Assert.Equal(CardRefusal.CardRemoved, first.Refusal);
        Assert.Contains(PcscDaemon.FirstReader, first.Message, StringComparison.Ordinal);
        var again = Assert.Throws<CardException>(() => channel.Transmit(Convert.FromHexString("80CA000000")));
        Assert.Equal(CardRefusal.CardRemoved, again.Refusal);
        transaction.Dispose();
        await inserted.DisposeAsync();
    }

    [SkippableFact]
    public async Task BeginTransaction_TwoChannelsOnOneCard_SecondWaitsUntilTheFirstEnds()
    {
        Prerequisite.SkipIfMissing(pcscd.Daemon is null, PcscDaemon.SkipReason);
        var card = new ScriptedCard(Atr, _ => [0x90, 0x00]);
        await using var inserted = await InsertAsync(card);
        using var first = await OpenWhenPresentAsync();
        using var second = _readers.OpenChannel(PcscDaemon.FirstReader);

        Task<byte[]> waiting;
        using (first.BeginTransaction())
        {
            first.Transmit(Convert.FromHexString("80010000"));
            waiting = Task.Run(() => second.Transmit(Convert.FromHexString("80020000")));

            // pcsc-lite keeps the second out (its SCardBeginTransaction polls) while the first holds the card.
            await Task.Delay(TimeSpan.FromSeconds(1));
            Assert.False(waiting.IsCompleted);
            first.Transmit(Convert.FromHexString("80030000"));
        }

        Assert.Equal([0x90, 0x00], await waiting.WaitAsync(Deadline));
        Assert.Equal(["80010000", "80030000", "80020000"], card.Commands.Select(Convert.ToHexString).Where(c => c.StartsWith("800", StringComparison.Ordinal)));
    }

    [SkippableFact]
    public async Task Transmit_AnotherChannelHoldsTheCardTooLong_RefusedAndTheHolderGoesOn()
    {
        Prerequisite.SkipIfMissing(pcscd.Daemon is null, PcscDaemon.SkipReason);
        var card = new ScriptedCard(Atr, _ => [0x90, 0x00]);
        await using var inserted = await InsertAsync(card);
        using var holder = await OpenWhenPresentAsync();
        var impatient = new PcscCardReaders(_ => throw new InvalidOperationException(), TimeSpan.FromSeconds(1));
        using var waiter = impatient.OpenChannel(PcscDaemon.FirstReader);

        using (holder.BeginTransaction())
        {
            var e = await Task.Run(() => Assert.Throws<CardException>(() => waiter.Transmit(Convert.FromHexString("80020000"))));

            Assert.Equal(CardRefusal.Refused, e.Refusal);
            Assert.Contains(PcscDaemon.FirstReader, e.Message, StringComparison.Ordinal);
            Assert.Equal([0x90, 0x00], holder.Transmit(Convert.FromHexString("80010000")));
        }

        Assert.Equal([0x90, 0x00], holder.Transmit(Convert.FromHexString("80030000")));
        Assert.DoesNotContain("80020000", card.Commands.Select(Convert.ToHexString));
    }

    [SkippableFact]
    public async Task Open_CardInTheReader_DriverGetsItsChannel()
    {
        Prerequisite.SkipIfMissing(pcscd.Daemon is null, PcscDaemon.SkipReason);
        await using var inserted = await InsertAsync(new ScriptedCard(Atr, _ => [0x90, 0x00]));
        IApduChannel? given = null;
        var readers = new PcscCardReaders(channel =>
        {
            given = channel;
            return EmulatedCard.CreateVirtual(new byte[24]);
        });

        using var device = await EventuallyAsync(() => readers.Open(PcscDaemon.FirstReader));

        Assert.NotNull(given);
        Assert.Equal(Convert.FromHexString(Atr), given.Atr);
        Assert.Equal([0x90, 0x00], given.Transmit([0x80, 0x01, 0x00, 0x00]));
        given.Dispose();
    }

    private static byte[] Blob(int length) => [.. Enumerable.Range(0, length).Select(i => (byte)(i * 7))];

    // The card goes into the first reader and answers until the returned handle is disposed (pulled).
    private async Task<Inserted> InsertAsync(IApduProcessor card)
    {
        var link = await VpcdLink.ConnectAsync(card, port: PcscDaemon.FirstPort);
        var stop = new CancellationTokenSource();
        return new Inserted(this, link, stop, link.ServeAsync(stop.Token));
    }

    private Task<PcscChannel> OpenWhenPresentAsync() => EventuallyAsync(() => _readers.OpenChannel(PcscDaemon.FirstReader));

    // pcscd sees a card put in (or the last one pulled) at its next poll of the reader.
    private static async Task<T> EventuallyAsync<T>(Func<T> open)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return open();
            }
            catch (CardException e) when (e.Refusal is CardRefusal.NoCard or CardRefusal.WrongCard && clock.Elapsed < Deadline)
            {
                await Task.Delay(100);
            }
        }
    }

    // A card in the first reader. Disposing pulls it and waits until pcscd sees the reader empty,
    // so that the next test does not find this card's ghost there.
    private sealed class Inserted(PcscReaderTests tests, VpcdLink link, CancellationTokenSource stop, Task serving) : IAsyncDisposable
    {
        private bool _pulled;

        public async Task PullAsync()
        {
            if (_pulled)
            {
                return;
            }

            _pulled = true;
            await stop.CancelAsync();
            await link.DisposeAsync();
            await serving;
            stop.Dispose();
        }

        public async ValueTask DisposeAsync()
        {
            await PullAsync();
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < Deadline)
            {
                try
                {
                    tests._readers.OpenChannel(PcscDaemon.FirstReader).Dispose();
                }
                catch (CardException e) when (e.Refusal == CardRefusal.NoCard)
                {
                    return;
                }
                catch (CardException)
                {
                    // Still going away.
                }

                await Task.Delay(100);
            }
        }
    }
}
