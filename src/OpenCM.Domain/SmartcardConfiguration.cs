namespace OpenCM.Domain;

/// <summary>Who sets a new card's user PIN.</summary>
public enum UserPinOption
{
    /// <summary>The user chooses it at the card.</summary>
    UserProvided = 0,

    /// <summary>The server proposes one (<c>GET …/serverproposedpin</c>), once per execution.</summary>
    ServerProposed = 1,
}

/// <summary>Which characters a user PIN may hold.</summary>
public enum PinCharacters
{
    Digits = 0,
    Alphanumeric = 1,
    Any = 2,
}

/// <summary>
/// A smart card template's card policy (issue #8, walkthrough steps 12-13): the admin key a
/// blank card carries and whether the server diversifies it, the PIN rules, the middleware and
/// the kinds of card it issues to.
/// </summary>
public sealed record SmartcardConfiguration
{
    /// <summary>The well-known default admin key of Base CSP cards: 01…08, three times.</summary>
    public const string BaseCspDefaultAdminKeyHex = "010203040506070801020304050607080102030405060708";

    /// <summary>The 3DES admin key (48 hex digits) a blank card carries; the client first authenticates with it.</summary>
    public string DefaultAdminKeyHex { get; init; } = BaseCspDefaultAdminKeyHex;

    /// <summary>Whether each card gets its own admin key, derived from the server's master admin key and the card id.</summary>
    public bool DiversifyAdminKey { get; init; } = true;

    /// <summary>The derivation's name (SPEC §8); only the one OpenCM implements is accepted.</summary>
    public string AdminKeyDiversificationAlgorithm { get; init; } = DiversificationAlgorithms.Sp800108HmacSha256;

    public UserPinOption UserPinOption { get; init; } = UserPinOption.UserProvided;

    public int MinimumPinLength { get; init; } = 6;

    public int MaximumPinLength { get; init; } = 8;

    public PinCharacters PinCharacters { get; init; } = PinCharacters.Digits;

    /// <summary>The card middleware the client personalizes the card with.</summary>
    public string Middleware { get; init; } = "Microsoft Base Smart Card Crypto Provider";

    /// <summary>Whether physical cards may be issued to.</summary>
    public bool PhysicalCards { get; init; } = true;

    /// <summary>Whether virtual (TPM) smart cards may be issued to.</summary>
    public bool VirtualCards { get; init; }

    /// <summary>How long a temporary card's certificates last at most (TemporaryCards), in days.</summary>
    public int TemporaryCardValidityDays { get; init; } = 7;

    /// <summary>The policy of a smart card template that states none (as templates imported before issue #8 do).</summary>
    public static SmartcardConfiguration DefaultFor(bool isVirtual) => new() { PhysicalCards = !isVirtual, VirtualCards = isVirtual };
}

/// <summary>The admin-key derivations OpenCM knows (OpenCM.Smartcards implements them).</summary>
public static class DiversificationAlgorithms
{
    public const string Sp800108HmacSha256 = "SP800-108-CTR-HMAC-SHA256";

    public static readonly IReadOnlySet<string> Known = new HashSet<string>(StringComparer.Ordinal) { Sp800108HmacSha256 };
}
