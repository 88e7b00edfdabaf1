using System.Formats.Asn1;
using System.Security.Cryptography;

namespace OpenCM.Authority.Ocsp;

/// <summary>The responseStatus of an OCSPResponse (RFC 6960 §4.2.1); 4 is not used.</summary>
public enum OcspResponseStatus
{
    Successful = 0,
    MalformedRequest = 1,
    InternalError = 2,
    TryLater = 3,
    SigRequired = 5,
    Unauthorized = 6,
}

/// <summary>
/// One CertID of a request (RFC 6960 §4.1.1): the hashes of the issuer's name and key under
/// <see cref="Hash"/>, the serial as its INTEGER's content octets, and the CertID's own encoding,
/// which the SingleResponse repeats byte for byte so that the client matches it.
/// </summary>
public sealed record OcspCertId(HashAlgorithmName Hash, ReadOnlyMemory<byte> IssuerNameHash, ReadOnlyMemory<byte> IssuerKeyHash, ReadOnlyMemory<byte> Serial, ReadOnlyMemory<byte> Encoded)
{
    /// <summary>
    /// The serial as the store keeps it: upper-case hex of the serial's octets, without the 00
    /// that DER puts before a first octet of 0x80 or more (the CA writes serials unsigned).
    /// </summary>
    public string SerialHex => Convert.ToHexString(Serial.Span is [0, >= 0x80, ..] ? Serial.Span[1..] : Serial.Span);
}

/// <summary>
/// A parsed OCSPRequest: its CertIDs and the nonce extension's extnValue contents (RFC 8954),
/// echoed as they came; or why it cannot be answered.
/// </summary>
public sealed record OcspRequest(IReadOnlyList<OcspCertId> CertIds, ReadOnlyMemory<byte>? Nonce);

/// <summary>
/// Reads an OCSPRequest (RFC 6960 §4.1.1) strictly: DER only, nothing after it, at most a set
/// number of CertIDs, SHA-1 or SHA-256 CertIDs only. Total: every input gives a request or a
/// <see cref="OcspResponseStatus"/> to answer with, never an exception (a relying party's
/// bytes are untrusted input).
/// </summary>
public static class OcspRequestReader
{
    public const string NonceOid = "1.3.6.1.5.5.7.48.1.2";
    private const string Sha1Oid = "1.3.14.3.2.26";
    private const string Sha256Oid = "2.16.840.1.101.3.4.2.1";

    // RFC 8954 §2.1: a nonce is 1 to 32 octets; the extnValue wraps it in an OCTET STRING (2 more).
    private const int MaxNonceExtensionBytes = 34;

    // RFC 5280 §4.1.2.2: at most 20 octets; a longer serial is no certificate of ours, but it is
    // still a well-formed question (answered unknown), up to this bound.
    private const int MaxSerialBytes = 64;

    /// <summary>Reads <paramref name="der"/>; <paramref name="maxRequests"/> bounds its CertIDs.</summary>
    public static (OcspRequest? Request, OcspResponseStatus Status) Read(ReadOnlyMemory<byte> der, int maxRequests)
    {
        try
        {
            return ReadStrict(der, maxRequests);
        }
        catch (AsnContentException)
        {
            return (null, OcspResponseStatus.MalformedRequest);
        }
        catch (ArgumentException)
        {
            // AsnReader reports some malformed lengths and tags this way.
            return (null, OcspResponseStatus.MalformedRequest);
        }
    }

    private static (OcspRequest?, OcspResponseStatus) ReadStrict(ReadOnlyMemory<byte> der, int maxRequests)
    {
        var malformed = ((OcspRequest?)null, OcspResponseStatus.MalformedRequest);
        if (der.IsEmpty)
        {
            return malformed;
        }

        var outer = new AsnReader(der, AsnEncodingRules.DER);
        var ocspRequest = outer.ReadSequence();
        outer.ThrowIfNotEmpty();
        var tbs = ocspRequest.ReadSequence();

        // optionalSignature [0]: a signed request is answered like an unsigned one (this
        // responder does not require signatures, §4.1.2), but it must still be well-formed DER.
        if (ocspRequest.HasData)
        {
            ocspRequest.ReadEncodedValue();
        }

        ocspRequest.ThrowIfNotEmpty();

        // version [0] EXPLICIT DEFAULT v1: only v1 exists.
        var v0 = new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true);
        if (tbs.HasData && tbs.PeekTag().HasSameClassAndValue(v0))
        {
            var version = tbs.ReadSequence(v0);
            if (!version.TryReadInt32(out var v) || v != 0)
            {
                return malformed;
            }

            version.ThrowIfNotEmpty();
        }

        // requestorName [1]: who asks; not needed to answer.
        if (tbs.HasData && tbs.PeekTag().HasSameClassAndValue(new Asn1Tag(TagClass.ContextSpecific, 1, isConstructed: true)))
        {
            tbs.ReadEncodedValue();
        }

        var list = tbs.ReadSequence();
        var certIds = new List<OcspCertId>();
        while (list.HasData)
        {
            if (certIds.Count == maxRequests)
            {
                return malformed;
            }

            var request = list.ReadSequence();
            var encoded = request.PeekEncodedValue();
            var certId = request.ReadSequence();
            var algorithm = certId.ReadSequence();
            var hash = algorithm.ReadObjectIdentifier() switch
            {
                Sha1Oid => HashAlgorithmName.SHA1,
                Sha256Oid => HashAlgorithmName.SHA256,
                _ => default,
            };
            if (hash == default)
            {
                return malformed;
            }

            // parameters: NULL or absent (RFC 5754 §2 allows both for SHA-2).
            if (algorithm.HasData)
            {
                algorithm.ReadNull();
            }

            algorithm.ThrowIfNotEmpty();
            var nameHash = certId.ReadOctetString();
            var keyHash = certId.ReadOctetString();
            var serial = certId.ReadIntegerBytes();
            certId.ThrowIfNotEmpty();
            var size = hash == HashAlgorithmName.SHA1 ? 20 : 32;
            if (nameHash.Length != size || keyHash.Length != size || serial.Length > MaxSerialBytes)
            {
                return malformed;
            }

            // singleRequestExtensions [0]: none is understood; a critical one could not be honoured.
            if (request.HasData && ReadExtensions(request.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)), out _) is false)
            {
                return malformed;
            }

            request.ThrowIfNotEmpty();
            certIds.Add(new OcspCertId(hash, nameHash, keyHash, serial, encoded));
        }

        if (certIds.Count == 0)
        {
            return malformed;
        }

        ReadOnlyMemory<byte>? nonce = null;
        if (tbs.HasData)
        {
            if (!ReadExtensions(tbs.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 2, isConstructed: true)), out nonce))
            {
                return malformed;
            }
        }

        tbs.ThrowIfNotEmpty();
        return (new OcspRequest(certIds, nonce), OcspResponseStatus.Successful);
    }

    // Extensions (RFC 5280 §4.1): the nonce's value is kept; an unknown critical extension is refused.
    private static bool ReadExtensions(AsnReader explicitWrapper, out ReadOnlyMemory<byte>? nonce)
    {
        nonce = null;
        var extensions = explicitWrapper.ReadSequence();
        explicitWrapper.ThrowIfNotEmpty();
        while (extensions.HasData)
        {
            var extension = extensions.ReadSequence();
            var oid = extension.ReadObjectIdentifier();
            var critical = extension.HasData && extension.PeekTag().HasSameClassAndValue(Asn1Tag.Boolean) && extension.ReadBoolean();
            var value = extension.ReadOctetString();
            extension.ThrowIfNotEmpty();
            if (oid == NonceOid)
            {
                if (nonce is not null || value.Length is 0 or > MaxNonceExtensionBytes)
                {
                    return false;
                }

                nonce = value;
            }
            else if (critical)
            {
                return false;
            }
        }

        return true;
    }
}
