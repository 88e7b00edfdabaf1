using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;
using System.Security.Cryptography.Xml;

namespace OpenCM.Authority.Scep;

/// <summary>SCEP's messageType values (RFC 8894 §3.2.1.2).</summary>
public enum ScepMessageType
{
    CertRep = 3,
    RenewalReq = 17,
    UpdateReq = 18,
    PKCSReq = 19,
    CertPoll = 20,
    GetCert = 21,
    GetCRL = 22,
}

/// <summary>SCEP's pkiStatus values (RFC 8894 §3.2.1.3).</summary>
public enum ScepStatus
{
    Success = 0,
    Failure = 2,
    Pending = 3,
}

/// <summary>SCEP's failInfo values (RFC 8894 §3.2.1.4).</summary>
public enum ScepFailInfo
{
    BadAlg = 0,
    BadMessageCheck = 1,
    BadRequest = 2,
    BadTime = 3,
    BadCertId = 4,
}

/// <summary>
/// The registration authority's certificate and key: the recipient of every request's envelope and
/// the signer of every CertRep (RFC 8894 §2.1: a CA with an RA). RSA, as SCEP's key transport needs.
/// </summary>
public sealed class ScepRa : IDisposable
{
    public ScepRa(X509Certificate2 certificate, RSA key)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        ArgumentNullException.ThrowIfNull(key);
        Certificate = certificate;
        Key = key;
    }

    public X509Certificate2 Certificate { get; }

    public RSA Key { get; }

    /// <summary>Whether <paramref name="recipient"/> names this RA's certificate (issuer and serial, or subject key identifier).</summary>
    public bool Is(SubjectIdentifier recipient)
    {
        ArgumentNullException.ThrowIfNull(recipient);
        return recipient.Value switch
        {
            X509IssuerSerial issuerSerial => string.Equals(issuerSerial.SerialNumber, Certificate.SerialNumber, StringComparison.OrdinalIgnoreCase)
                && string.Equals(issuerSerial.IssuerName, Certificate.IssuerName.Name, StringComparison.Ordinal),
            string keyIdentifier => Certificate.Extensions.OfType<X509SubjectKeyIdentifierExtension>().FirstOrDefault() is { SubjectKeyIdentifier: { } ski }
                && string.Equals(ski, keyIdentifier, StringComparison.OrdinalIgnoreCase),
            _ => false,
        };
    }

    /// <summary>
    /// A new RA certificate for an RSA key, issued by <paramref name="ca"/>: not a CA, keyUsage
    /// digitalSignature and keyEncipherment (RFC 8894 §2.1, which clients select the RA by), valid
    /// from a few minutes before <paramref name="now"/> for <paramref name="validity"/>, never past the CA's end.
    /// </summary>
    public static X509Certificate2 Issue(ICertificateSigner ca, RSA key, DateTimeOffset now, TimeSpan validity)
    {
        ArgumentNullException.ThrowIfNull(ca);
        ArgumentNullException.ThrowIfNull(key);
        var name = new X500DistinguishedNameBuilder();
        name.AddCommonName((ca.Certificate.GetNameInfo(X509NameType.SimpleName, forIssuer: false) is { Length: > 0 } cn ? cn : "OpenCM CA") + " SCEP RA");
        var request = new CertificateRequest(name.Build(), key, ca.HashAlgorithm, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca.Certificate, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        var caEnd = new DateTimeOffset(ca.Certificate.NotAfter.ToUniversalTime(), TimeSpan.Zero);
        var notAfter = now + validity < caEnd ? now + validity : caEnd;
        return request.Create(ca.Certificate.SubjectName, ca.Generator, now.AddMinutes(-5), notAfter, OpenCM.Application.CertificateIssuance.NewSerialBytes());
    }

    public void Dispose()
    {
        Key.Dispose();
        Certificate.Dispose();
    }
}

/// <summary>
/// A SCEP pkiMessage the RA could not take (RFC 8894 §3.3.2.2): the failInfo to answer with, and
/// what of the message was readable for the CertRep (without a transactionID and senderNonce there is
/// nothing to answer, and the HTTP front-end answers 400).
/// </summary>
public sealed class ScepMessageException : Exception
{
    public ScepMessageException(ScepFailInfo failInfo, string message, ScepHeader? header = null, Exception? inner = null)
        : base(message, inner)
    {
        FailInfo = failInfo;
        Header = header;
    }

    public ScepMessageException()
    {
    }

    public ScepMessageException(string message)
        : base(message)
    {
    }

    public ScepMessageException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public ScepFailInfo FailInfo { get; }

    public ScepHeader? Header { get; }
}

/// <summary>What a CertRep answers to: the transaction, the client's nonce, and the certificate whose key the answer is enveloped for.</summary>
public sealed record ScepHeader(string TransactionId, byte[] SenderNonce, X509Certificate2 Signer, Oid? ContentEncryption);

/// <summary>A client's pkiMessage, checked and opened: its type, header and the decrypted messageData (a PKCS#10, or CertPoll's IssuerAndSubject).</summary>
public sealed record ScepRequest(ScepMessageType Type, ScepHeader Header, byte[] Content)
{
    /// <summary>The RA whose key opened the envelope: the one to sign the answer with, as the client checks with the certificate it encrypted for.</summary>
    public ScepRa? OpenedBy { get; init; }

    /// <summary>The SHA-256 (lower-case hex) of the signer's public key (SubjectPublicKeyInfo): how a transaction is known again.</summary>
    public string SignerKeyHash => Convert.ToHexStringLower(SHA256.HashData(Header.Signer.PublicKey.ExportSubjectPublicKeyInfo()));
}

/// <summary>
/// SCEP's CMS layer (RFC 8894 §3): reads a client's pkiMessage (a SignedData over an EnvelopedData
/// for the RA) and writes CertRep answers (a SignedData by the RA, with the issued certificate
/// enveloped for the requester's key). Every fault in the input is a <see cref="ScepMessageException"/>,
/// never another exception.
/// </summary>
public static class ScepMessages
{
    private const string MessageTypeOid = "2.16.840.1.113733.1.9.2";
    private const string PkiStatusOid = "2.16.840.1.113733.1.9.3";
    private const string FailInfoOid = "2.16.840.1.113733.1.9.4";
    private const string SenderNonceOid = "2.16.840.1.113733.1.9.5";
    private const string RecipientNonceOid = "2.16.840.1.113733.1.9.6";
    private const string TransactionIdOid = "2.16.840.1.113733.1.9.7";
    private const string EnvelopedDataOid = "1.2.840.113549.1.7.3";
    private const string DataOid = "1.2.840.113549.1.7.1";
    private const string DesCbc = "1.3.14.3.2.7";
    private const string DesEde3Cbc = "1.2.840.113549.3.7";
    private const string Aes128Cbc = "2.16.840.1.101.3.4.1.2";
    private const string Aes192Cbc = "2.16.840.1.101.3.4.1.22";
    private const string Aes256Cbc = "2.16.840.1.101.3.4.1.42";
    private const string Sha1 = "1.3.14.3.2.26";
    private const string Sha256 = "2.16.840.1.101.3.4.2.1";
    private const string Sha384 = "2.16.840.1.101.3.4.2.2";
    private const string Sha512 = "2.16.840.1.101.3.4.2.3";

    /// <summary>
    /// The longest transactionID taken (RFC 8894 leaves it open; clients send a hash of their key in hex or
    /// base64, at most 64 characters): with a renewed certificate's serial it stays within the 128 characters of a client reference.
    /// </summary>
    public const int MaxTransactionIdLength = 80;

    /// <summary>
    /// Reads and opens a pkiMessage: the SignedData's one signer verified with the certificate it
    /// carries (self-signed for PKCSReq; whose certificate it is, is the caller's business), the
    /// SCEP attributes, and the envelope decrypted with whichever of <paramref name="ras"/> it names.
    /// </summary>
    public static ScepRequest Read(ReadOnlySpan<byte> message, IReadOnlyList<ScepRa> ras)
    {
        ArgumentNullException.ThrowIfNull(ras);
        var signed = new SignedCms();
        try
        {
            signed.Decode(message);
        }
        catch (Exception e) when (e is CryptographicException or AsnContentException or ArgumentException)
        {
            throw new ScepMessageException(ScepFailInfo.BadRequest, "The message is not a CMS SignedData.", null, e);
        }

        if (signed.SignerInfos.Count != 1 || signed.SignerInfos[0].Certificate is not { } signerCertificate)
        {
            throw new ScepMessageException(ScepFailInfo.BadRequest, "A pkiMessage has one signer, whose certificate it carries.");
        }

        var signer = signed.SignerInfos[0];
        var header = Header(signer, signerCertificate, null);
        if (!IsAcceptedDigest(signer.DigestAlgorithm.Value))
        {
            throw new ScepMessageException(ScepFailInfo.BadAlg, "The message digest algorithm is not accepted (SHA-1, SHA-256, SHA-384 or SHA-512).", header);
        }

        try
        {
            signer.CheckSignature(verifySignatureOnly: true);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException or InvalidOperationException or NotSupportedException or AsnContentException)
        {
            throw new ScepMessageException(ScepFailInfo.BadMessageCheck, "The message's signature does not verify with the certificate it carries.", header, e);
        }

        var type = Text(signer, MessageTypeOid) is { } typeText && int.TryParse(typeText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var number)
            && Enum.IsDefined((ScepMessageType)number) && number != (int)ScepMessageType.CertRep
            ? (ScepMessageType)number
            : throw new ScepMessageException(ScepFailInfo.BadRequest, "The message has no messageType a client may send.", header);

        var content = signed.ContentInfo;
        if (content.ContentType.Value != DataOid || content.Content.Length == 0)
        {
            throw new ScepMessageException(ScepFailInfo.BadRequest, "The message carries no pkcsPKIEnvelope.", header);
        }

        var (data, algorithm, ra) = Open(content.Content, ras, header);
        return new ScepRequest(type, header with { ContentEncryption = algorithm }, data) { OpenedBy = ra };
    }

    /// <summary>
    /// A CertRep (RFC 8894 §3.3.2) to <paramref name="request"/>, signed by <paramref name="ra"/>:
    /// SUCCESS with <paramref name="issued"/> in a certs-only PKCS#7 enveloped for the requester's
    /// key; PENDING; or FAILURE with <paramref name="failInfo"/>.
    /// </summary>
    public static byte[] CertRep(ScepHeader request, ScepRa ra, ScepStatus status, ScepFailInfo failInfo = ScepFailInfo.BadRequest, byte[]? issued = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(ra);
        var content = Array.Empty<byte>();
        if (status == ScepStatus.Success)
        {
            ArgumentNullException.ThrowIfNull(issued);
            var envelope = new EnvelopedCms(new ContentInfo(CertsOnly(issued)), new AlgorithmIdentifier(ReplyEncryption(request.ContentEncryption)));
            envelope.Encrypt(new CmsRecipient(SubjectIdentifierType.IssuerAndSerialNumber, request.Signer, RSAEncryptionPadding.Pkcs1));
            content = envelope.Encode();
        }

        var attributes = new List<(string Oid, byte[] Value)>
        {
            ("1.2.840.113549.1.9.3", Der(w => w.WriteObjectIdentifier(DataOid))), // contentType
            ("1.2.840.113549.1.9.4", Der(w => w.WriteOctetString(SHA256.HashData(content)))), // messageDigest
            (TransactionIdOid, Der(w => w.WriteCharacterString(UniversalTagNumber.PrintableString, request.TransactionId))),
            (MessageTypeOid, Der(w => w.WriteCharacterString(UniversalTagNumber.PrintableString, Number((int)ScepMessageType.CertRep)))),
            (PkiStatusOid, Der(w => w.WriteCharacterString(UniversalTagNumber.PrintableString, Number((int)status)))),
            (SenderNonceOid, Der(w => w.WriteOctetString(RandomNumberGenerator.GetBytes(16)))),
            (RecipientNonceOid, Der(w => w.WriteOctetString(request.SenderNonce))),
        };
        if (status == ScepStatus.Failure)
        {
            attributes.Add((FailInfoOid, Der(w => w.WriteCharacterString(UniversalTagNumber.PrintableString, Number((int)failInfo)))));
        }

        return SignedData(content, attributes, ra);
    }

    // A SignedData (RFC 5652 §5) written out rather than by SignedCms, which refuses to sign the empty
    // content of a PENDING or FAILURE: one signer, the RA (issuer and serial), SHA-256 with RSA PKCS#1 v1.5
    // over the DER SET OF the signed attributes; the content as id-data (empty for PENDING and FAILURE, as
    // RFC 8894 §3.3.2 has no pkcsPKIEnvelope there); the RA certificate.
    private static byte[] SignedData(byte[] content, List<(string Oid, byte[] Value)> attributes, ScepRa ra)
    {
        var set = new AsnWriter(AsnEncodingRules.DER);
        using (set.PushSetOf())
        {
            foreach (var (oid, value) in attributes)
            {
                using (set.PushSequence())
                {
                    set.WriteObjectIdentifier(oid);
                    using (set.PushSetOf())
                    {
                        set.WriteEncodedValue(value);
                    }
                }
            }
        }

        var signedAttributes = set.Encode();
        var signature = ra.Key.SignData(signedAttributes, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);

        // The same SET as [0] IMPLICIT inside the SignerInfo.
        var implicitAttributes = (byte[])signedAttributes.Clone();
        implicitAttributes[0] = 0xA0;

        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteObjectIdentifier("1.2.840.113549.1.7.2");
            using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
            using (writer.PushSequence())
            {
                writer.WriteInteger(1);
                using (writer.PushSetOf())
                {
                    Sha256Identifier(writer);
                }

                using (writer.PushSequence())
                {
                    writer.WriteObjectIdentifier(DataOid);
                    using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
                    {
                        writer.WriteOctetString(content);
                    }
                }

                using (writer.PushSetOf(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
                {
                    writer.WriteEncodedValue(ra.Certificate.RawData);
                }

                using (writer.PushSetOf())
                using (writer.PushSequence())
                {
                    writer.WriteInteger(1);
                    using (writer.PushSequence())
                    {
                        writer.WriteEncodedValue(ra.Certificate.IssuerName.RawData);
                        writer.WriteInteger(ra.Certificate.SerialNumberBytes.Span);
                    }

                    Sha256Identifier(writer);
                    writer.WriteEncodedValue(implicitAttributes);
                    using (writer.PushSequence())
                    {
                        writer.WriteObjectIdentifier("1.2.840.113549.1.1.1"); // rsaEncryption, as RFC 5652 §12.2 and every SCEP client know it
                        writer.WriteNull();
                    }

                    writer.WriteOctetString(signature);
                }
            }
        }

        return writer.Encode();
    }

    private static void Sha256Identifier(AsnWriter writer)
    {
        using (writer.PushSequence())
        {
            writer.WriteObjectIdentifier(Sha256);
        }
    }

    private static byte[] Der(Action<AsnWriter> write)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        write(writer);
        return writer.Encode();
    }

    private static string Number(int value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>CertPoll's messageData (RFC 8894 §3.3.3): IssuerAndSubject, both names DER; null when it is not one.</summary>
    public static (byte[] Issuer, byte[] Subject)? IssuerAndSubject(byte[] content)
    {
        ArgumentNullException.ThrowIfNull(content);
        try
        {
            var reader = new AsnReader(content, AsnEncodingRules.DER);
            var sequence = reader.ReadSequence();
            var issuer = sequence.ReadEncodedValue().ToArray();
            var subject = sequence.ReadEncodedValue().ToArray();
            sequence.ThrowIfNotEmpty();
            reader.ThrowIfNotEmpty();
            return (issuer, subject);
        }
        catch (AsnContentException)
        {
            return null;
        }
    }

    /// <summary>A certs-only SignedData with the one certificate (RFC 8894 §3.3.2: the issued certificate, first, as clients take the first).</summary>
    public static byte[] CertsOnly(byte[] certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteObjectIdentifier("1.2.840.113549.1.7.2");
            using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
            using (writer.PushSequence())
            {
                writer.WriteInteger(1);
                using (writer.PushSetOf())
                {
                }

                using (writer.PushSequence())
                {
                    writer.WriteObjectIdentifier(DataOid);
                }

                using (writer.PushSetOf(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
                {
                    writer.WriteEncodedValue(certificate);
                }

                using (writer.PushSetOf())
                {
                }
            }
        }

        return writer.Encode();
    }

    private static ScepHeader Header(SignerInfo signer, X509Certificate2 certificate, Oid? encryption)
    {
        var transaction = Text(signer, TransactionIdOid);
        var nonce = Bytes(signer, SenderNonceOid);
        if (transaction is not { Length: > 0 and <= MaxTransactionIdLength } || transaction.Any(c => c is < ' ' or > '~') || nonce is not { Length: > 0 and <= 64 })
        {
            // Nothing to answer to: the front-end's 400.
            throw new ScepMessageException(ScepFailInfo.BadRequest, "The message has no usable transactionID or senderNonce.");
        }

        return new ScepHeader(transaction, nonce, certificate, encryption);
    }

    private static (byte[] Data, Oid Algorithm, ScepRa Ra) Open(byte[] envelopeInfo, IReadOnlyList<ScepRa> ras, ScepHeader header)
    {
        var envelope = new EnvelopedCms();
        try
        {
            envelope.Decode(envelopeInfo);
        }
        catch (Exception e) when (e is CryptographicException or AsnContentException or ArgumentException)
        {
            throw new ScepMessageException(ScepFailInfo.BadRequest, "The pkcsPKIEnvelope is not a CMS EnvelopedData.", header, e);
        }

        var algorithm = envelope.ContentEncryptionAlgorithm.Oid;
        if (algorithm.Value is not (DesCbc or DesEde3Cbc or Aes128Cbc or Aes192Cbc or Aes256Cbc))
        {
            throw new ScepMessageException(ScepFailInfo.BadAlg, "The envelope's content encryption is not accepted (AES-CBC, 3DES or DES).", header);
        }

        foreach (var recipient in envelope.RecipientInfos)
        {
            if (ras.FirstOrDefault(ra => ra.Is(recipient.RecipientIdentifier)) is not { } ra)
            {
                continue;
            }

            try
            {
                envelope.Decrypt(recipient, ra.Key);
            }
            catch (Exception e) when (e is CryptographicException or ArgumentException or InvalidOperationException or NotSupportedException or AsnContentException)
            {
                throw new ScepMessageException(ScepFailInfo.BadMessageCheck, "The envelope does not open with the RA's key.", header, e);
            }

            return (envelope.ContentInfo.Content, algorithm, ra);
        }

        throw new ScepMessageException(ScepFailInfo.BadMessageCheck, "The envelope is not for this server's RA certificate (GetCACert names it).", header);
    }

    // The answer's envelope: what the client used, but never single DES (3DES in its place); AES-256 when unknown.
    private static Oid ReplyEncryption(Oid? used) => used?.Value switch
    {
        DesCbc or DesEde3Cbc => new Oid(DesEde3Cbc),
        Aes128Cbc or Aes192Cbc or Aes256Cbc => new Oid(used.Value),
        _ => new Oid(Aes256Cbc),
    };

    private static bool IsAcceptedDigest(string? oid) => oid is Sha1 or Sha256 or Sha384 or Sha512;

    private static string? Text(SignerInfo signer, string oid)
    {
        if (Value(signer, oid) is not { } raw)
        {
            return null;
        }

        try
        {
            var reader = new AsnReader(raw, AsnEncodingRules.BER);
            var tag = reader.PeekTag();
            var text = tag.HasSameClassAndValue(Asn1Tag.PrimitiveOctetString)
                ? System.Text.Encoding.ASCII.GetString(reader.ReadOctetString())
                : reader.ReadCharacterString(tag.TagValue switch
                {
                    (int)UniversalTagNumber.UTF8String => UniversalTagNumber.UTF8String,
                    (int)UniversalTagNumber.IA5String => UniversalTagNumber.IA5String,
                    _ => UniversalTagNumber.PrintableString,
                });
            reader.ThrowIfNotEmpty();
            return text;
        }
        catch (Exception e) when (e is AsnContentException or ArgumentException or InvalidOperationException)
        {
            return null;
        }
    }

    private static byte[]? Bytes(SignerInfo signer, string oid)
    {
        if (Value(signer, oid) is not { } raw)
        {
            return null;
        }

        try
        {
            var reader = new AsnReader(raw, AsnEncodingRules.BER);
            var bytes = reader.ReadOctetString();
            reader.ThrowIfNotEmpty();
            return bytes;
        }
        catch (AsnContentException)
        {
            return null;
        }
    }

    // The one value of the signed attribute oid; null when absent or given more than once.
    private static byte[]? Value(SignerInfo signer, string oid)
    {
        byte[]? found = null;
        foreach (var attribute in signer.SignedAttributes)
        {
            if (attribute.Oid.Value != oid)
            {
                continue;
            }

            if (found is not null || attribute.Values.Count != 1)
            {
                return null;
            }

            found = attribute.Values[0].RawData;
        }

        return found;
    }
}
