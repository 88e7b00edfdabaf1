namespace OpenCM.Cards;

/// <summary>Why a card (or the way to it) refused an operation, as a card's status word or PC/SC would say.</summary>
public enum CardRefusal
{
    /// <summary>The admin response did not match the card's challenge under its admin key (or no challenge was asked for).</summary>
    AdminAuthenticationFailed = 1,

    /// <summary>The user PIN was wrong; the card counts down.</summary>
    WrongPin = 2,

    /// <summary>The user PIN is blocked: only an admin-authenticated unblock sets a new one.</summary>
    PinBlocked = 3,

    /// <summary>The PIN is not one the card takes, or no PIN was ever set.</summary>
    PinInvalid = 4,

    /// <summary>No key container by that name, or it holds no key.</summary>
    NoSuchContainer = 5,

    /// <summary>A certificate whose public key is not the container's.</summary>
    CertificateMismatch = 6,

    /// <summary>No smart card reader is attached, or none by the name asked for (PC/SC).</summary>
    NoReader = 7,

    /// <summary>The reader holds no card.</summary>
    NoCard = 8,

    /// <summary>The card was pulled (or reset by another program) during the operation: what it did not confirm did not happen.</summary>
    CardRemoved = 9,

    /// <summary>The card in the reader is not one this client can personalize (no GIDS application), or not the card the operation began with.</summary>
    WrongCard = 10,

    /// <summary>The card answered something that is not a well-formed answer to the command (garbage, oversized, a wrong tag).</summary>
    Malformed = 11,

    /// <summary>The card has no room for another key or file.</summary>
    CardFull = 12,

    /// <summary>The card does not do what was asked (an algorithm, a key size, importing a key).</summary>
    Unsupported = 13,

    /// <summary>The card refused with a status word this client has no closer kind for; the message carries it.</summary>
    Refused = 14,
}

/// <summary>A card refused an operation.</summary>
public sealed class CardException : Exception
{
    public CardException()
        : this(CardRefusal.AdminAuthenticationFailed)
    {
    }

    public CardException(string message)
        : base(message)
    {
    }

    public CardException(string message, Exception inner)
        : base(message, inner)
    {
    }

    public CardException(CardRefusal refusal)
        : base($"The card refused the operation: {refusal}.") => Refusal = refusal;

    /// <summary>A refusal with a message that says more (the reader's name, the status word); never a PIN or a key.</summary>
    public CardException(CardRefusal refusal, string message)
        : base(message) => Refusal = refusal;

    /// <summary>As <see cref="CardException(CardRefusal, string)"/>, with the error beneath (a PC/SC code, a socket error).</summary>
    public CardException(CardRefusal refusal, string message, Exception inner)
        : base(message, inner) => Refusal = refusal;

    public CardRefusal Refusal { get; }
}
