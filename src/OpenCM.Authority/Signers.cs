using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace OpenCM.Authority;

/// <summary>
/// What signs certificates and CRLs: the CA certificate and a signature generator for its key.
/// The embedded CA uses <see cref="LocalKeySigner"/>; a PKCS#11 token can stand in (SPEC §7).
/// </summary>
public interface ICertificateSigner : IDisposable
{
    /// <summary>The CA certificate (public part only).</summary>
    X509Certificate2 Certificate { get; }

    X509SignatureGenerator Generator { get; }

    /// <summary>The hash the CA signs with.</summary>
    HashAlgorithmName HashAlgorithm { get; }
}

/// <summary>A signer over a private key held in memory (loaded from the encrypted key store).</summary>
public sealed class LocalKeySigner : ICertificateSigner
{
    private readonly AsymmetricAlgorithm _key;

    private LocalKeySigner(X509Certificate2 certificate, AsymmetricAlgorithm key, X509SignatureGenerator generator, HashAlgorithmName hash)
    {
        Certificate = certificate;
        _key = key;
        Generator = generator;
        HashAlgorithm = hash;
    }

    public X509Certificate2 Certificate { get; }

    public X509SignatureGenerator Generator { get; }

    public HashAlgorithmName HashAlgorithm { get; }

    /// <summary>A signer from the CA certificate (DER) and its PKCS#8 private key.</summary>
    public static LocalKeySigner Load(byte[] certificateDer, ReadOnlySpan<byte> pkcs8)
    {
        var certificate = X509CertificateLoader.LoadCertificate(certificateDer);
        switch (certificate.PublicKey.Oid.Value)
        {
            case Oids.Rsa:
            {
                var rsa = RSA.Create();
                rsa.ImportPkcs8PrivateKey(pkcs8, out _);
                return new LocalKeySigner(certificate, rsa, X509SignatureGenerator.CreateForRSA(rsa, RSASignaturePadding.Pkcs1),
                    rsa.KeySize >= 3072 ? HashAlgorithmName.SHA384 : HashAlgorithmName.SHA256);
            }

            case Oids.EcPublicKey:
            {
                var ecdsa = ECDsa.Create();
                ecdsa.ImportPkcs8PrivateKey(pkcs8, out _);
                return new LocalKeySigner(certificate, ecdsa, X509SignatureGenerator.CreateForECDsa(ecdsa),
                    ecdsa.KeySize >= 384 ? HashAlgorithmName.SHA384 : HashAlgorithmName.SHA256);
            }

            default:
                certificate.Dispose();
                throw new CryptographicException($"The CA key algorithm {certificate.PublicKey.Oid.Value} is not supported.");
        }
    }

    public void Dispose()
    {
        _key.Dispose();
        Certificate.Dispose();
    }
}

/// <summary>Object identifiers the CA uses.</summary>
public static class Oids
{
    public const string Rsa = "1.2.840.113549.1.1.1";
    public const string BasicConstraints = "2.5.29.19";
    public const string KeyUsage = "2.5.29.15";
    public const string ExtendedKeyUsage = "2.5.29.37";
    public const string SubjectKeyIdentifier = "2.5.29.14";
    public const string AuthorityKeyIdentifier = "2.5.29.35";
    public const string CrlDistributionPoints = "2.5.29.31";
    public const string AuthorityInformationAccess = "1.3.6.1.5.5.7.1.1";
    public const string EcPublicKey = "1.2.840.10045.2.1";
    public const string P256 = "1.2.840.10045.3.1.7";
    public const string P384 = "1.3.132.0.34";
    public const string ClientAuthentication = "1.3.6.1.5.5.7.3.2";
    public const string EmailProtection = "1.3.6.1.5.5.7.3.4";
}
