using System.Formats.Asn1;
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

        // 1. Its structure and algorithms, before any cryptographic work: only the key algorithm,
        //    named curve and signature hashes OpenCM issues for get as far as a signature check.
        CheckAlgorithms(Outline(der, field), template, field);

        // 2. The signature (proof of possession), then the key's size.
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
        catch (Exception ex) when (ex is CryptographicException or NotSupportedException or ArgumentException)
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

    // What the request says of itself: its key's algorithm and parameters, and its signature algorithm.
    private sealed record Outlined(string KeyAlgorithm, string? NamedCurve, bool ExplicitParameters, string SignatureAlgorithm);

    private static Outlined Outline(byte[] der, string field)
    {
        try
        {
            // CertificationRequest ::= SEQUENCE { certificationRequestInfo SEQUENCE { version,
            //   subject, subjectPKInfo SEQUENCE { algorithm AlgorithmIdentifier, BIT STRING }, … },
            //   signatureAlgorithm AlgorithmIdentifier, signature BIT STRING }   (RFC 2986)
            var request = new AsnReader(der, AsnEncodingRules.DER).ReadSequence();
            var info = request.ReadSequence();
            _ = info.ReadInteger();
            _ = info.ReadEncodedValue();
            var keyAlgorithm = info.ReadSequence().ReadSequence();
            var keyOid = keyAlgorithm.ReadObjectIdentifier();
            string? curve = null;
            var explicitParameters = false;
            if (keyAlgorithm.HasData)
            {
                var tag = keyAlgorithm.PeekTag();
                if (tag.HasSameClassAndValue(Asn1Tag.ObjectIdentifier))
                {
                    curve = keyAlgorithm.ReadObjectIdentifier();
                }
                else
                {
                    explicitParameters = !tag.HasSameClassAndValue(Asn1Tag.Null);
                    _ = keyAlgorithm.ReadEncodedValue();
                }
            }

            var signatureOid = request.ReadSequence().ReadObjectIdentifier();
            return new Outlined(keyOid, curve, explicitParameters, signatureOid);
        }
        catch (AsnContentException)
        {
            throw Invalid(field, "is not a PKCS#10 request with a valid signature");
        }
    }

    private static void CheckAlgorithms(Outlined csr, CertificateTemplate template, string field)
    {
        var (wantedKey, wantedCurve) = template.KeyAlgorithm switch
        {
            KeyAlgorithm.EcdsaP256 => (Oids.EcPublicKey, Oids.P256),
            KeyAlgorithm.EcdsaP384 => (Oids.EcPublicKey, Oids.P384),
            _ => (Oids.Rsa, (string?)null),
        };
        var wanted = $"{(wantedCurve is null ? "RSA" : "ECDSA")} {template.EffectiveKeySize}-bit";
        if (csr.KeyAlgorithm != wantedKey)
        {
            var size = csr.NamedCurve switch { Oids.P256 => " 256-bit", Oids.P384 => " 384-bit", "1.3.132.0.35" => " 521-bit", _ => "" };
            throw Invalid(field, $"carries a {Name(csr.KeyAlgorithm)}{size} key; the template '{template.CommonName}' requires {wanted}");
        }

        if (wantedCurve is not null && csr.ExplicitParameters)
        {
            throw Invalid(field, "carries explicit curve parameters; RFC 5480 requires a named curve");
        }

        if (wantedCurve is not null && csr.NamedCurve != wantedCurve)
        {
            throw Invalid(field, $"carries a key on curve {Name(csr.NamedCurve ?? "none")}; the template '{template.CommonName}' requires {wanted} ({Name(wantedCurve)})");
        }

        if (!(wantedCurve is null ? RsaSignatures : EcdsaSignatures).Contains(csr.SignatureAlgorithm))
        {
            throw Invalid(field, $"is signed with {Name(csr.SignatureAlgorithm)}; sign it with SHA-256 or stronger");
        }
    }

    // SHA-1 stays accepted: it only proves possession of the key here, and older Windows clients use it; the CA signs with its own hash.
    private static readonly HashSet<string> RsaSignatures = ["1.2.840.113549.1.1.5", "1.2.840.113549.1.1.10", "1.2.840.113549.1.1.11", "1.2.840.113549.1.1.12", "1.2.840.113549.1.1.13"];
    private static readonly HashSet<string> EcdsaSignatures = ["1.2.840.10045.4.1", "1.2.840.10045.4.3.2", "1.2.840.10045.4.3.3", "1.2.840.10045.4.3.4"];

    private static string Name(string oid) => oid switch
    {
        Oids.Rsa => "RSA",
        Oids.EcPublicKey => "ECDSA",
        Oids.P256 => "P-256",
        Oids.P384 => "P-384",
        "1.3.132.0.35" => "P-521",
        "1.3.132.0.10" => "secp256k1",
        "1.3.36.3.3.2.8.1.1.7" => "brainpoolP256r1",
        "1.3.36.3.3.2.8.1.1.11" => "brainpoolP384r1",
        "1.3.101.112" => "Ed25519",
        "1.3.101.113" => "Ed448",
        "1.2.840.10040.4.1" => "DSA",
        "1.2.840.113549.1.1.4" => "MD5 (md5WithRSAEncryption)",
        "1.2.840.113549.1.1.2" => "MD2 (md2WithRSAEncryption)",
        _ => oid,
    };

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
