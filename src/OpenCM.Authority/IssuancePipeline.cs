using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OpenCM.Domain;

namespace OpenCM.Authority;

/// <summary>A certificate the CA signed.</summary>
public sealed record IssuedCertificate(byte[] SerialNumber, byte[] Der, DateTimeOffset NotBefore, DateTimeOffset NotAfter, string Thumbprint)
{
    /// <summary>The serial as upper-case hex, as openssl and CRLs print it.</summary>
    public string SerialHex => Convert.ToHexString(SerialNumber);
}

/// <summary>
/// Issuance as a pipeline of small steps built from the template (SPEC §7): validate the CSR →
/// build the certificate from the template → sign. Authorization comes before (the use case
/// checks the request's rights and state), storage after (the use case stores the result with the
/// request's transition in one transaction).
/// </summary>
public sealed class IssuancePipeline
{
    private readonly ICertificateSigner _signer;
    private readonly IReadOnlyList<string> _crlUrls;
    private readonly X509AuthorityKeyIdentifierExtension _authorityKeyId;

    public IssuancePipeline(ICertificateSigner signer, IReadOnlyList<string> crlUrls)
    {
        ArgumentNullException.ThrowIfNull(signer);
        _signer = signer;
        _crlUrls = crlUrls;
        _authorityKeyId = X509AuthorityKeyIdentifierExtension.CreateFromCertificate(signer.Certificate, includeKeyIdentifier: true, includeIssuerAndSerial: false);
    }

    /// <summary>Issues a certificate for a client-generated key, from its PKCS#10 request.</summary>
    public IssuedCertificate IssueFromCsr(string csr, CertificateTemplate template, SubjectAttributes subject, DateTimeOffset now, string field = "certificaterequests")
    {
        // 1. Validate the CSR: parse, proof of possession, key algorithm and size.
        var publicKey = CsrValidator.Validate(CsrValidator.Decode(csr, field), template, field);

        // 2. Build and sign from the template; nothing of the CSR but its key is used.
        return Sign(publicKey, template, subject, now);
    }

    /// <summary>Issues a certificate for a key the server generated (to be archived and returned as PFX).</summary>
    public IssuedCertificate IssueForKey(AsymmetricAlgorithm key, CertificateTemplate template, SubjectAttributes subject, DateTimeOffset now)
    {
        var publicKey = key switch
        {
            RSA rsa => new CertificateRequest("CN=x", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1).PublicKey,
            ECDsa ec => new CertificateRequest("CN=x", ec, HashAlgorithmName.SHA256).PublicKey,
            _ => throw new CryptographicException("Unsupported key."),
        };
        return Sign(publicKey, template, subject, now);
    }

    /// <summary>A fresh serial: 16 bytes (127 bits) from the CSPRNG, positive, without a leading zero byte.</summary>
    public static byte[] NewSerialNumber()
    {
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] = (byte)((serial[0] & 0x7F) | 0x40);
        return serial;
    }

    private IssuedCertificate Sign(PublicKey publicKey, CertificateTemplate template, SubjectAttributes subject, DateTimeOffset now)
    {
        var request = new CertificateRequest(CertificateSubject.Build(template, subject), publicKey, _signer.HashAlgorithm);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension((X509KeyUsageFlags)template.KeyUsages, true));
        if (template.ExtendedKeyUsages.Count > 0)
        {
            var ekus = new OidCollection();
            foreach (var oid in template.ExtendedKeyUsages)
            {
                ekus.Add(new Oid(oid));
            }

            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(ekus, false));
        }

        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(publicKey, false));
        request.CertificateExtensions.Add(_authorityKeyId);
        if (_crlUrls.Count > 0)
        {
            request.CertificateExtensions.Add(CertificateRevocationListBuilder.BuildCrlDistributionPointExtension(_crlUrls));
        }

        // Never outlive the CA; start a minute early for clients whose clocks run slow.
        var notBefore = now.AddMinutes(-1);
        var notAfter = now.AddDays(template.ValidityDays);
        if (notAfter > _signer.Certificate.NotAfter)
        {
            notAfter = _signer.Certificate.NotAfter;
        }

        var serial = NewSerialNumber();
        using var certificate = request.Create(_signer.Certificate.SubjectName, _signer.Generator, notBefore, notAfter, serial);
        return new IssuedCertificate(serial, certificate.RawData, notBefore, notAfter, certificate.Thumbprint);
    }
}
