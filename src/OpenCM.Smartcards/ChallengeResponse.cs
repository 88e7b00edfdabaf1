using System.Security.Cryptography;

namespace OpenCM.Smartcards;

/// <summary>
/// The admin challenge-response (SPEC §8; decision 0013): the card's challenge encrypted with
/// 3DES-EDE in CBC mode, zero IV, no padding, under the admin key (the policy's default key, or
/// the card's diversified one). A Base CSP card's challenge is one 8-byte block, for which CBC with
/// a zero IV is exactly the ECB answer MIM CM gives; a GIDS card's mutual authentication asks the
/// host to encrypt the 40-byte block R2 || R1 || Z1 (OpenSC card-gids.c, gids_authenticate_admin).
/// Checkable with <c>openssl enc -des-ede3-cbc -nopad -iv 0000000000000000</c>.
/// </summary>
public static class ChallengeResponse
{
    /// <summary>A Base CSP card's challenge: one 3DES block.</summary>
    public const int ChallengeLength = BlockLength;

    /// <summary>The longest challenge answered: a GIDS card's R2 || R1 || Z1 (decision 0013).</summary>
    public const int MaxChallengeLength = 40;

    /// <summary>A 3DES block; a challenge is a whole number of them.</summary>
    public const int BlockLength = 8;

    /// <summary>Whether a challenge of <paramref name="length"/> bytes is one this class answers: 8 to 40, a multiple of 8.</summary>
    public static bool IsValidLength(int length) => length is >= ChallengeLength and <= MaxChallengeLength && length % BlockLength == 0;

    /// <summary>The response to <paramref name="challenge"/> under <paramref name="adminKey"/>.</summary>
    public static byte[] Respond(ReadOnlySpan<byte> adminKey, ReadOnlySpan<byte> challenge)
    {
        if (adminKey.Length != AdminKeys.KeyLength)
        {
            throw new ArgumentException($"An admin key is {AdminKeys.KeyLength} bytes.", nameof(adminKey));
        }

        if (!IsValidLength(challenge.Length))
        {
            throw new ArgumentException($"A challenge is {ChallengeLength} to {MaxChallengeLength} bytes, a multiple of {BlockLength}.", nameof(challenge));
        }

        // E(K1) · D(K2) · E(K3) with single DES, block by block in CBC: .NET's TripleDES refuses
        // keys whose thirds repeat, and the cards' well-known default key (01…08 three times) is
        // exactly such a key. With a zero IV the first block is the ECB answer (one block, Base CSP).
        using var k1 = Des(adminKey[..8]);
        using var k2 = Des(adminKey[8..16]);
        using var k3 = Des(adminKey[16..]);
        var response = new byte[challenge.Length];
        Span<byte> chain = stackalloc byte[BlockLength];
        chain.Clear();
        var block = new byte[BlockLength];
        for (var offset = 0; offset < challenge.Length; offset += BlockLength)
        {
            for (var i = 0; i < BlockLength; i++)
            {
                block[i] = (byte)(challenge[offset + i] ^ chain[i]);
            }

            var step = k1.EncryptEcb(block, PaddingMode.None);
            step = k2.DecryptEcb(step, PaddingMode.None);
            step = k3.EncryptEcb(step, PaddingMode.None);
            step.CopyTo(response, offset);
            step.CopyTo(chain);
        }

        CryptographicOperations.ZeroMemory(block);
        return response;
    }

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA5351:Do Not Use Broken Cryptographic Algorithms",
        Justification = "The smart card admin challenge is 3DES by the cards' own protocol (Base CSP, GIDS); OpenCM must answer it as the card computes it.")]
    private static DES Des(ReadOnlySpan<byte> key)
    {
        var des = DES.Create();
        des.Key = key.ToArray();
        return des;
    }
}
