using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace OpenCM.Cards.Gids;

/// <summary>
/// Lets .NET's <see cref="CertificateRequest"/> build a PKCS#10 request whose signature a card
/// makes: the request's public key is the card's, its algorithm sha*WithRSAEncryption (RFC 8017
/// appendix A.2.4, parameters NULL), and each signature comes from the card.
/// </summary>
internal sealed class CardRsaSignatureGenerator(byte[] subjectPublicKeyInfo, Func<byte[], HashAlgorithmName, byte[]> sign) : X509SignatureGenerator
{
    public override byte[] GetSignatureAlgorithmIdentifier(HashAlgorithmName hashAlgorithm)
    {
        byte last = hashAlgorithm.Name switch
        {
            "SHA1" => 0x05,
            "SHA256" => 0x0B,
            "SHA384" => 0x0C,
            "SHA512" => 0x0D,
            _ => throw new CardException(CardRefusal.Unsupported, $"The card signs SHA-1 and SHA-2 digests, not {hashAlgorithm.Name}."),
        };

        // SEQUENCE { OID 1.2.840.113549.1.1.x, NULL }
        return [0x30, 0x0D, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, last, 0x05, 0x00];
    }

    public override byte[] SignData(byte[] data, HashAlgorithmName hashAlgorithm) => sign(data, hashAlgorithm);

    protected override PublicKey BuildPublicKey() => PublicKey.CreateFromSubjectPublicKeyInfo(subjectPublicKeyInfo, out _);
}

/// <summary>The DER prefixes of PKCS#1 v1.5 DigestInfo (RFC 8017 §9.2, note 1): what the card pads and signs, as OpenSC hands it (SC_ALGORITHM_RSA_HASH_NONE).</summary>
internal static class DigestInfo
{
    public static byte[] Prefix(HashAlgorithmName hash) => hash.Name switch
    {
        "SHA1" => [0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2B, 0x0E, 0x03, 0x02, 0x1A, 0x05, 0x00, 0x04, 0x14],
        "SHA256" => [0x30, 0x31, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20],
        "SHA384" => [0x30, 0x41, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30],
        "SHA512" => [0x30, 0x51, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40],
        _ => throw new CardException(CardRefusal.Unsupported, $"The card signs SHA-1 and SHA-2 digests, not {hash.Name}."),
    };
}
