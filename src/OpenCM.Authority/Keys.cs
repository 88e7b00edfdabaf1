using System.Security.Cryptography;
using OpenCM.Domain;

namespace OpenCM.Authority;

/// <summary>The one place keys are made and re-imported: the CA's own, server-generated subscriber keys, and the CLI's.</summary>
public static class Keys
{
    /// <summary>A new key: a named NIST curve, or RSA of <paramref name="rsaKeySize"/> bits.</summary>
    public static AsymmetricAlgorithm Generate(KeyAlgorithm algorithm, int rsaKeySize = 0) => algorithm switch
    {
        KeyAlgorithm.EcdsaP256 => ECDsa.Create(ECCurve.NamedCurves.nistP256),
        KeyAlgorithm.EcdsaP384 => ECDsa.Create(ECCurve.NamedCurves.nistP384),
        KeyAlgorithm.Rsa when rsaKeySize >= 2048 => RSA.Create(rsaKeySize),
        _ => throw new ArgumentOutOfRangeException(nameof(algorithm), $"No key can be made for {algorithm} with {rsaKeySize} bits."),
    };

    /// <summary>A private key from PKCS#8, of the algorithm a certificate's public key names.</summary>
    public static AsymmetricAlgorithm ImportPkcs8(string publicKeyOid, ReadOnlySpan<byte> pkcs8)
    {
        AsymmetricAlgorithm key = publicKeyOid switch
        {
            Oids.Rsa => RSA.Create(),
            Oids.EcPublicKey => ECDsa.Create(),
            _ => throw new CryptographicException($"The key algorithm {publicKeyOid} is not supported."),
        };
        try
        {
            key.ImportPkcs8PrivateKey(pkcs8, out _);
            return key;
        }
        catch
        {
            key.Dispose();
            throw;
        }
    }
}
