using OpenCM.Cards;
using OpenCM.Cards.Emulation;
using OpenCM.TestKit;

namespace OpenCM.Cards.Tests;

/// <summary>
/// A card emulator put into vsmartcard's virtual reader is a card to the real PC/SC stack (issue
/// #22.4): pcscd powers it up, and OpenSC, an independent client, reads its ATR and gets its answers.
/// </summary>
[Collection(PcscCollection.Name)]
public sealed class VpcdLinkTests : IAsyncLifetime
{
    private PcscDaemon? _pcscd;

    public async Task InitializeAsync() => _pcscd = await PcscDaemon.AcquireAsync();

    public async Task DisposeAsync()
    {
        if (_pcscd is not null)
        {
            await _pcscd.ReleaseAsync();
        }
    }

    [SkippableFact]
    public async Task VpcdLink_ToyCardInTheFirstReader_OpenscReadsItsAtrAndAnswer()
    {
        Prerequisite.SkipIfMissing(_pcscd is null, PcscDaemon.SkipReason);
        var card = new ToyCard();
        using var stop = new CancellationTokenSource();
        await using (var link = await VpcdLink.ConnectAsync(card, port: PcscDaemon.FirstPort))
        {
            var serving = link.ServeAsync(stop.Token);

            var atr = await EventuallyAsync(async () => await OpenSc.RunAsync("opensc-tool", ["-r", "0", "-a"]), r => r.ExitCode == 0);
            Assert.Contains("3b:80:80:01:01", atr.Output, StringComparison.OrdinalIgnoreCase);

            var answer = await OpenSc.RunAsync("opensc-tool", ["-r", "0", "-s", "00A4040000"]);
            Assert.True(answer.ExitCode == 0, answer.All);
            Assert.Contains("SW1=0x6A, SW2=0x82", answer.Output, StringComparison.Ordinal);
            Assert.Contains(card.Commands, c => c.SequenceEqual(Convert.FromHexString("00A4040000")));

            await stop.CancelAsync();
            await serving;
        }

        // Pulled: the reader is empty again.
        var empty = await EventuallyAsync(async () => await OpenSc.RunAsync("opensc-tool", ["-r", "0", "-a"]), r => r.ExitCode != 0);
        Assert.Contains("not present", empty.All, StringComparison.OrdinalIgnoreCase);
    }

    // pcscd polls the virtual reader: a card inserted or pulled shows after a moment.
    private static async Task<OpenSsl.Result> EventuallyAsync(Func<Task<OpenSsl.Result>> run, Func<OpenSsl.Result, bool> done)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            var result = await run();
            if (done(result) || DateTime.UtcNow > deadline)
            {
                return result;
            }

            await Task.Delay(200);
        }
    }

    // A card that knows nothing: its ATR (T=1), and "file not found" to every command.
    private sealed class ToyCard : IApduProcessor
    {
        public byte[] Atr { get; } = Convert.FromHexString("3B80800101");

        public List<byte[]> Commands { get; } = [];

        public void Reset()
        {
        }

        public byte[] Process(ReadOnlySpan<byte> command)
        {
            lock (Commands)
            {
                Commands.Add(command.ToArray());
            }

            return [0x6A, 0x82];
        }
    }
}
