using System.Formats.Asn1;
using System.Security.Cryptography;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace OpenCM.Authority.Pkcs11;

/// <summary>
/// An RSA key whose private half stays in the token, as .NET's <see cref="RSA"/>: Decrypt is
/// C_Decrypt (CKM_RSA_PKCS or CKM_RSA_PKCS_OAEP) and SignHash is C_Sign (CKM_RSA_PKCS over a
/// DigestInfo, or CKM_RSA_PKCS_PSS), on the sessions of the <see cref="Pkcs11Token"/> it came from.
/// What needs an RSA object can use it unchanged: EnvelopedCms.Decrypt(RecipientInfo, AsymmetricAlgorithm)
/// calls Decrypt to unwrap a SCEP envelope's content-encryption key, and SignData hashes and calls
/// SignHash (issue #24: the SCEP RA's key in the CA key source). Encrypt and Verify use the public
/// key in software; the private key cannot be exported or imported.
/// </summary>
public sealed class Pkcs11Rsa : RSA
{
    private readonly Pkcs11Token _token;
    private readonly RSAParameters _public;
    private readonly RSA _software;

    internal Pkcs11Rsa(Pkcs11Token token, string keyLabel, RSAParameters publicParameters)
    {
        _token = token;
        KeyLabel = keyLabel;
        _public = new RSAParameters { Modulus = publicParameters.Modulus, Exponent = publicParameters.Exponent };
        _software = Create(_public);
        KeySizeValue = _software.KeySize;
        LegalKeySizesValue = [new KeySizes(KeySizeValue, KeySizeValue, 0)];
    }

    /// <summary>The key's CKA_LABEL in the token.</summary>
    public string KeyLabel { get; }

    /// <summary>The token's label or slot, for messages (never the PIN).</summary>
    public string TokenDescription => _token.Description;

    public override RSAParameters ExportParameters(bool includePrivateParameters) => includePrivateParameters
        ? throw new CryptographicException($"The RSA key '{KeyLabel}' is in {_token.Description} and cannot be exported.")
        : new RSAParameters { Modulus = (byte[])_public.Modulus!.Clone(), Exponent = (byte[])_public.Exponent!.Clone() };

    public override void ImportParameters(RSAParameters parameters) =>
        throw new NotSupportedException($"The RSA key '{KeyLabel}' is in {_token.Description}; another key cannot be imported into it.");

    public override byte[] Encrypt(byte[] data, RSAEncryptionPadding padding) => _software.Encrypt(data, padding);

    public override bool VerifyHash(byte[] hash, byte[] signature, HashAlgorithmName hashAlgorithm, RSASignaturePadding padding) =>
        _software.VerifyHash(hash, signature, hashAlgorithm, padding);

    public override byte[] Decrypt(byte[] data, RSAEncryptionPadding padding)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(padding);
        var factories = _token.Factories;
        IMechanism mechanism;
        if (padding == RSAEncryptionPadding.Pkcs1)
        {
            mechanism = factories.MechanismFactory.Create(CKM.CKM_RSA_PKCS);
        }
        else if (padding.Mode == RSAEncryptionPaddingMode.Oaep)
        {
            // PKCS#11 v2.40 §2.1.8: the hash and MGF1 with the same hash, no label (.NET's OAEP has none).
            var (hash, mgf) = padding.OaepHashAlgorithm.Name switch
            {
                "SHA1" => (CKM.CKM_SHA_1, CKG.CKG_MGF1_SHA1),
                "SHA256" => (CKM.CKM_SHA256, CKG.CKG_MGF1_SHA256),
                "SHA384" => (CKM.CKM_SHA384, CKG.CKG_MGF1_SHA384),
                "SHA512" => (CKM.CKM_SHA512, CKG.CKG_MGF1_SHA512),
                _ => throw new CryptographicException($"OAEP with {padding.OaepHashAlgorithm.Name} is not supported by the token key '{KeyLabel}'."),
            };
            mechanism = factories.MechanismFactory.Create(CKM.CKM_RSA_PKCS_OAEP,
                factories.MechanismParamsFactory.CreateCkRsaPkcsOaepParams((ulong)hash, (ulong)mgf, (ulong)CKZ.CKZ_DATA_SPECIFIED, null));
        }
        else
        {
            throw new CryptographicException($"RSA encryption padding {padding} is not supported by the token key '{KeyLabel}' (PKCS#1 v1.5 or OAEP).");
        }

        try
        {
            return Run((session, key) => session.Decrypt(mechanism, key, data), "decrypt");
        }
        finally
        {
            mechanism.Dispose();
        }
    }

    public override byte[] SignHash(byte[] hash, HashAlgorithmName hashAlgorithm, RSASignaturePadding padding)
    {
        ArgumentNullException.ThrowIfNull(hash);
        ArgumentNullException.ThrowIfNull(padding);
        var (oid, length, ckm, mgf) = hashAlgorithm.Name switch
        {
            "SHA1" => ("1.3.14.3.2.26", 20, CKM.CKM_SHA_1, CKG.CKG_MGF1_SHA1),
            "SHA256" => ("2.16.840.1.101.3.4.2.1", 32, CKM.CKM_SHA256, CKG.CKG_MGF1_SHA256),
            "SHA384" => ("2.16.840.1.101.3.4.2.2", 48, CKM.CKM_SHA384, CKG.CKG_MGF1_SHA384),
            "SHA512" => ("2.16.840.1.101.3.4.2.3", 64, CKM.CKM_SHA512, CKG.CKG_MGF1_SHA512),
            _ => throw new CryptographicException($"Signing a {hashAlgorithm.Name} hash is not supported by the token key '{KeyLabel}'."),
        };
        if (hash.Length != length)
        {
            throw new CryptographicException($"A {hashAlgorithm.Name} hash is {length} bytes, not {hash.Length}.");
        }

        var factories = _token.Factories;
        IMechanism mechanism;
        byte[] input;
        if (padding == RSASignaturePadding.Pkcs1)
        {
            // CKM_RSA_PKCS signs what it is given: the DigestInfo of RFC 8017 §9.2, as EMSA-PKCS1-v1_5 wraps the hash.
            mechanism = factories.MechanismFactory.Create(CKM.CKM_RSA_PKCS);
            input = DigestInfo(oid, hash);
        }
        else if (padding == RSASignaturePadding.Pss)
        {
            // The salt as long as the hash, MGF1 with the same hash: what .NET's own PSS signs and verifies.
            mechanism = factories.MechanismFactory.Create(CKM.CKM_RSA_PKCS_PSS, factories.MechanismParamsFactory.CreateCkRsaPkcsPssParams((ulong)ckm, (ulong)mgf, (ulong)length));
            input = hash;
        }
        else
        {
            throw new CryptographicException($"RSA signature padding {padding} is not supported by the token key '{KeyLabel}'.");
        }

        try
        {
            return Run((session, key) => session.Sign(mechanism, key, input), "sign");
        }
        finally
        {
            mechanism.Dispose();
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            // The token belongs to whoever opened it (the CA's signer); only the software public key is ours.
            _software.Dispose();
        }

        base.Dispose(disposing);
    }

    // One operation with the private key on a pooled session. A refusal by the token that is not
    // its loss (a wrong padding in the data, a mechanism the module lacks) is a CryptographicException,
    // as a software RSA's would be; the token gone stays Unavailable (Pkcs11Token.WithSession).
    private byte[] Run(Func<ISession, IObjectHandle, byte[]> operation, string what)
    {
        try
        {
            return _token.WithSession(session =>
            {
                var key = session.FindKey(KeyLabel, CKO.CKO_PRIVATE_KEY)
                    ?? throw new CryptographicException($"{_token.Description} has no private key labelled '{KeyLabel}' any more.");
                try
                {
                    return operation(session.Session, key);
                }
                catch (Pkcs11Exception e) when (what == "decrypt" && e.RV is CKR.CKR_GENERAL_ERROR or CKR.CKR_FUNCTION_FAILED)
                {
                    // SoftHSM2 answers a block whose padding does not check with CKR_GENERAL_ERROR, which
                    // otherwise means the token is lost: a client's bad envelope must neither reset the
                    // CA's sessions nor be an Unavailable. The token is asked about the key: if it answers,
                    // the data was refused (a failed C_Decrypt has ended the operation, PKCS#11 v2.40 §5.2);
                    // if it does not, that failure is the token's loss and is handled as such.
                    session.Session.GetAttributeValue(key, [CKA.CKA_KEY_TYPE]);
                    throw new CryptographicException($"The token key '{KeyLabel}' could not {what} the data: {e.Method} returned {e.RV}.", e);
                }
            });
        }
        catch (Pkcs11Exception e) when (!TokenFailures.IsGone(e))
        {
            throw new CryptographicException($"The token key '{KeyLabel}' could not {what}: {e.Method} returned {e.RV}.", e);
        }
    }

    private static byte[] DigestInfo(string oid, byte[] hash)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            using (writer.PushSequence())
            {
                writer.WriteObjectIdentifier(oid);
                writer.WriteNull();
            }

            writer.WriteOctetString(hash);
        }

        return writer.Encode();
    }
}
