using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace OpenCM.Authority.Ocsp;

/// <summary>What a certificate is, for a SingleResponse's certStatus (RFC 6960 §2.2).</summary>
public enum OcspCertStatus
{
    Good,
    Revoked,
    Unknown,
}

/// <summary>One CertID's answer: its status, and for a revoked one when and why (RFC 5280 reason code).</summary>
public sealed record OcspSingleAnswer(OcspCertId CertId, OcspCertStatus Status, DateTimeOffset? RevokedAt = null, int Reason = 0);

/// <summary>The key that signs responses and its certificate: the CA's own, or a delegated responder's (§4.2.2.2).</summary>
public sealed record OcspSigningKey(X509Certificate2 Certificate, X509SignatureGenerator Generator, HashAlgorithmName Hash, bool Delegated);

/// <summary>Writes OCSPResponses (RFC 6960 §4.2.1) with System.Formats.Asn1, as the CA writes certificates.</summary>
public static class OcspResponseWriter
{
    private const string BasicResponseOid = "1.3.6.1.5.5.7.48.1.1";

    /// <summary>An unsuccessful response: its status alone, unsigned (§4.2.1: no responseBytes).</summary>
    public static byte[] Status(OcspResponseStatus status)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER, 8);
        using (writer.PushSequence())
        {
            writer.WriteEnumeratedValue(status);
        }

        return writer.Encode();
    }

    /// <summary>
    /// A successful response: a BasicOCSPResponse with responderID byKey, producedAt, one
    /// SingleResponse per CertID (the request's CertID repeated byte for byte), the nonce echoed,
    /// signed by <paramref name="key"/>; a delegated responder's certificate rides in certs so
    /// that the client can check it chains to the CA.
    /// </summary>
    public static byte[] Successful(OcspSigningKey key, IReadOnlyList<OcspSingleAnswer> answers, DateTimeOffset producedAt, DateTimeOffset nextUpdate, ReadOnlyMemory<byte>? nonce)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(answers);
        var tbs = new AsnWriter(AsnEncodingRules.DER, 256 + (answers.Count * 160));
        using (tbs.PushSequence())
        {
            // version v1 is the DEFAULT, so it is absent in DER. responderID byKey [2]: the SHA-1 of
            // the responder's subjectPublicKey BIT STRING value (§4.2.1), shorter than its name.
            using (tbs.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 2, isConstructed: true)))
            {
                tbs.WriteOctetString(KeyHash(key.Certificate, HashAlgorithmName.SHA1));
            }

            WriteTime(tbs, producedAt);
            using (tbs.PushSequence())
            {
                foreach (var answer in answers)
                {
                    WriteSingle(tbs, answer, producedAt, nextUpdate);
                }
            }

            if (nonce is { } n)
            {
                using (tbs.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 1, isConstructed: true)))
                using (tbs.PushSequence())
                using (tbs.PushSequence())
                {
                    tbs.WriteObjectIdentifier(OcspRequestReader.NonceOid);
                    tbs.WriteOctetString(n.Span);
                }
            }
        }

        var toBeSigned = tbs.Encode();
        var signature = key.Generator.SignData(toBeSigned, key.Hash);
        var basic = new AsnWriter(AsnEncodingRules.DER, toBeSigned.Length + signature.Length + key.Certificate.RawDataMemory.Length + 64);
        using (basic.PushSequence())
        {
            basic.WriteEncodedValue(toBeSigned);
            basic.WriteEncodedValue(key.Generator.GetSignatureAlgorithmIdentifier(key.Hash));
            basic.WriteBitString(signature);
            if (key.Delegated)
            {
                using (basic.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
                using (basic.PushSequence())
                {
                    basic.WriteEncodedValue(key.Certificate.RawDataMemory.Span);
                }
            }
        }

        var response = new AsnWriter(AsnEncodingRules.DER, basic.GetEncodedLength() + 32);
        using (response.PushSequence())
        {
            response.WriteEnumeratedValue(OcspResponseStatus.Successful);
            using (response.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
            using (response.PushSequence())
            {
                response.WriteObjectIdentifier(BasicResponseOid);
                response.WriteOctetString(basic.Encode());
            }
        }

        return response.Encode();
    }

    /// <summary>The hash of a certificate's subjectPublicKey BIT STRING value (CertID's issuerKeyHash, §4.1.1; byKey).</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA5350:Do Not Use Weak Cryptographic Algorithms", Justification = "RFC 6960 fixes SHA-1 for byKey and most clients' CertIDs; it identifies a key, it protects nothing.")]
    public static byte[] KeyHash(X509Certificate2 certificate, HashAlgorithmName hash)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        var key = certificate.PublicKey.EncodedKeyValue.RawData;
        return hash == HashAlgorithmName.SHA1 ? SHA1.HashData(key) : SHA256.HashData(key);
    }

    /// <summary>The hash of a certificate's subject name DER (CertID's issuerNameHash).</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA5350:Do Not Use Weak Cryptographic Algorithms", Justification = "RFC 6960 CertIDs use SHA-1 by default; it identifies a name, it protects nothing.")]
    public static byte[] NameHash(X509Certificate2 certificate, HashAlgorithmName hash)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        var name = certificate.SubjectName.RawData;
        return hash == HashAlgorithmName.SHA1 ? SHA1.HashData(name) : SHA256.HashData(name);
    }

    private static void WriteSingle(AsnWriter writer, OcspSingleAnswer answer, DateTimeOffset thisUpdate, DateTimeOffset nextUpdate)
    {
        using (writer.PushSequence())
        {
            writer.WriteEncodedValue(answer.CertId.Encoded.Span);
            switch (answer.Status)
            {
                case OcspCertStatus.Good:
                    writer.WriteNull(new Asn1Tag(TagClass.ContextSpecific, 0));
                    break;
                case OcspCertStatus.Revoked:
                    using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 1, isConstructed: true)))
                    {
                        WriteTime(writer, answer.RevokedAt ?? thisUpdate);

                        // unspecified (0) is left out, as RFC 5280 §5.3.1 asks of CRL entries.
                        if (answer.Reason != 0)
                        {
                            using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
                            {
                                writer.WriteEnumeratedValue((X509RevocationReason)answer.Reason);
                            }
                        }
                    }

                    break;
                default:
                    writer.WriteNull(new Asn1Tag(TagClass.ContextSpecific, 2));
                    break;
            }

            WriteTime(writer, thisUpdate);
            using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
            {
                WriteTime(writer, nextUpdate);
            }
        }
    }

    // OCSP times are GeneralizedTime, whole seconds, Z (RFC 6960 §4.2.2.1 via RFC 5280 §4.1.2.5.2).
    private static void WriteTime(AsnWriter writer, DateTimeOffset time) =>
        writer.WriteGeneralizedTime(new DateTimeOffset(time.UtcTicks - (time.UtcTicks % TimeSpan.TicksPerSecond), TimeSpan.Zero), omitFractionalSeconds: true);
}
