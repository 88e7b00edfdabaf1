using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace OpenCM.Authority.Pkcs11;

/// <summary>
/// Signs with a key that stays in the token (C_Sign), for certificates, CRLs and PKCS#10 requests
/// alike: anything .NET builds with an <see cref="X509SignatureGenerator"/>. The AlgorithmIdentifier
/// is the one .NET's own generator writes for the same public key and padding, so a token-signed
/// certificate is encoded exactly as a software-signed one.
/// </summary>
public sealed class Pkcs11SignatureGenerator : X509SignatureGenerator
{
    private readonly Pkcs11Token _token;
    private readonly string _keyLabel;
    private readonly AsymmetricAlgorithm _publicKey;
    private readonly X509SignatureGenerator _encoding;
    private readonly RSASignaturePadding _padding;

    internal Pkcs11SignatureGenerator(Pkcs11Token token, string keyLabel, AsymmetricAlgorithm publicKey, RSASignaturePadding padding)
    {
        _token = token;
        _keyLabel = keyLabel;
        _publicKey = publicKey;
        _padding = padding;

        // Built over the public key only, and used only for AlgorithmIdentifiers and the PublicKey: it never signs.
        _encoding = publicKey switch
        {
            ECDsa ec => CreateForECDsa(ec),
            RSA rsa => CreateForRSA(rsa, padding),
            _ => throw new CryptographicException("Unsupported token key."),
        };
    }

    /// <summary>The key's label in the token.</summary>
    public string KeyLabel => _keyLabel;

    /// <summary>The token the key is in: other keys beside the CA's (the SCEP RA's) use its sessions.</summary>
    public Pkcs11Token Token => _token;

    /// <summary>Whether the key is an EC key (else RSA).</summary>
    public bool IsEcdsa => _publicKey is ECDsa;

    /// <summary>The key's size in bits (curve size for EC).</summary>
    public int KeySize => _publicKey.KeySize;

    /// <summary>The hash OpenCM signs with for this key: SHA-384 for P-384 and RSA 3072+, else SHA-256 (as <see cref="LocalKeySigner"/>).</summary>
    public HashAlgorithmName PreferredHash => (_publicKey is ECDsa ? KeySize >= 384 : KeySize >= 3072) ? HashAlgorithmName.SHA384 : HashAlgorithmName.SHA256;

    public override byte[] GetSignatureAlgorithmIdentifier(HashAlgorithmName hashAlgorithm) =>
        _encoding.GetSignatureAlgorithmIdentifier(hashAlgorithm);

    public override byte[] SignData(byte[] data, HashAlgorithmName hashAlgorithm)
    {
        ArgumentNullException.ThrowIfNull(data);
        var factories = _token.Factories;
        IMechanism mechanism;
        byte[] input;
        if (_publicKey is ECDsa)
        {
            // CKM_ECDSA signs a digest we compute (PKCS#11 v2.40 §2.3.6), answering r||s.
            mechanism = factories.MechanismFactory.Create(CKM.CKM_ECDSA);
            input = HashData(data, hashAlgorithm);
        }
        else if (_padding == RSASignaturePadding.Pss)
        {
            // RFC 8017 / RFC 4055: MGF1 with the same hash, salt as long as the hash (what .NET writes in the AlgorithmIdentifier).
            var (ckm, hash, mgf, length) = hashAlgorithm.Name switch
            {
                "SHA256" => (CKM.CKM_SHA256_RSA_PKCS_PSS, CKM.CKM_SHA256, CKG.CKG_MGF1_SHA256, 32UL),
                "SHA384" => (CKM.CKM_SHA384_RSA_PKCS_PSS, CKM.CKM_SHA384, CKG.CKG_MGF1_SHA384, 48UL),
                "SHA512" => (CKM.CKM_SHA512_RSA_PKCS_PSS, CKM.CKM_SHA512, CKG.CKG_MGF1_SHA512, 64UL),
                _ => throw new ArgumentOutOfRangeException(nameof(hashAlgorithm), hashAlgorithm.Name, "Unsupported hash."),
            };
            mechanism = factories.MechanismFactory.Create(ckm, factories.MechanismParamsFactory.CreateCkRsaPkcsPssParams((ulong)hash, (ulong)mgf, length));
            input = data;
        }
        else
        {
            mechanism = factories.MechanismFactory.Create(hashAlgorithm.Name switch
            {
                "SHA256" => CKM.CKM_SHA256_RSA_PKCS,
                "SHA384" => CKM.CKM_SHA384_RSA_PKCS,
                "SHA512" => CKM.CKM_SHA512_RSA_PKCS,
                _ => throw new ArgumentOutOfRangeException(nameof(hashAlgorithm), hashAlgorithm.Name, "Unsupported hash."),
            });
            input = data;
        }

        try
        {
            var signature = _token.WithSession(session =>
            {
                var key = session.FindKey(_keyLabel, CKO.CKO_PRIVATE_KEY)
                    ?? throw new CryptographicException($"{_token.Description} has no private key labelled '{_keyLabel}' any more.");
                return session.Session.Sign(mechanism, key, input);
            });
            return _publicKey is ECDsa ? ToDer(signature) : signature;
        }
        finally
        {
            mechanism.Dispose();
        }
    }

    protected override PublicKey BuildPublicKey() => _encoding.PublicKey;

    private static byte[] HashData(byte[] data, HashAlgorithmName hash) => hash.Name switch
    {
        "SHA256" => SHA256.HashData(data),
        "SHA384" => SHA384.HashData(data),
        "SHA512" => SHA512.HashData(data),
        _ => throw new ArgumentOutOfRangeException(nameof(hash), hash.Name, "Unsupported hash."),
    };

    // The token's r||s (each half the length) as the ECDSA-Sig-Value X.509 carries (RFC 3279 §2.2.3).
    private static byte[] ToDer(byte[] signature)
    {
        if (signature.Length == 0 || signature.Length % 2 != 0)
        {
            throw new CryptographicException("The token's ECDSA signature is not r||s.");
        }

        var half = signature.Length / 2;
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteIntegerUnsigned(Minimal(signature.AsSpan(0, half)));
            writer.WriteIntegerUnsigned(Minimal(signature.AsSpan(half)));
        }

        return writer.Encode();
    }

    // r and s are fixed-width in r||s; DER INTEGERs carry no redundant leading zero octets.
    private static ReadOnlySpan<byte> Minimal(ReadOnlySpan<byte> value)
    {
        var start = 0;
        while (start < value.Length - 1 && value[start] == 0)
        {
            start++;
        }

        return value[start..];
    }
}
