using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OpenCM.Application;
using OpenCM.Domain;

namespace OpenCM.Authority;

/// <summary>
/// Issuance as small steps built from the template (SPEC §7), after step-ca's <c>signX509</c>:
/// <see cref="Check"/> a CSR (parse, proof of possession, key as the template says), then, once
/// the use case has claimed the execution and recorded the serial, <see cref="Sign"/>: build the
/// certificate from the template and the checked key alone, and sign it with the CA's key.
/// Authorization comes before both (the use case checks the request's rights and state).
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

    /// <summary>Checks a client's PKCS#10 request; the key to certify as a DER SubjectPublicKeyInfo. Refusals are ValidationFailed naming <paramref name="field"/>.</summary>
    public static byte[] Check(string csr, CertificateTemplate template, string field = "certificaterequests") =>
        CsrValidator.Validate(CsrValidator.Decode(csr, field), template, field).ExportSubjectPublicKeyInfo();

    /// <summary>A fresh serial: 16 bytes (127 bits) from the CSPRNG, positive, without a leading zero byte.</summary>
    public static byte[] NewSerialNumber()
    {
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] = (byte)((serial[0] & 0x7F) | 0x40);
        return serial;
    }

    /// <summary>Builds and signs the certificate of an order; nothing but the order's key and serial comes from outside the template.</summary>
    public IssuedCertificate Sign(CertificateOrder order)
    {
        ArgumentNullException.ThrowIfNull(order);
        var template = order.Template;
        var publicKey = PublicKey.CreateFromSubjectPublicKeyInfo(order.SubjectPublicKeyInfo, out _);
        var request = new CertificateRequest(CertificateSubject.Build(template, order.Subject), publicKey, _signer.HashAlgorithm);
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

        // Never outlive the CA; start a minute early for clients whose clocks run slow. Whole
        // seconds, as X.509 encodes them, so that what is stored equals the certificate.
        var notBefore = WholeSeconds(order.Now.AddMinutes(-1));
        var notAfter = WholeSeconds(order.Now.AddDays(template.ValidityDays));
        if (notAfter > _signer.Certificate.NotAfter)
        {
            notAfter = _signer.Certificate.NotAfter;
        }

        notAfter = WholeSeconds(notAfter);
        var serial = Convert.FromHexString(order.SerialHex);
        using var certificate = request.Create(_signer.Certificate.SubjectName, _signer.Generator, notBefore, notAfter, serial);
        return new IssuedCertificate(Convert.ToHexString(serial), certificate.RawData, certificate.Thumbprint, notBefore, notAfter);
    }

    private static DateTimeOffset WholeSeconds(DateTimeOffset time) => new(time.UtcTicks - (time.UtcTicks % TimeSpan.TicksPerSecond), TimeSpan.Zero);
}
