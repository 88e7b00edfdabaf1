using System.Formats.Asn1;
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
    private readonly byte[] _signatureAlgorithm;
    private readonly byte[] _issuer;
    private readonly byte[] _authorityKeyId;
    private readonly byte[]? _crlDistributionPoints;

    public IssuancePipeline(ICertificateSigner signer, IReadOnlyList<string> crlUrls)
    {
        ArgumentNullException.ThrowIfNull(signer);
        ArgumentNullException.ThrowIfNull(crlUrls);
        _signer = signer;

        // What every certificate of this CA says the same way, encoded once.
        _signatureAlgorithm = signer.Generator.GetSignatureAlgorithmIdentifier(signer.HashAlgorithm);
        _issuer = signer.Certificate.SubjectName.RawData;
        _authorityKeyId = X509AuthorityKeyIdentifierExtension.CreateFromCertificate(signer.Certificate, includeKeyIdentifier: true, includeIssuerAndSerial: false).RawData;
        _crlDistributionPoints = crlUrls.Count > 0 ? CertificateRevocationListBuilder.BuildCrlDistributionPointExtension(crlUrls).RawData : null;
    }

    /// <summary>Checks a client's PKCS#10 request; the key to certify as a DER SubjectPublicKeyInfo. Refusals are ValidationFailed naming <paramref name="field"/>.</summary>
    public static byte[] Check(string csr, CertificateTemplate template, string field = "certificaterequests") =>
        CsrValidator.Validate(CsrValidator.Decode(csr, field), template, field);

    /// <summary>A fresh serial: 16 bytes (127 bits) from the CSPRNG, positive, without a leading zero byte.</summary>
    public static byte[] NewSerialNumber()
    {
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] = (byte)((serial[0] & 0x7F) | 0x40);
        return serial;
    }

    /// <summary>
    /// Builds and signs the certificate of an order; nothing but the order's key and serial comes
    /// from outside the template. The TBSCertificate is written directly (RFC 5280 §4.1) and
    /// signed once by the CA's signer: no certificate object is built or parsed (issue #11.3).
    /// </summary>
    public IssuedCertificate Sign(CertificateOrder order)
    {
        ArgumentNullException.ThrowIfNull(order);
        var template = order.Template;

        // Never outlive the CA; start a minute early for clients whose clocks run slow. Whole
        // seconds, as X.509 encodes them, so that what is stored equals the certificate.
        var notBefore = WholeSeconds(order.Now.AddMinutes(-1));
        var notAfter = WholeSeconds(order.Now.AddDays(template.ValidityDays));
        if (notAfter > _signer.Certificate.NotAfter)
        {
            notAfter = WholeSeconds(_signer.Certificate.NotAfter);
        }

        if (notAfter < notBefore)
        {
            throw new CryptographicException("The CA's certificate expires before the certificate would start.");
        }

        var serial = Convert.FromHexString(order.SerialHex);
        var tbs = new AsnWriter(AsnEncodingRules.DER, 1024);
        using (tbs.PushSequence())
        {
            using (tbs.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
            {
                tbs.WriteInteger(2); // v3
            }

            tbs.WriteIntegerUnsigned(serial);
            tbs.WriteEncodedValue(_signatureAlgorithm);
            tbs.WriteEncodedValue(_issuer);
            using (tbs.PushSequence())
            {
                WriteTime(tbs, notBefore);
                WriteTime(tbs, notAfter);
            }

            tbs.WriteEncodedValue(CertificateSubject.Build(template, order.Subject).RawData);
            tbs.WriteEncodedValue(order.SubjectPublicKeyInfo);
            using (tbs.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 3, isConstructed: true)))
            using (tbs.PushSequence())
            {
                // The order .NET's CertificateRequest wrote them in before (the tests compare).
                WriteExtension(tbs, Oids.BasicConstraints, critical: true, BasicConstraintsEndEntity);
                WriteExtension(tbs, Oids.KeyUsage, critical: true, new X509KeyUsageExtension((X509KeyUsageFlags)template.KeyUsages, true).RawData);
                if (template.ExtendedKeyUsages.Count > 0)
                {
                    WriteExtension(tbs, Oids.ExtendedKeyUsage, critical: false, ExtendedKeyUsages(template.ExtendedKeyUsages));
                }

                WriteExtension(tbs, Oids.SubjectKeyIdentifier, critical: false, SubjectKeyIdentifier(order.SubjectPublicKeyInfo));
                WriteExtension(tbs, Oids.AuthorityKeyIdentifier, critical: false, _authorityKeyId);
                if (_crlDistributionPoints is { } crl)
                {
                    WriteExtension(tbs, Oids.CrlDistributionPoints, critical: false, crl);
                }
            }
        }

        var toBeSigned = tbs.Encode();
        var signature = _signer.Generator.SignData(toBeSigned, _signer.HashAlgorithm);
        var certificate = new AsnWriter(AsnEncodingRules.DER, toBeSigned.Length + signature.Length + 32);
        using (certificate.PushSequence())
        {
            certificate.WriteEncodedValue(toBeSigned);
            certificate.WriteEncodedValue(_signatureAlgorithm);
            certificate.WriteBitString(signature);
        }

        var der = certificate.Encode();
        return new IssuedCertificate(Convert.ToHexString(serial), der, Thumbprint(der), notBefore, notAfter);
    }

    // An end entity: SEQUENCE {} (cA FALSE is the default and DER leaves it out).
    private static readonly byte[] BasicConstraintsEndEntity = [0x30, 0x00];

    private static void WriteExtension(AsnWriter writer, string oid, bool critical, ReadOnlySpan<byte> value)
    {
        using (writer.PushSequence())
        {
            writer.WriteObjectIdentifier(oid);
            if (critical)
            {
                writer.WriteBoolean(true);
            }

            writer.WriteOctetString(value);
        }
    }

    // UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5).
    private static void WriteTime(AsnWriter writer, DateTimeOffset time)
    {
        if (time.UtcDateTime.Year < 2050)
        {
            writer.WriteUtcTime(time);
        }
        else
        {
            writer.WriteGeneralizedTime(time, omitFractionalSeconds: true);
        }
    }

    private static byte[] ExtendedKeyUsages(IReadOnlyList<string> oids)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            foreach (var oid in oids)
            {
                writer.WriteObjectIdentifier(oid);
            }
        }

        return writer.Encode();
    }

    // The thumbprint as X509Certificate2.Thumbprint gives it (what MIM's wire carries).
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA5350:Do Not Use Weak Cryptographic Algorithms", Justification = "A thumbprint names a certificate; it protects nothing, and its SHA-1 form is the wire's.")]
    private static string Thumbprint(byte[] der) => Convert.ToHexString(SHA1.HashData(der));

    // The key identifier: SHA-1 of the subjectPublicKey's bits (RFC 5280 §4.2.1.2 method 1), as .NET computes it.
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA5350:Do Not Use Weak Cryptographic Algorithms", Justification = "RFC 5280 §4.2.1.2 method 1 names SHA-1 for key identifiers; an identifier, not a protection.")]
    private static byte[] SubjectKeyIdentifier(byte[] subjectPublicKeyInfo)
    {
        var spki = new AsnReader(subjectPublicKeyInfo, AsnEncodingRules.DER).ReadSequence();
        _ = spki.ReadEncodedValue();
        var key = spki.ReadBitString(out _);
        var writer = new AsnWriter(AsnEncodingRules.DER);
        writer.WriteOctetString(SHA1.HashData(key));
        return writer.Encode();
    }

    private static DateTimeOffset WholeSeconds(DateTimeOffset time) => new(time.UtcTicks - (time.UtcTicks % TimeSpan.TicksPerSecond), TimeSpan.Zero);
}
