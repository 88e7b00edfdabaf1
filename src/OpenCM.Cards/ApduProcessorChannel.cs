using OpenCM.Cards.Apdu;

namespace OpenCM.Cards;

/// <summary>
/// An <see cref="IApduChannel"/> straight to a card emulator in this process (an
/// <see cref="IApduProcessor"/>): what tests and <c>opencm card</c> trials use in place of a PC/SC
/// reader. It does what a PC/SC channel does for a driver: follows 61xx with GET RESPONSE and
/// 6Cxx with the length the card asked for. A transaction is the channel's own, as PC/SC's is the
/// card handle's: the card sits in this process and no other program can slip a command in, so
/// the channel only counts them (<see cref="TransactionDepth"/>, which tests read to see that a
/// driver's steps run inside one); a scope may end on another thread than it began (an await).
/// </summary>
public sealed class ApduProcessorChannel : IApduChannel
{
    // A card that keeps answering 61xx would keep a driver here forever; a GIDS answer is under 64 KiB.
    private const int MaxResponseLength = 65536 + 2;

    private readonly IApduProcessor _card;
    private int _depth;
    private bool _disposed;

    public ApduProcessorChannel(IApduProcessor card)
    {
        ArgumentNullException.ThrowIfNull(card);
        _card = card;
    }

    public byte[] Atr => (byte[])_card.Atr.Clone();

    /// <summary>How many transactions are open on this channel now.</summary>
    public int TransactionDepth => Volatile.Read(ref _depth);

    public byte[] Transmit(ReadOnlySpan<byte> command)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var response = ResponseApdu.Parse(_card.Process(command));

        // 6Cxx: wrong Le, the card says which; the command is sent again with it (ISO 7816-3 T=0).
        if (response.StatusWord >> 8 == 0x6C && command.Length >= 5)
        {
            var again = command.ToArray();
            again[^1] = (byte)response.StatusWord;
            response = ResponseApdu.Parse(_card.Process(again));
        }

        var data = new List<byte>(response.Data);
        while (response.StatusWord >> 8 == 0x61)
        {
            var le = response.StatusWord & 0xFF;
            response = ResponseApdu.Parse(_card.Process(CommandApdu.Build(0x00, 0xC0, 0x00, 0x00, le: le == 0 ? 256 : le)));
            data.AddRange(response.Data);
            if (data.Count > MaxResponseLength)
            {
                throw new CardException(CardRefusal.Malformed, "The card's answer runs past 64 KiB.");
            }
        }

        data.Add((byte)(response.StatusWord >> 8));
        data.Add((byte)response.StatusWord);
        return [.. data];
    }

    public IDisposable BeginTransaction()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Interlocked.Increment(ref _depth);
        return new Scope(this);
    }

    public void Dispose() => _disposed = true;

    private sealed class Scope(ApduProcessorChannel channel) : IDisposable
    {
        private int _ended;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _ended, 1) == 0)
            {
                Interlocked.Decrement(ref channel._depth);
            }
        }
    }
}
