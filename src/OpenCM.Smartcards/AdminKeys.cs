using System.Security.Cryptography;
using System.Text;
using OpenCM.Domain;

namespace OpenCM.Smartcards;

/// <summary>
/// Smart card admin keys (SPEC §8): 24-byte 3DES keys. A card's diversified key is derived from
/// the server's master admin key, the card id and the issuance's key generation (issue #18.7)
/// with NIST SP 800-108's counter-mode KDF over HMAC-SHA256, then given odd DES parity. The algorithm is named in the smart card policy
/// (<see cref="Sp800108HmacSha256"/>) so that others can be added beside it.
/// </summary>
public static class AdminKeys
{
    /// <summary>The policy's name for this derivation.</summary>
    public const string Sp800108HmacSha256 = DiversificationAlgorithms.Sp800108HmacSha256;

    /// <summary>The KDF label: binds derived keys to this use.</summary>
    public static readonly byte[] Label = "OpenCM smart card admin key"u8.ToArray();

    public const int KeyLength = 24;

    /// <summary>
    /// The card's admin key, derived from <paramref name="masterAdminKey"/>, <paramref name="cardId"/>
    /// and <paramref name="generation"/>: each binding of a physical card has a generation of its
    /// own, so the next holder of a card id gets another key than the last one (issue #18.7).
    /// </summary>
    public static byte[] Diversify(ReadOnlySpan<byte> masterAdminKey, string cardId, int generation)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(generation);
        if (masterAdminKey.Length < 16)
        {
            throw new ArgumentException("The master admin key must be at least 128 bits.", nameof(masterAdminKey));
        }

        var key = SP800108HmacCounterKdf.DeriveBytes(masterAdminKey, HashAlgorithmName.SHA256, Label, CardContext(cardId, generation), KeyLength);
        SetOddParity(key);
        return key;
    }

    /// <summary>
    /// The KDF context for a card: the UTF-8 bytes of its id in the form OpenCM keys it
    /// (<see cref="SmartcardRules.CanonicalCardId"/>), then, from generation 1 on, a zero byte and
    /// the generation as four big-endian bytes (a card id never holds a zero byte, so no id and
    /// generation pair shares its context with another). Generation 0 is the id alone: the
    /// context of records from before generations, whose cards keep their keys.
    /// </summary>
    public static byte[] CardContext(string cardId, int generation)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(generation);
        var id = Encoding.UTF8.GetBytes(SmartcardRules.CanonicalCardId(cardId));
        if (generation == 0)
        {
            return id;
        }

        var context = new byte[id.Length + 5];
        id.CopyTo(context, 0);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(context.AsSpan(id.Length + 1), generation);
        return context;
    }

    /// <summary>Sets each byte's low bit so that it has an odd number of one bits, as DES keys carry.</summary>
    public static void SetOddParity(Span<byte> key)
    {
        for (var i = 0; i < key.Length; i++)
        {
            var high = key[i] & 0xFE;
            key[i] = (byte)(high | (System.Numerics.BitOperations.PopCount((uint)high) % 2 == 0 ? 1 : 0));
        }
    }

    /// <summary>Parses a 24-byte key written as 48 hex digits (a policy's default admin key).</summary>
    public static byte[] FromHex(string hex)
    {
        ArgumentNullException.ThrowIfNull(hex);
        var key = Convert.FromHexString(hex.Trim());
        return key.Length == KeyLength ? key : throw new FormatException($"An admin key is {KeyLength} bytes ({KeyLength * 2} hex digits).");
    }
}
