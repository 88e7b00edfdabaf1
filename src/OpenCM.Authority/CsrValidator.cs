using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OpenCM.Domain;

namespace OpenCM.Authority;

/// <summary>
/// Checks one PKCS#10 request against its certificate template (SPEC §7): it must parse, its
/// signature must verify (proof of possession of the key), and its key must be the algorithm
/// and size the template asks for. What else it asks for (subject, extensions) is ignored: the CA
/// decides those from the template.
/// </summary>
public static class CsrValidator
{
    /// <summary>Accepts DER in base64, with or without PEM armour and line breaks (the reference sends <c>\r\n</c>).</summary>
    public static byte[] Decode(string text, string field)
    {
        ArgumentNullException.ThrowIfNull(text);
        var body = text.Trim();
        if (body.StartsWith("-----BEGIN", StringComparison.Ordinal))
        {
            var start = body.IndexOf('\n', StringComparison.Ordinal);
            var end = body.LastIndexOf("-----END", StringComparison.Ordinal);
            body = start >= 0 && end > start ? body[(start + 1)..end] : "";
        }

        var compact = string.Concat(body.Where(c => !char.IsWhiteSpace(c)));
        try
        {
            var der = Convert.FromBase64String(compact);
            return der.Length > 0 ? der : throw Invalid(field, "is empty");
        }
        catch (FormatException)
        {
            throw Invalid(field, "is not base64");
        }
    }

    /// <summary>The request's public key, once the request has passed every check.</summary>
    public static PublicKey Validate(byte[] der, CertificateTemplate template, string field)
    {
        ArgumentNullException.ThrowIfNull(template);
        CertificateRequest request;
        try
        {
            // Loading verifies the self-signature: the requester holds the private key.
            request = CertificateRequest.LoadSigningRequest(der, HashAlgorithmName.SHA256, out var consumed,
                CertificateRequestLoadOptions.Default, RSASignaturePadding.Pkcs1);
            if (consumed != der.Length)
            {
                throw Invalid(field, "has trailing data after the PKCS#10 request");
            }
        }
        catch (CryptographicException)
        {
            throw Invalid(field, "is not a PKCS#10 request with a valid signature");
        }

        var key = request.PublicKey;
        var (algorithm, size) = Describe(key);
        var wanted = template.KeyAlgorithm switch
        {
            KeyAlgorithm.Rsa => "RSA",
            _ => "ECDSA",
        };
        if (algorithm != wanted || size != template.EffectiveKeySize)
        {
            throw Invalid(field, $"carries a {algorithm} {size}-bit key; the template '{template.CommonName}' requires {wanted} {template.EffectiveKeySize}-bit");
        }

        return key;
    }

    private static (string Algorithm, int Size) Describe(PublicKey key)
    {
        switch (key.Oid.Value)
        {
            case Oids.Rsa:
            {
                using var rsa = key.GetRSAPublicKey()!;
                return ("RSA", rsa.KeySize);
            }

            case Oids.EcPublicKey:
            {
                using var ec = key.GetECDsaPublicKey()!;
                return ("ECDSA", ec.KeySize);
            }

            default:
                return (key.Oid.FriendlyName ?? key.Oid.Value ?? "unknown", 0);
        }
    }

    private static OpenCmException Invalid(string field, string what) =>
        new(DomainError.Validation(field, $"The certificate request {what}."));
}
