using System.Security.Cryptography;

namespace OpenCM.Smartcards;

/// <summary>
/// The Base CSP admin challenge-response (SPEC §8): the card's 8-byte challenge encrypted with
/// 3DES-EDE in ECB mode under the admin key (the policy's default key, or the card's diversified
/// one). Checkable with <c>openssl enc -des-ede3-ecb -nopad</c>.
/// </summary>
public static class ChallengeResponse
{
    public const int ChallengeLength = 8;

    /// <summary>The response to <paramref name="challenge"/> under <paramref name="adminKey"/>.</summary>
    public static byte[] Respond(ReadOnlySpan<byte> adminKey, ReadOnlySpan<byte> challenge)
    {
        if (adminKey.Length != AdminKeys.KeyLength)
        {
            throw new ArgumentException($"An admin key is {AdminKeys.KeyLength} bytes.", nameof(adminKey));
        }

        if (challenge.Length != ChallengeLength)
        {
            throw new ArgumentException($"A challenge is {ChallengeLength} bytes.", nameof(challenge));
        }

        // E(K1) · D(K2) · E(K3) with single DES: .NET's TripleDES refuses keys whose thirds repeat,
        // and the cards' well-known default key (01…08 three times) is exactly such a key.
        var block = challenge.ToArray();
        block = Des(adminKey[..8], block, encrypt: true);
        block = Des(adminKey[8..16], block, encrypt: false);
        return Des(adminKey[16..], block, encrypt: true);
    }

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA5351:Do Not Use Broken Cryptographic Algorithms",
        Justification = "The Base CSP smart card admin challenge is 3DES by the card's own protocol; OpenCM must answer it as the card computes it.")]
    private static byte[] Des(ReadOnlySpan<byte> key, byte[] block, bool encrypt)
    {
        using var des = DES.Create();
        des.Key = key.ToArray();
        return encrypt ? des.EncryptEcb(block, PaddingMode.None) : des.DecryptEcb(block, PaddingMode.None);
    }
}
