using System.Security.Cryptography;

namespace OpenCM.Cards.Emulator;

/// <summary>
/// 3DES-EDE in CBC mode with a zero IV and no padding: the cipher of GIDS's admin mutual
/// authentication (decision 0013; OpenSC's gids_authenticate_admin) and, for one 8-byte block,
/// of the Base CSP-style external authentication. Built from single DES per third of the key, as
/// OpenCM.Smartcards' ChallengeResponse does, because .NET's TripleDES refuses keys whose thirds
/// repeat and the cards' default keys (01…08 three times) are such keys. A key with a third that
/// DES itself calls weak (all zeros, for one) cannot be used at all: <see cref="IsUsable"/>.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA5351:Do Not Use Broken Cryptographic Algorithms",
    Justification = "GIDS admin authentication is 3DES by the card's own protocol; the emulator must compute it as a card does.")]
internal static class AdminCipher
{
    public const int KeyLength = 24;

    /// <summary>Whether .NET's DES takes each third of <paramref name="key"/> (it refuses DES's weak and semi-weak keys).</summary>
    public static bool IsUsable(ReadOnlySpan<byte> key) =>
        key.Length == KeyLength && !Weak(key[..8]) && !Weak(key[8..16]) && !Weak(key[16..]);

    public static byte[] Encrypt(ReadOnlySpan<byte> key, ReadOnlySpan<byte> plain)
    {
        var result = new byte[plain.Length];
        Span<byte> chain = stackalloc byte[8];
        for (var i = 0; i < plain.Length; i += 8)
        {
            var block = new byte[8];
            for (var j = 0; j < 8; j++)
            {
                block[j] = (byte)(plain[i + j] ^ chain[j]);
            }

            block = Des(key[..8], block, encrypt: true);
            block = Des(key[8..16], block, encrypt: false);
            block = Des(key[16..], block, encrypt: true);
            block.CopyTo(result, i);
            block.CopyTo(chain);
        }

        return result;
    }

    public static byte[] Decrypt(ReadOnlySpan<byte> key, ReadOnlySpan<byte> cipher)
    {
        var result = new byte[cipher.Length];
        Span<byte> chain = stackalloc byte[8];
        for (var i = 0; i < cipher.Length; i += 8)
        {
            var block = cipher.Slice(i, 8).ToArray();
            var plain = Des(key[16..], block, encrypt: false);
            plain = Des(key[8..16], plain, encrypt: true);
            plain = Des(key[..8], plain, encrypt: false);
            for (var j = 0; j < 8; j++)
            {
                result[i + j] = (byte)(plain[j] ^ chain[j]);
            }

            block.CopyTo(chain);
        }

        return result;
    }

    private static bool Weak(ReadOnlySpan<byte> third) => DES.IsWeakKey(third.ToArray()) || DES.IsSemiWeakKey(third.ToArray());

    private static byte[] Des(ReadOnlySpan<byte> key, byte[] block, bool encrypt)
    {
        using var des = DES.Create();
        des.Key = key.ToArray();
        return encrypt ? des.EncryptEcb(block, PaddingMode.None) : des.DecryptEcb(block, PaddingMode.None);
    }
}
