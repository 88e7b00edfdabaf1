namespace OpenCM.Cards;

/// <summary>
/// A way to one card's APDUs (ISO/IEC 7816-4): a PC/SC reader, or a card emulator in process.
/// A card driver (GIDS) speaks through it and never knows which.
/// </summary>
public interface IApduChannel : IDisposable
{
    /// <summary>The card's answer-to-reset.</summary>
    byte[] Atr { get; }

    /// <summary>
    /// Sends one command APDU and returns the response APDU (data, then SW1 SW2) as the card gave
    /// it; <c>61xx</c> (more data: GET RESPONSE) and <c>6Cxx</c> (wrong Le) are followed here, so
    /// a driver sees whole answers. Throws <see cref="CardException"/> for a pulled card
    /// (<see cref="CardRefusal.CardRemoved"/>) or an answer shorter than a status word
    /// (<see cref="CardRefusal.Malformed"/>).
    /// </summary>
    byte[] Transmit(ReadOnlySpan<byte> command);

    /// <summary>
    /// Holds the card for this client alone until the returned scope is disposed (PC/SC's
    /// SCardBeginTransaction): every multi-APDU step runs inside one, so that no other program
    /// slips a command between an admin authentication and the write it allows.
    /// </summary>
    IDisposable BeginTransaction();
}
