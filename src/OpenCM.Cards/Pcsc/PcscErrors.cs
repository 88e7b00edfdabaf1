using System.Globalization;

namespace OpenCM.Cards.Pcsc;

/// <summary>Where in a card's use a PC/SC call failed: the same code means another thing before the card is connected than after.</summary>
internal enum PcscStage
{
    /// <summary>Reaching pcscd and listing its readers: no reader is named yet.</summary>
    Service = 1,

    /// <summary>Connecting to the card in a named reader: an empty reader is "no card".</summary>
    Connect = 2,

    /// <summary>Talking to a connected card: a card gone now was pulled (or reset) mid-operation.</summary>
    Operation = 3,
}

/// <summary>
/// PC/SC's result codes (pcsc-lite's pcsclite.h, the same numbers as Windows' winerror.h) and the
/// one place they become <see cref="CardException"/>s (issue #22.2). Messages name the reader and
/// the code, never a command's or an answer's bytes (they may hold a PIN or a key).
/// </summary>
internal static class PcscErrors
{
    public const uint Success = 0;
    public const uint Cancelled = 0x80100002;
    public const uint InvalidHandle = 0x80100003;
    public const uint InsufficientBuffer = 0x80100008;
    public const uint UnknownReader = 0x80100009;
    public const uint Timeout = 0x8010000A;
    public const uint SharingViolation = 0x8010000B;
    public const uint NoSmartcard = 0x8010000C;
    public const uint ProtoMismatch = 0x8010000F;
    public const uint CommError = 0x80100013;
    public const uint InvalidAtr = 0x80100015;
    public const uint NotTransacted = 0x80100016;
    public const uint ReaderUnavailable = 0x80100017;
    public const uint CardUnsupported = 0x8010001C;
    public const uint NoService = 0x8010001D;
    public const uint ServiceStopped = 0x8010001E;
    public const uint NoReadersAvailable = 0x8010002E;
    public const uint UnsupportedCard = 0x80100065;
    public const uint UnresponsiveCard = 0x80100066;
    public const uint UnpoweredCard = 0x80100067;
    public const uint ResetCard = 0x80100068;
    public const uint RemovedCard = 0x80100069;

    private static readonly Dictionary<uint, string> Names = new()
    {
        [Cancelled] = "SCARD_E_CANCELLED",
        [InvalidHandle] = "SCARD_E_INVALID_HANDLE",
        [InsufficientBuffer] = "SCARD_E_INSUFFICIENT_BUFFER",
        [UnknownReader] = "SCARD_E_UNKNOWN_READER",
        [Timeout] = "SCARD_E_TIMEOUT",
        [SharingViolation] = "SCARD_E_SHARING_VIOLATION",
        [NoSmartcard] = "SCARD_E_NO_SMARTCARD",
        [ProtoMismatch] = "SCARD_E_PROTO_MISMATCH",
        [CommError] = "SCARD_F_COMM_ERROR",
        [InvalidAtr] = "SCARD_E_INVALID_ATR",
        [NotTransacted] = "SCARD_E_NOT_TRANSACTED",
        [ReaderUnavailable] = "SCARD_E_READER_UNAVAILABLE",
        [CardUnsupported] = "SCARD_E_CARD_UNSUPPORTED",
        [NoService] = "SCARD_E_NO_SERVICE",
        [ServiceStopped] = "SCARD_E_SERVICE_STOPPED",
        [NoReadersAvailable] = "SCARD_E_NO_READERS_AVAILABLE",
        [UnsupportedCard] = "SCARD_W_UNSUPPORTED_CARD",
        [UnresponsiveCard] = "SCARD_W_UNRESPONSIVE_CARD",
        [UnpoweredCard] = "SCARD_W_UNPOWERED_CARD",
        [ResetCard] = "SCARD_W_RESET_CARD",
        [RemovedCard] = "SCARD_W_REMOVED_CARD",
    };

    /// <summary>The code's name as pcsclite.h spells it, or its number.</summary>
    public static string Name(uint code) =>
        Names.TryGetValue(code, out var name) ? name : "0x" + code.ToString("X8", CultureInfo.InvariantCulture);

    /// <summary>
    /// What <paramref name="code"/> (not <see cref="Success"/>) means to a card client, at
    /// <paramref name="stage"/> of using <paramref name="reader"/> (null before one is named).
    /// </summary>
    public static CardException ToException(uint code, string? reader, PcscStage stage)
    {
        var name = Name(code);
        var where = reader is null ? "" : $" (reader '{reader}')";
        var (refusal, message) = code switch
        {
            NoService or ServiceStopped =>
                (CardRefusal.NoReader, "pcscd is not running: start PC/SC's service (systemctl start pcscd.socket, or pcscd) and try again"),
            NoReadersAvailable =>
                (CardRefusal.NoReader, "No smart card reader is attached"),
            UnknownReader =>
                (CardRefusal.NoReader, $"No smart card reader is named '{reader}'"),
            ReaderUnavailable when stage == PcscStage.Operation =>
                (CardRefusal.CardRemoved, $"The reader '{reader}' went away during the operation: what the card did not confirm did not happen"),
            ReaderUnavailable =>
                (CardRefusal.NoReader, $"The reader '{reader}' is not available (unplugged?)"),
            NoSmartcard or RemovedCard when stage != PcscStage.Operation =>
                (CardRefusal.NoCard, $"There is no card in the reader '{reader}'"),
            NoSmartcard or RemovedCard =>
                (CardRefusal.CardRemoved, $"The card was pulled from the reader '{reader}' during the operation: what it did not confirm did not happen"),
            ResetCard =>
                (CardRefusal.CardRemoved, $"The card in the reader '{reader}' was reset (by another program?) during the operation: what it did not confirm did not happen"),
            NotTransacted or CommError or UnresponsiveCard or UnpoweredCard when stage == PcscStage.Operation =>
                (CardRefusal.CardRemoved, $"The card in the reader '{reader}' stopped answering (pulled?) during the operation: what it did not confirm did not happen"),
            NotTransacted or CommError or UnresponsiveCard or UnpoweredCard =>
                (CardRefusal.WrongCard, $"The card in the reader '{reader}' does not answer (is it inserted the right way round?)"),
            UnsupportedCard or CardUnsupported or ProtoMismatch or InvalidAtr =>
                (CardRefusal.WrongCard, $"The card in the reader '{reader}' speaks neither T=0 nor T=1, or gave no valid answer-to-reset"),
            SharingViolation =>
                (CardRefusal.Refused, $"Another program holds the card in the reader '{reader}' exclusively: close it and try again"),
            InsufficientBuffer when stage == PcscStage.Operation =>
                (CardRefusal.Malformed, $"The card in the reader '{reader}' answered more than a response APDU holds"),
            _ =>
                (CardRefusal.Refused, reader is null ? "PC/SC refused the operation" : $"PC/SC refused the operation on the reader '{reader}'"),
        };

        // The reader is in the message already where it says more than "where".
        var suffix = reader is not null && message.Contains($"'{reader}'", StringComparison.Ordinal) ? "" : where;
        return new CardException(refusal, $"{message}{suffix} ({name}).");
    }
}
