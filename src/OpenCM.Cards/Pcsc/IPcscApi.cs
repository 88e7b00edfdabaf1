namespace OpenCM.Cards.Pcsc;

/// <summary>
/// The PC/SC calls the readers and channels make (winscard's API as pcsc-lite has it), each
/// returning PC/SC's result code (<see cref="PcscErrors"/>; 0 is success). The seam between
/// the channel's logic and libpcsclite (<see cref="LibPcscLite"/>), so that what the real daemon
/// cannot be made to do in a test (not running, a library that is not installed, a buffer too
/// small) is tested with a hand-written fake.
/// </summary>
internal interface IPcscApi
{
    uint EstablishContext(out nint context);

    uint ReleaseContext(nint context);

    /// <summary>The readers as PC/SC gives them: a multi-string (UTF-8 names, each NUL-terminated, an empty one last).</summary>
    uint ListReaders(nint context, out byte[] multiString);

    /// <summary>Connects shared to the card in <paramref name="reader"/> by T=0 or T=1; <paramref name="protocol"/> is the one in use.</summary>
    uint Connect(nint context, string reader, out nint card, out uint protocol);

    /// <summary>The card's answer-to-reset.</summary>
    uint Status(nint card, out byte[] atr);

    /// <summary>
    /// One command APDU to the card and its answer into <paramref name="response"/>;
    /// <paramref name="received"/> is the length PC/SC reports, which a caller checks against the
    /// buffer's (a library that reports more than it had room for is not trusted).
    /// </summary>
    uint Transmit(nint card, uint protocol, ReadOnlySpan<byte> command, Span<byte> response, out int received);

    uint BeginTransaction(nint card);

    /// <summary>Ends the transaction leaving the card as it is (SCARD_LEAVE_CARD).</summary>
    uint EndTransaction(nint card);

    /// <summary>Disconnects leaving the card as it is (SCARD_LEAVE_CARD): another program's session on it goes on.</summary>
    uint Disconnect(nint card);
}
