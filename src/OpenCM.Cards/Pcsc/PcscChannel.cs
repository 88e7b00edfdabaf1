using System.Runtime.CompilerServices;

namespace OpenCM.Cards.Pcsc;

/// <summary>
/// The way to one card in a PC/SC reader (issue #22.2): a shared connection by T=0 or T=1 that
/// a card driver (GIDS) speaks through. Every <see cref="Transmit"/> is whole: <c>61xx</c> is
/// followed by GET RESPONSE and <c>6Cxx</c> by the command again with the Le the card asked for,
/// up to 64 KiB of answer, inside a PC/SC transaction so that no other program's command slips
/// between the pieces. A card is not trusted: an answer without a status word, with more data than
/// the command allows, or running past 64 KiB is <see cref="CardRefusal.Malformed"/>; a card gone
/// mid-way is <see cref="CardRefusal.CardRemoved"/>. Waiting for another program's transaction
/// is bounded (<see cref="DefaultTransactionWait"/>). Disposing leaves the card as it is
/// (SCARD_LEAVE_CARD) and releases the PC/SC context the channel owns.
/// </summary>
public sealed class PcscChannel : IApduChannel
{
    /// <summary>
    /// How long a channel waits for the card while another program holds it in a transaction:
    /// pcsc-lite's SCardBeginTransaction would wait forever, and a client stuck without a word is
    /// worse than one that says who holds the card. A program's transaction lasts milliseconds to
    /// seconds; a minute is one that is stuck.
    /// </summary>
    public static readonly TimeSpan DefaultTransactionWait = TimeSpan.FromMinutes(1);

    // A response APDU: up to 64 KiB of data and the status word.
    private const int ReceiveBuffer = ApduShape.MaxExtendedData + 2;

    // A card that answers 61xx to every GET RESPONSE would keep the client here forever. 64 KiB in
    // 64-byte pieces is 1024 rounds; a real card gives what it said it has (up to 256 a round).
    private const int MaxGetResponseRounds = 1024;

    private readonly IPcscApi _api;
    private readonly nint _context;
    private readonly nint _card;
    private readonly uint _protocol;
    private readonly byte[] _atr;
    private readonly byte[] _buffer = new byte[ReceiveBuffer];
    private readonly Lock _gate = new();
    private readonly TimeSpan _transactionWait;
    private int _depth;
    private bool _disposed;

    // Set when a wait for the card ran out: the handle was disconnected to end the wait.
    private bool _gaveUp;

    internal PcscChannel(IPcscApi api, nint context, nint card, uint protocol, string reader, byte[] atr, TimeSpan transactionWait)
    {
        _api = api;
        _context = context;
        _card = card;
        _protocol = protocol;
        Reader = reader;
        _atr = atr;
        _transactionWait = transactionWait;
    }

    /// <summary>The reader's name, as PC/SC lists it.</summary>
    public string Reader { get; }

    public byte[] Atr => (byte[])_atr.Clone();

    /// <summary>The PC/SC protocol in use: 1 for T=0, 2 for T=1.</summary>
    public int Protocol => (int)_protocol;

    public byte[] Transmit(ReadOnlySpan<byte> command)
    {
        // A command shorter than a header, or longer than the longest extended APDU, is the driver's mistake, not the card's.
        if (command.Length is < 4 or > 4 + 3 + 65535 + 2)
        {
            throw new ArgumentException("A command APDU is 4 to 65546 bytes.", nameof(command));
        }

        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var implicitTransaction = _depth == 0;
            if (implicitTransaction)
            {
                BeginPcscTransaction();
            }

            try
            {
                return Exchange(command);
            }
            finally
            {
                if (implicitTransaction)
                {
                    // A failure to end is the card gone or reset: the next command says so.
                    _ = _api.EndTransaction(_card);
                }
            }
        }
    }

    /// <summary>
    /// Holds the card for this channel alone (SCardBeginTransaction) until the scope is disposed;
    /// scopes nest, and only the outermost one begins and ends PC/SC's. While another program holds
    /// the card, this waits for it, at most the channel's transaction wait (then
    /// <see cref="CardRefusal.Refused"/>, and the channel is done for). A scope may end on another thread.
    /// </summary>
    public IDisposable BeginTransaction()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_depth == 0)
            {
                BeginPcscTransaction();
            }

            _depth++;
            return new TransactionScope(this);
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;

            // Disconnecting ends a transaction still held; errors here (the card gone) change nothing.
            if (!_gaveUp)
            {
                _ = _api.Disconnect(_card);
            }

            _ = _api.ReleaseContext(_context);
        }
    }

    // SCardBeginTransaction, bounded: pcsc-lite's polls for the card until it is free, looking the
    // handle up each time (winscard_clnt.c), so disconnecting the handle from another thread ends
    // the wait with SCARD_E_INVALID_HANDLE. The channel is then done for; the card is untouched.
    private void BeginPcscTransaction()
    {
        if (_gaveUp)
        {
            throw HeldByAnother();
        }

        var ranOut = new StrongBox<bool>();
        uint rv;
        using (var timeout = new CancellationTokenSource(_transactionWait))
        using (timeout.Token.Register(() =>
        {
            ranOut.Value = true;
            _ = _api.Disconnect(_card);
        }))
        {
            rv = _api.BeginTransaction(_card);
        }

        // Disposing the registration waited for a callback under way: ranOut is settled.
        if (ranOut.Value)
        {
            _gaveUp = true;
            throw HeldByAnother();
        }

        Check(rv);
    }

    private CardException HeldByAnother() =>
        new(CardRefusal.Refused,
            $"Another program held the card in the reader '{Reader}' (a PC/SC transaction) for longer than {_transactionWait.TotalSeconds:0.#} s: close it, then open the reader again.");

    private byte[] Exchange(ReadOnlySpan<byte> command)
    {
        var shape = ApduShape.Of(command);
        var response = Send(command, shape.MaxData);

        // 6Cxx: the Le was wrong and the card says which (ISO/IEC 7816-3 §10.3.3, T=0): send it
        // again with that Le, once. Only a short command's Le is one byte.
        if (Sw1(response) == 0x6C && shape.IsShort)
        {
            var le = response[^1];
            response = Send(ApduShape.WithShortLe(command, shape, le), ApduShape.ShortNe(le));
        }

        if (Sw1(response) != 0x61)
        {
            return response;
        }

        // 61xx: xx more bytes (00: 256 or more) wait for GET RESPONSE (ISO/IEC 7816-4 §7.6.1), on
        // the command's logical channel; the answer is the pieces' data joined, then the last status word.
        var cla = command[0];
        var getResponseCla = (byte)((cla & 0xE0) == 0 ? cla & 0x03 : 0x00);
        var data = new List<byte>(response.Length - 2 + 256);
        data.AddRange(response.AsSpan(0, response.Length - 2));
        for (var round = 1; Sw1(response) == 0x61; round++)
        {
            if (round > MaxGetResponseRounds)
            {
                throw Malformed($"kept answering 61xx past {MaxGetResponseRounds} GET RESPONSEs");
            }

            var le = response[^1];
            byte[] getResponse = [getResponseCla, 0xC0, 0x00, 0x00, le];
            response = Send(getResponse, ApduShape.ShortNe(le));
            if (Sw1(response) == 0x6C)
            {
                le = response[^1];
                getResponse[4] = le;
                response = Send(getResponse, ApduShape.ShortNe(le));
            }

            if (Sw1(response) == 0x61 && response.Length == 2)
            {
                throw Malformed("answered 61xx to GET RESPONSE without sending any of the data");
            }

            data.AddRange(response.AsSpan(0, response.Length - 2));
            if (data.Count > ApduShape.MaxExtendedData)
            {
                throw Malformed("answered more than 64 KiB");
            }
        }

        data.Add(response[^2]);
        data.Add(response[^1]);
        return [.. data];
    }

    // One APDU through PC/SC; the answer must hold a status word and at most maxData bytes of data.
    private byte[] Send(ReadOnlySpan<byte> command, int maxData)
    {
        var rv = _api.Transmit(_card, _protocol, command, _buffer, out var received);
        Check(rv);

        // vsmartcard's vpcd answers nothing when the card's connection closed (the card was pulled
        // and vpcd ejected it, vpcd.c vicc_transmit); a real reader gives an error code instead.
        if (received == 0)
        {
            throw new CardException(CardRefusal.CardRemoved,
                $"The card in the reader '{Reader}' stopped answering (pulled?) during the operation: what it did not confirm did not happen.");
        }

        if (received < 2)
        {
            throw Malformed($"answered {received} byte, less than a status word");
        }

        if (received > _buffer.Length)
        {
            throw Malformed("answered more than a response APDU holds");
        }

        if (received - 2 > maxData)
        {
            throw Malformed($"answered {received - 2} bytes of data where the command allows at most {maxData}");
        }

        return _buffer.AsSpan(0, received).ToArray();
    }

    private static byte Sw1(byte[] response) => response[^2];

    private void Check(uint rv)
    {
        if (rv != PcscErrors.Success)
        {
            throw PcscErrors.ToException(rv, Reader, PcscStage.Operation);
        }
    }

    private CardException Malformed(string what) =>
        new(CardRefusal.Malformed, $"The card in the reader '{Reader}' {what}.");

    private void EndTransaction()
    {
        lock (_gate)
        {
            if (--_depth == 0 && !_disposed)
            {
                // As in Transmit: an end that fails leaves the next command to say why.
                _ = _api.EndTransaction(_card);
            }
        }
    }

    private sealed class TransactionScope(PcscChannel channel) : IDisposable
    {
        private int _ended;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _ended, 1) == 0)
            {
                channel.EndTransaction();
            }
        }
    }
}
