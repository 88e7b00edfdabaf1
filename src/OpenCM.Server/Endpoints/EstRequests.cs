using System.Formats.Asn1;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using OpenCM.Application;
using OpenCM.Domain;

namespace OpenCM.Server.Endpoints;

/// <summary>
/// An EST enrollment's body (RFC 7030 §4.2.1): base64 of a DER PKCS#10, read strictly enough that
/// anything else is a 400 with a reason and never reaches the request workflow; and §4.2.2's rule
/// that a re-enrollment asks for the current certificate's subject and names.
/// </summary>
internal static class EstRequests
{
    private static readonly string[] PemLabels = ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"];

    /// <summary>The DER of a body: base64 (line breaks and other white space allowed), or the same in PEM armour.</summary>
    public static byte[] Decode(byte[] body)
    {
        ArgumentNullException.ThrowIfNull(body);
        string text;
        try
        {
            text = new ASCIIEncoding().GetString(body).Trim();
            if (body.Any(b => b > 0x7E))
            {
                throw new FormatException();
            }

            foreach (var label in PemLabels)
            {
                var begin = $"-----BEGIN {label}-----";
                var end = $"-----END {label}-----";
                if (text.StartsWith(begin, StringComparison.Ordinal) && text.EndsWith(end, StringComparison.Ordinal))
                {
                    text = text[begin.Length..^end.Length];
                    break;
                }
            }

            var der = Convert.FromBase64String(text);
            return der.Length > 0 ? der : throw new FormatException();
        }
        catch (FormatException)
        {
            throw new OpenCmException(DomainError.Validation("body", "The body is not base64 of a DER PKCS#10 certificate request (RFC 7030 §4.2.1)."));
        }
    }

    /// <summary>The PKCS#10 request in <paramref name="der"/>, its signature checked; anything else (trailing bytes included) is a 400.</summary>
    public static CertificateRequest Parse(byte[] der)
    {
        ArgumentNullException.ThrowIfNull(der);
        try
        {
            var request = CertificateRequest.LoadSigningRequest(der, HashAlgorithmName.SHA256, out var consumed, CertificateRequestLoadOptions.UnsafeLoadCertificateExtensions);
            return consumed == der.Length
                ? request
                : throw new CryptographicException();
        }
        catch (Exception e) when (e is CryptographicException or AsnContentException or ArgumentException or PlatformNotSupportedException)
        {
            throw new OpenCmException(DomainError.Validation("body", "The body is not a PKCS#10 certificate request with a valid signature."));
        }
    }

    /// <summary>
    /// RFC 7030 §4.2.2: a re-enrollment asks for the current certificate's names (the DNS names,
    /// addresses and URIs of its subjectAltName; without one, a CN that is a host name, as a first
    /// enrollment reads a CSR) and, when its subject is not empty, the current subject. OpenCM's
    /// CA builds the subject from the template (SPEC §7), so an empty subject in the CSR is accepted.
    /// </summary>
    public static void CheckSameAs(CertificateRequest request, StoredCertificate current)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(current);
        using var certificate = X509CertificateLoader.LoadCertificate(current.Certificate.Der);
        if (request.SubjectName.RawData.Length > 2
            && !string.Equals(request.SubjectName.Format(false), certificate.SubjectName.Format(false), StringComparison.Ordinal))
        {
            throw new OpenCmException(DomainError.Validation("body",
                $"simplereenroll asks for the current certificate's subject ({Printable(certificate.SubjectName.Format(false))}), not another (RFC 7030 §4.2.2)."));
        }

        var asked = NamesOf(request.CertificateExtensions, request.SubjectName);
        var held = NamesOf(certificate.Extensions.Cast<X509Extension>(), certificate.SubjectName);
        if (!asked.SetEquals(held))
        {
            throw new OpenCmException(DomainError.Validation("body",
                $"simplereenroll asks for the current certificate's names ({Printable(string.Join(", ", held.Order(StringComparer.Ordinal)))}), not others (RFC 7030 §4.2.2)."));
        }
    }

    // "dns:…", "ip:…" and "uri:…" of a subjectAltName, DNS names in lower case; with no SAN, a CN that is a host name (both sides alike).
    private static HashSet<string> NamesOf(IEnumerable<X509Extension> extensions, X500DistinguishedName subject)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        var san = extensions.FirstOrDefault(e => e.Oid?.Value == "2.5.29.17");
        if (san is null)
        {
            // DeviceNames.OfCertificateRequest's rule for a CN that names a host (a dot, letters, digits, hyphens), so that both sides read alike.
            if (CommonName(subject) is { Length: > 0 and <= 253 } cn && cn.Contains('.', StringComparison.Ordinal) && cn.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.'))
            {
                names.Add("dns:" + cn.TrimEnd('.').ToLowerInvariant());
            }

            return names;
        }

        try
        {
            var reader = new AsnReader(san.RawData, AsnEncodingRules.DER).ReadSequence();
            while (reader.HasData)
            {
                var tag = reader.PeekTag();
                if (tag.TagClass != TagClass.ContextSpecific)
                {
                    reader.ReadEncodedValue();
                    continue;
                }

                switch (tag.TagValue)
                {
                    case 2:
                        names.Add("dns:" + reader.ReadCharacterString(UniversalTagNumber.IA5String, tag).TrimEnd('.').ToLowerInvariant());
                        break;
                    case 6:
                        names.Add("uri:" + reader.ReadCharacterString(UniversalTagNumber.IA5String, tag));
                        break;
                    case 7:
                        names.Add("ip:" + new IPAddress(reader.ReadOctetString(tag)));
                        break;
                    default:
                        reader.ReadEncodedValue();
                        break;
                }
            }
        }
        catch (Exception e) when (e is AsnContentException or ArgumentException)
        {
            throw new OpenCmException(DomainError.Validation("body", "The certificate request's subjectAltName cannot be read."));
        }

        return names;
    }

    private static string? CommonName(X500DistinguishedName subject) =>
        subject.EnumerateRelativeDistinguishedNames().FirstOrDefault(r => !r.HasMultipleElements && r.GetSingleElementType().Value == "2.5.4.3")?.GetSingleElementValue();

    private static string Printable(string text)
    {
        var clean = new string([.. text.Select(c => c is >= ' ' and <= '~' ? c : '?')]);
        return clean.Length > 200 ? clean[..200] : clean;
    }
}
