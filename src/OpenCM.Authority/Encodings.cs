using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace OpenCM.Authority;

/// <summary>A revoked certificate, for the CRL.</summary>
public sealed record RevokedEntry(byte[] SerialNumber, DateTimeOffset RevokedAt, X509RevocationReason Reason);

/// <summary>The response encodings of SPEC §7 and the CRL.</summary>
public static class Encodings
{
    /// <summary>A certs-only PKCS#7 (SignedData without signers) holding the certificate and the CA chain.</summary>
    public static byte[] Pkcs7(byte[] certificateDer, ICertificateSigner ca)
    {
        ArgumentNullException.ThrowIfNull(ca);
        using var leaf = X509CertificateLoader.LoadCertificate(certificateDer);
        var collection = new X509Certificate2Collection { leaf, ca.Certificate };
        return collection.Export(X509ContentType.Pkcs7)!;
    }

    /// <summary>A PFX with the certificate, its private key and the CA, protected by <paramref name="password"/> (AES-256, PBKDF2).</summary>
    public static byte[] Pfx(byte[] certificateDer, AsymmetricAlgorithm key, ICertificateSigner ca, string password)
    {
        ArgumentNullException.ThrowIfNull(ca);
        using var publicOnly = X509CertificateLoader.LoadCertificate(certificateDer);
        using var withKey = key switch
        {
            RSA rsa => publicOnly.CopyWithPrivateKey(rsa),
            ECDsa ec => publicOnly.CopyWithPrivateKey(ec),
            _ => throw new CryptographicException("Unsupported key."),
        };
        var collection = new X509Certificate2Collection { withKey, ca.Certificate };
        var pbe = new PbeParameters(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, 100_000);
        return collection.ExportPkcs12(pbe, password);
    }

    /// <summary>A CRL signed by the CA listing <paramref name="revoked"/> (SPEC §7).</summary>
    public static byte[] Crl(ICertificateSigner ca, IEnumerable<RevokedEntry> revoked, BigInteger number, DateTimeOffset thisUpdate, DateTimeOffset nextUpdate)
    {
        ArgumentNullException.ThrowIfNull(ca);
        ArgumentNullException.ThrowIfNull(revoked);
        var builder = new CertificateRevocationListBuilder();
        foreach (var entry in revoked)
        {
            builder.AddEntry(entry.SerialNumber, entry.RevokedAt, entry.Reason);
        }

        var akid = X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca.Certificate, includeKeyIdentifier: true, includeIssuerAndSerial: false);
        return builder.Build(ca.Certificate.SubjectName, ca.Generator, number, nextUpdate, ca.HashAlgorithm, akid, thisUpdate);
    }
}
