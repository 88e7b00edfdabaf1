using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace OpenCM.Authority;

/// <summary>Key algorithms for the CA itself (SPEC §7: configurable; a new CA is ECDSA P-256 by default, decision 0007).</summary>
public enum CaKeyAlgorithm
{
    EcdsaP384,
    EcdsaP256,
    Rsa3072,
    Rsa4096,
}

/// <summary>A newly made CA: its certificate and its private key, to be stored encrypted.</summary>
public sealed record NewAuthority(byte[] CertificateDer, byte[] Pkcs8PrivateKey);

/// <summary>Makes the embedded root CA on first start.</summary>
public static class CertificateAuthorityFactory
{
    /// <summary>A root named by an RFC 4514 string such as <c>CN=OpenCM Root CA, O=Contoso</c>.</summary>
    public static NewAuthority CreateRoot(string distinguishedName, CaKeyAlgorithm algorithm, DateTimeOffset now, int validityYears = 20) =>
        CreateRoot(new X500DistinguishedName(distinguishedName), algorithm, now, validityYears);

    /// <summary>A self-signed root: CA:TRUE, keyCertSign and cRLSign, subject key identifier.</summary>
    public static NewAuthority CreateRoot(X500DistinguishedName name, CaKeyAlgorithm algorithm, DateTimeOffset now, int validityYears = 20)
    {
        using var key = GenerateKey(algorithm);

        // Backdated a little so that clients with a slow clock accept it at once.
        using var root = CaRequest(name, key).CreateSelfSigned(now.AddMinutes(-5), now.AddYears(validityYears));
        return new NewAuthority(root.RawData, key.ExportPkcs8PrivateKey());
    }

    /// <summary>A new CA key of <paramref name="algorithm"/>.</summary>
    public static AsymmetricAlgorithm GenerateKey(CaKeyAlgorithm algorithm) => algorithm switch
    {
        CaKeyAlgorithm.EcdsaP256 => Keys.Generate(OpenCM.Domain.KeyAlgorithm.EcdsaP256),
        CaKeyAlgorithm.EcdsaP384 => Keys.Generate(OpenCM.Domain.KeyAlgorithm.EcdsaP384),
        CaKeyAlgorithm.Rsa3072 => Keys.Generate(OpenCM.Domain.KeyAlgorithm.Rsa, 3072),
        _ => Keys.Generate(OpenCM.Domain.KeyAlgorithm.Rsa, 4096),
    };

    /// <summary>
    /// What a CA asks to be (a root of itself, or a subordinate CA of its parent): CA:TRUE
    /// (critical), keyCertSign, cRLSign and digitalSignature (critical), and its key identifier,
    /// signed with SHA-384 (SHA-256 for P-256).
    /// </summary>
    public static CertificateRequest CaRequest(X500DistinguishedName name, AsymmetricAlgorithm key)
    {
        var request = key switch
        {
            ECDsa ec => new CertificateRequest(name, ec, ec.KeySize >= 384 ? HashAlgorithmName.SHA384 : HashAlgorithmName.SHA256),
            RSA rsa => new CertificateRequest(name, rsa, HashAlgorithmName.SHA384, RSASignaturePadding.Pkcs1),
            _ => throw new CryptographicException("Unsupported CA key."),
        };
        return WithCaExtensions(request);
    }

    /// <summary>The same request for a key held elsewhere (a PKCS#11 token): sign it with that key's generator (<c>CreateSigningRequest(generator)</c>).</summary>
    public static CertificateRequest CaRequest(X500DistinguishedName name, PublicKey key, HashAlgorithmName hash) =>
        WithCaExtensions(new CertificateRequest(name, key, hash));

    private static CertificateRequest WithCaExtensions(CertificateRequest request)
    {
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign | X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return request;
    }
}
