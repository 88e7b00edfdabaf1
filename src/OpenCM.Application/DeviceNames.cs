using System.Formats.Asn1;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OpenCM.Domain;

namespace OpenCM.Application;

/// <summary>The names a device's own PKCS#10 request asks for (EST and SCEP carry no others; issue #24).</summary>
public static class DeviceNames
{
    private const string SubjectAltName = "2.5.29.17";
    private const string CommonName = "2.5.4.3";

    /// <summary>
    /// The dNSName, iPAddress and uniformResourceIdentifier entries of the request's
    /// subjectAltName extension, in order; with no such entry, its common name when that is a
    /// host name (older EST and SCEP clients name the host only there). Other kinds are ignored:
    /// the template's subject, not the CSR, decides the rest (SPEC §7). Whether the template
    /// allows the names is <see cref="RequestedNames.Check"/>'s business, later.
    /// A request that does not parse is ValidationFailed on <c>csr</c>.
    /// </summary>
    public static IReadOnlyList<RequestedName> OfCertificateRequest(byte[] pkcs10Der)
    {
        ArgumentNullException.ThrowIfNull(pkcs10Der);
        CertificateRequest request;
        try
        {
            // The signature is checked with the rest of the request by the CSR checker; here only the names are read.
            request = CertificateRequest.LoadSigningRequest(pkcs10Der, HashAlgorithmName.SHA256,
                CertificateRequestLoadOptions.SkipSignatureValidation | CertificateRequestLoadOptions.UnsafeLoadCertificateExtensions);
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException or AsnContentException)
        {
            throw new OpenCmException(DomainError.Validation("csr", "The certificate request is not a PKCS#10 request."));
        }

        var names = new List<RequestedName>();
        foreach (var extension in request.CertificateExtensions.Where(e => e.Oid?.Value == SubjectAltName))
        {
            try
            {
                ReadGeneralNames(extension.RawData, names);
            }
            catch (Exception ex) when (ex is AsnContentException or ArgumentException)
            {
                throw new OpenCmException(DomainError.Validation("csr", "The certificate request's subjectAltName is not DER GeneralNames."));
            }
        }

        if (names.Count == 0 && CommonNameOf(request.SubjectName) is { } cn && LooksLikeHost(cn))
        {
            names.Add(new RequestedName(RequestedNameKind.Dns, cn));
        }

        return names;
    }

    /// <summary>The name a template's <c>{requested}</c> stands for: the first DNS name, else the first address, else the first URI.</summary>
    public static string? First(AcceptedNames names)
    {
        ArgumentNullException.ThrowIfNull(names);
        return names.DnsNames.Count > 0 ? names.DnsNames[0]
            : names.IpAddresses.Count > 0 ? names.IpAddresses[0].ToString()
            : names.Uris.Count > 0 ? names.Uris[0]
            : null;
    }

    // GeneralNames ::= SEQUENCE OF GeneralName; dNSName [2] and uniformResourceIdentifier [6] are
    // IA5String, iPAddress [7] an OCTET STRING of 4 or 16 bytes (RFC 5280 §4.2.1.6).
    private static void ReadGeneralNames(byte[] der, List<RequestedName> names)
    {
        var reader = new AsnReader(der, AsnEncodingRules.DER);
        var sequence = reader.ReadSequence();
        reader.ThrowIfNotEmpty();
        while (sequence.HasData)
        {
            var tag = sequence.PeekTag();
            if (tag.TagClass != TagClass.ContextSpecific)
            {
                throw new AsnContentException("A GeneralName is context-specific.");
            }

            switch (tag.TagValue)
            {
                case 2:
                    names.Add(new RequestedName(RequestedNameKind.Dns, sequence.ReadCharacterString(UniversalTagNumber.IA5String, new Asn1Tag(TagClass.ContextSpecific, 2))));
                    break;
                case 6:
                    names.Add(new RequestedName(RequestedNameKind.Uri, sequence.ReadCharacterString(UniversalTagNumber.IA5String, new Asn1Tag(TagClass.ContextSpecific, 6))));
                    break;
                case 7:
                    var octets = sequence.ReadOctetString(new Asn1Tag(TagClass.ContextSpecific, 7));
                    if (octets.Length is not (4 or 16))
                    {
                        throw new AsnContentException("An iPAddress is 4 or 16 octets.");
                    }

                    names.Add(new RequestedName(RequestedNameKind.Ip, new IPAddress(octets).ToString()));
                    break;
                default:
                    sequence.ReadEncodedValue();
                    break;
            }
        }
    }

    private static string? CommonNameOf(X500DistinguishedName name)
    {
        foreach (var rdn in name.EnumerateRelativeDistinguishedNames())
        {
            if (!rdn.HasMultipleElements && rdn.GetSingleElementType().Value == CommonName)
            {
                return rdn.GetSingleElementValue();
            }
        }

        return null;
    }

    // A common name that could be a host: letters, digits, hyphens and dots, with a dot. The
    // template's rules decide whether it is one it may certify.
    private static bool LooksLikeHost(string cn) =>
        cn.Length is > 0 and <= 253 && cn.Contains('.', StringComparison.Ordinal) && cn.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.');
}
