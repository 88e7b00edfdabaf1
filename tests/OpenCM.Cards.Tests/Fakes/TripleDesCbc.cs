using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;

namespace OpenCM.Cards.Tests.Fakes;

/// <summary>
/// 3DES-EDE in CBC mode with a zero IV and no padding, as decision 0013 has the server answer a
/// GIDS card's 40-byte challenge; built from single DES because .NET's TripleDES refuses the
/// cards' well-known default key (its thirds repeat). Pinned against openssl by a known vector.
/// </summary>
internal static class TripleDesCbc
{
    public static byte[] Encrypt(ReadOnlySpan<byte> key, ReadOnlySpan<byte> data)
    {
        var output = new byte[data.Length];
        Span<byte> chain = stackalloc byte[8];
        for (var i = 0; i < data.Length; i += 8)
        {
            var block = data.Slice(i, 8).ToArray();
            for (var j = 0; j < 8; j++)
            {
                block[j] ^= chain[j];
            }

            block = Ede(key, block, encrypt: true);
            block.CopyTo(output, i);
            block.CopyTo(chain);
        }

        return output;
    }

    public static byte[] Decrypt(ReadOnlySpan<byte> key, ReadOnlySpan<byte> data)
    {
        var output = new byte[data.Length];
        var chain = new byte[8];
        for (var i = 0; i < data.Length; i += 8)
        {
            var cipher = data.Slice(i, 8).ToArray();
            var block = Ede(key, cipher, encrypt: false);
            for (var j = 0; j < 8; j++)
            {
                output[i + j] = (byte)(block[j] ^ chain[j]);
            }

            chain = cipher;
        }

        return output;
    }

    private static byte[] Ede(ReadOnlySpan<byte> key, byte[] block, bool encrypt) => encrypt
        ? Des(key[16..], Des(key[8..16], Des(key[..8], block, true), false), true)
        : Des(key[..8], Des(key[8..16], Des(key[16..], block, false), true), false);

    [SuppressMessage("Security", "CA5351:Do Not Use Broken Cryptographic Algorithms", Justification = "The GIDS admin authentication is 3DES by the card's own protocol.")]
    private static byte[] Des(ReadOnlySpan<byte> key, byte[] block, bool encrypt)
    {
        using var des = DES.Create();
        des.Key = key.ToArray();
        return encrypt ? des.EncryptEcb(block, PaddingMode.None) : des.DecryptEcb(block, PaddingMode.None);
    }
}
