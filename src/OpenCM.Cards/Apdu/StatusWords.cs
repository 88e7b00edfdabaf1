namespace OpenCM.Cards.Apdu;

/// <summary>
/// What a card's status word means for the client (ISO/IEC 7816-4 §5.6, and the GIDS
/// specification's use of them): the one place a status word becomes a <see cref="CardRefusal"/>.
/// </summary>
public static class StatusWords
{
    /// <summary>
    /// The refusal for a status word that is not 9000. <paramref name="notAuthenticated"/> is what
    /// "security status not satisfied" (6982, 6985, 6300) means for this command: a wrong or missing
    /// admin authentication for an admin operation, a missing PIN for a user one.
    /// </summary>
    public static CardException ToException(ushort statusWord, string operation, CardRefusal notAuthenticated = CardRefusal.Refused)
    {
        var refusal = statusWord switch
        {
            // 63Cx: verification failed, x tries left; at zero the reference is blocked.
            >= 0x63C1 and <= 0x63CF => CardRefusal.WrongPin,
            0x63C0 or 0x6983 => CardRefusal.PinBlocked,
            0x6300 or 0x6982 or 0x6985 => notAuthenticated,
            0x6A84 or 0x6581 => CardRefusal.CardFull,
            0x6A82 or 0x6A88 => CardRefusal.NoSuchContainer,
            0x6A81 or 0x6D00 or 0x6E00 or 0x6A86 => CardRefusal.Unsupported,
            _ => CardRefusal.Refused,
        };
        var tries = refusal == CardRefusal.WrongPin ? $" ({statusWord & 0x0F} tries left)" : "";
        return new CardException(refusal, $"The card refused {operation}: status {statusWord:X4}{tries}.");
    }

    /// <summary>The tries left that a 63Cx status word reports, or null for any other.</summary>
    public static int? TriesLeft(ushort statusWord) =>
        (statusWord & 0xFFF0) == 0x63C0 ? statusWord & 0x0F : null;
}
