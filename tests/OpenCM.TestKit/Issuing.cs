using System.Security.Cryptography;
using OpenCM.Application;
using OpenCM.Authority;
using OpenCM.Domain;

namespace OpenCM.TestKit;

/// <summary>
/// Issuance in one call, for tests of what the CA emits: check, then sign with a fresh serial.
/// Production code claims and records the serial in between (EnrollmentService).
/// </summary>
public static class Issuing
{
    public static IssuedCertificate IssueFromCsr(this IssuancePipeline pipeline, string csr, CertificateTemplate template, SubjectAttributes subject, DateTimeOffset now, string field = "certificaterequests")
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        return pipeline.Sign(new CertificateOrder(NewSerial(), IssuancePipeline.Check(csr, template, field), template, subject, now));
    }

    public static IssuedCertificate IssueForKey(this IssuancePipeline pipeline, AsymmetricAlgorithm key, CertificateTemplate template, SubjectAttributes subject, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        return pipeline.Sign(new CertificateOrder(NewSerial(), key.ExportSubjectPublicKeyInfo(), template, subject, now));
    }

    public static byte[] SerialNumber(this IssuedCertificate certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return Convert.FromHexString(certificate.SerialHex);
    }

    private static string NewSerial() => Convert.ToHexString(IssuancePipeline.NewSerialNumber());
}
