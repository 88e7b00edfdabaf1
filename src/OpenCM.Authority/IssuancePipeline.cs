using System.Collections.Immutable;
using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OpenCM.Application;
using OpenCM.Domain;

namespace OpenCM.Authority;

/// <summary>
/// The embedded CA's signing (SPEC §7), after step-ca's <c>signX509</c>: a
/// <see cref="CertificatePlan"/>, built from the template by Domain steps and recorded with its
/// serial, is written as a TBSCertificate as it stands and signed with the CA's key. This class
/// adds only what is the CA's own: the issuer name, the signature algorithm, the signature, and
/// the <see cref="Issuer"/> profile every plan is built under (its validity bound and
/// extensions). <see cref="Check"/> of a CSR lives here for the CSR checker port, and
/// <see cref="Sign(CertificateOrder)"/> plans and signs in one call for tests and benchmarks.
/// </summary>
public sealed class IssuancePipeline
{
    private readonly ICertificateSigner _signer;
    private readonly byte[] _signatureAlgorithm;
    private readonly byte[] _issuer;

    /// <summary>A pipeline whose certificates carry <paramref name="crlUrls"/> as their CRL distribution points and no AIA (tests and benchmarks).</summary>
    public IssuancePipeline(ICertificateSigner signer, IReadOnlyList<string> crlUrls)
        : this(signer, crlUrls, null, 0)
    {
    }

    /// <summary>
    /// The pipeline of CA <paramref name="authorityId"/>: its certificates carry the CRL
    /// distribution point and the Authority Information Access (OCSP, CA issuers) that relying
    /// parties fetch (issue #20.4), at URLs fixed when the CA was made (issue #20.5).
    /// </summary>
    public IssuancePipeline(ICertificateSigner signer, PublicationUrls urls, int authorityId)
        : this(signer, [(urls ?? throw new ArgumentNullException(nameof(urls))).Crl], urls, authorityId)
    {
    }

    private IssuancePipeline(ICertificateSigner signer, IReadOnlyList<string> crlUrls, PublicationUrls? urls, int authorityId)
    {
        ArgumentNullException.ThrowIfNull(signer);
        ArgumentNullException.ThrowIfNull(crlUrls);
        _signer = signer;
        AuthorityId = authorityId;

        // What every certificate of this CA says the same way, encoded once.
        _signatureAlgorithm = signer.Generator.GetSignatureAlgorithmIdentifier(signer.HashAlgorithm);
        _issuer = signer.Certificate.SubjectName.RawData;
        // The CA certificate's own key identifier; one installed without it (RFC 5280 §4.2.1.2 asks for it) gets the usual SHA-1 of its key.
        var authorityKeyId = X509AuthorityKeyIdentifierExtension.CreateFromSubjectKeyIdentifier(IssuingAuthority.KeyIdentifier(signer.Certificate)).RawData;
        var extensions = ImmutableArray.CreateBuilder<PlannedExtension>(3);
        extensions.Add(new(Oids.AuthorityKeyIdentifier, false, authorityKeyId));
        if (crlUrls.Count > 0)
        {
            extensions.Add(new(Oids.CrlDistributionPoints, false, CertificateRevocationListBuilder.BuildCrlDistributionPointExtension(crlUrls).RawData));
        }

        if (urls is not null)
        {
            extensions.Add(new(Oids.AuthorityInformationAccess, false, new X509AuthorityInformationAccessExtension([urls.Ocsp], [urls.CaIssuers]).RawData));
        }

        Issuer = new IssuerProfile(new DateTimeOffset(signer.Certificate.NotAfter.ToUniversalTime(), TimeSpan.Zero), extensions.ToImmutable());
    }

    /// <summary>Which of the server's CAs this pipeline signs for (<see cref="OpenCM.Application.StoredAuthority.Id"/>); 0 outside a server.</summary>
    public int AuthorityId { get; }

    /// <summary>What this CA puts in every certificate: the end of its validity, its key identifier and CRL distribution point.</summary>
    public IssuerProfile Issuer { get; }

    /// <summary>Checks a client's PKCS#10 request; the key to certify as a DER SubjectPublicKeyInfo. Refusals are ValidationFailed naming <paramref name="field"/>.</summary>
    public static byte[] Check(string csr, CertificateTemplate template, string field = "certificaterequests") =>
        CsrValidator.Validate(CsrValidator.Decode(csr, field), template, field);

    /// <summary>A fresh serial (<see cref="CertificateIssuance.NewSerialNumber"/>).</summary>
    public static byte[] NewSerialNumber() => CertificateIssuance.NewSerialBytes();

    /// <summary>Plans an order under this CA's <see cref="Issuer"/> and signs the plan.</summary>
    public IssuedCertificate Sign(CertificateOrder order)
    {
        ArgumentNullException.ThrowIfNull(order);
        return Sign(order.Plan(Issuer));
    }

    /// <summary>
    /// Signs a plan: the TBSCertificate is written directly (RFC 5280 §4.1) from the plan's
    /// serial, validity, subject, key and extensions in the plan's order, with the CA's issuer name
    /// and signature algorithm, and signed once by the CA's signer: no certificate object is
    /// built or parsed (issue #11.3).
    /// </summary>
    public IssuedCertificate Sign(CertificatePlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var serial = Convert.FromHexString(plan.SerialHex);
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
                WriteTime(tbs, plan.NotBefore);
                WriteTime(tbs, plan.NotAfter);
            }

            tbs.WriteEncodedValue(plan.Subject.AsSpan());
            tbs.WriteEncodedValue(plan.SubjectPublicKeyInfo.AsSpan());
            if (plan.Extensions.Count > 0)
            {
                using (tbs.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 3, isConstructed: true)))
                using (tbs.PushSequence())
                {
                    foreach (var extension in plan.Extensions)
                    {
                        CertificatePlan.WriteExtension(tbs, extension);
                    }
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
        return new IssuedCertificate(Convert.ToHexString(serial), der, Thumbprint(der), plan.NotBefore, plan.NotAfter, AuthorityId);
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

    // The thumbprint as X509Certificate2.Thumbprint gives it (what MIM's wire carries).
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA5350:Do Not Use Weak Cryptographic Algorithms", Justification = "A thumbprint names a certificate; it protects nothing, and its SHA-1 form is the wire's.")]
    private static string Thumbprint(byte[] der) => Convert.ToHexString(SHA1.HashData(der));
}
