using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace OpenCM.Authority.Pkcs11;

/// <summary>
/// The CA's <see cref="ICertificateSigner"/> with its key in a token: certificates and CRLs
/// (Encodings.Crl) are signed by C_Sign and the private key never leaves the token.
/// </summary>
public sealed class Pkcs11Signer : ICertificateSigner
{
    private readonly Pkcs11Token? _ownedToken;
    private readonly Pkcs11SignatureGenerator _generator;

    /// <summary>
    /// A signer for <paramref name="certificateDer"/> whose key is <paramref name="generator"/>'s.
    /// With <paramref name="ownsToken"/>, disposing the signer closes the token handle.
    /// </summary>
    /// <exception cref="Pkcs11ConfigurationException">The certificate is not for the token's key.</exception>
    public Pkcs11Signer(byte[] certificateDer, Pkcs11SignatureGenerator generator, Pkcs11Token? ownedToken = null)
    {
        ArgumentNullException.ThrowIfNull(generator);
        var certificate = X509CertificateLoader.LoadCertificate(certificateDer);
        if (!certificate.PublicKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(generator.PublicKey.ExportSubjectPublicKeyInfo()))
        {
            var subject = certificate.Subject;
            certificate.Dispose();
            throw new Pkcs11ConfigurationException($"The CA certificate '{subject}' is not for the token key labelled '{generator.KeyLabel}'.");
        }

        Certificate = certificate;
        _generator = generator;
        _ownedToken = ownedToken;
    }

    public X509Certificate2 Certificate { get; }

    public X509SignatureGenerator Generator => _generator;

    public HashAlgorithmName HashAlgorithm => _generator.PreferredHash;

    /// <summary>
    /// A self-signed root over a key already in the token, with the extensions
    /// <see cref="CertificateAuthorityFactory.CreateRoot(X500DistinguishedName, CaKeyAlgorithm, DateTimeOffset, int)"/>
    /// gives a software root: CA:TRUE, keyCertSign, cRLSign, digitalSignature, subject key identifier.
    /// </summary>
    public static byte[] CreateRoot(Pkcs11SignatureGenerator generator, X500DistinguishedName name, DateTimeOffset now, int validityYears = 20)
    {
        ArgumentNullException.ThrowIfNull(generator);
        var request = new CertificateRequest(name, generator.PublicKey, generator.PreferredHash);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign | X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));

        // A positive 127-bit serial, as CreateSelfSigned would choose at random; backdated a little for slow client clocks.
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        serial[0] |= 0x01;
        using var root = request.Create(name, generator, now.AddMinutes(-5), now.AddYears(validityYears), serial);
        return root.RawData;
    }

    public void Dispose()
    {
        Certificate.Dispose();
        _ownedToken?.Dispose();
    }
}
