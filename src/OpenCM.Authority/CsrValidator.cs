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

    /// <summary>The request's key as a DER SubjectPublicKeyInfo, once the request has passed every check.</summary>
    public static byte[] Validate(byte[] der, CertificateTemplate template, string field) =>
        Validate(der, template, field, OpenSslEcKeys.Available);

    // openSslEcImport false: EC keys through .NET's SubjectPublicKeyInfo import only, as before
    // issue #25 (the tests' oracle and the benchmark's baseline).
    internal static byte[] Validate(byte[] der, CertificateTemplate template, string field, bool openSslEcImport)
    {
        ArgumentNullException.ThrowIfNull(template);

        // 1. Its structure and algorithms, before any cryptographic work: only the key algorithm,
        //    named curve and signature hashes OpenCM issues for get as far as a signature check.
        var csr = Parse(der, field);
        CheckAlgorithms(csr, template, field);

        // 2. The signature over the request's info with its own key (proof of possession),
        //    verified directly: no request object is built (issue #11.3).
        var (algorithm, size, verified) = Verify(csr, openSslEcImport);
        if (!verified)
        {
            throw Invalid(field, "is not a PKCS#10 request with a valid signature");
        }

        // 3. The key's size.
        var wanted = template.KeyAlgorithm switch
        {
            KeyAlgorithm.Rsa => "RSA",
            _ => "ECDSA",
        };
        if (algorithm != wanted || size != template.EffectiveKeySize)
        {
            throw Invalid(field, $"carries a {algorithm} {size}-bit key; the template '{template.CommonName}' requires {wanted} {template.EffectiveKeySize}-bit");
        }

        return csr.SubjectPublicKeyInfo;
    }

    // What the request says of itself, and the parts its signature covers.
    private sealed record Outlined(
        string KeyAlgorithm, string? NamedCurve, bool ExplicitParameters, string SignatureAlgorithm,
        ReadOnlyMemory<byte> SignatureParameters, byte[] Info, byte[] SubjectPublicKeyInfo, byte[] PublicKey, byte[] Signature);

    private static Outlined Parse(byte[] der, string field)
    {
        try
        {
            // CertificationRequest ::= SEQUENCE { certificationRequestInfo SEQUENCE { version,
            //   subject, subjectPKInfo SEQUENCE { algorithm AlgorithmIdentifier, BIT STRING },
            //   attributes [0] }, signatureAlgorithm AlgorithmIdentifier, signature BIT STRING }
            //   (RFC 2986), in DER, with nothing after it.
            var outer = new AsnReader(der, AsnEncodingRules.DER);
            var request = outer.ReadSequence();
            if (outer.HasData)
            {
                throw Invalid(field, "has trailing data after the PKCS#10 request");
            }

            var info = request.PeekEncodedValue().ToArray();
            var body = request.ReadSequence();
            if (!body.TryReadInt32(out var version) || version != 0)
            {
                throw Invalid(field, "is not a PKCS#10 request with a valid signature");
            }

            _ = body.ReadEncodedValue();
            var spki = body.PeekEncodedValue().ToArray();
            var keyInfo = body.ReadSequence();
            var keyAlgorithm = keyInfo.ReadSequence();
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

            keyAlgorithm.ThrowIfNotEmpty();
            var publicKey = keyInfo.ReadBitString(out _);
            keyInfo.ThrowIfNotEmpty();
            _ = body.ReadSetOf(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true));
            body.ThrowIfNotEmpty();

            var signatureAlgorithm = request.ReadSequence();
            var signatureOid = signatureAlgorithm.ReadObjectIdentifier();
            var parameters = signatureAlgorithm.HasData ? signatureAlgorithm.ReadEncodedValue() : ReadOnlyMemory<byte>.Empty;
            signatureAlgorithm.ThrowIfNotEmpty();
            var signature = request.ReadBitString(out var unusedBits);
            request.ThrowIfNotEmpty();
            return unusedBits == 0
                ? new Outlined(keyOid, curve, explicitParameters, signatureOid, parameters, info, spki, publicKey, signature)
                : throw Invalid(field, "is not a PKCS#10 request with a valid signature");
        }
        catch (AsnContentException)
        {
            throw Invalid(field, "is not a PKCS#10 request with a valid signature");
        }
    }

    // The key's algorithm and size, and whether the signature verifies with it.
    private static (string Algorithm, int Size, bool Verified) Verify(Outlined csr, bool openSslEcImport)
    {
        try
        {
            if (csr.KeyAlgorithm == Oids.EcPublicKey)
            {
                using var ec = ImportEc(csr, openSslEcImport);
                return ("ECDSA", ec.KeySize, csr.SignatureParameters.IsEmpty
                    && Signatures.TryGetValue(csr.SignatureAlgorithm, out var ecdsa) && ecdsa.Key == Oids.EcPublicKey
                    && ec.VerifyData(csr.Info, csr.Signature, ecdsa.Hash, DSASignatureFormat.Rfc3279DerSequence));
            }

            using var rsa = RSA.Create();
            rsa.ImportSubjectPublicKeyInfo(csr.SubjectPublicKeyInfo, out _);
            var (rsaHash, padding) = RsaScheme(csr);
            return ("RSA", rsa.KeySize, padding is not null && rsa.VerifyData(csr.Info, csr.Signature, rsaHash, padding));
        }
        catch (Exception ex) when (ex is CryptographicException or AsnContentException)
        {
            // A key that does not import, or signature parameters that do not parse: no proof of possession.
            return ("unknown", 0, false);
        }
    }

    // The canonical uncompressed point of a named curve through OpenSSL's point decoder, about
    // 75 µs less than .NET's import (issue #25.3); anything else as .NET imports it, as before.
    // RSA keys stay with .NET: its SubjectPublicKeyInfo and RSAParameters imports cost the same.
    private static ECDsa ImportEc(Outlined csr, bool openSslEcImport)
    {
        if (openSslEcImport && csr.NamedCurve is { } curve && OpenSslEcKeys.TryImport(curve, csr.PublicKey) is { } imported)
        {
            return imported;
        }

        var ec = ECDsa.Create();
        try
        {
            ec.ImportSubjectPublicKeyInfo(csr.SubjectPublicKeyInfo, out _);
            return ec;
        }
        catch
        {
            ec.Dispose();
            throw;
        }
    }

    // PKCS#1 v1.5 with NULL or absent parameters; RSASSA-PSS only as .NET verifies it (MGF1 with
    // the same hash, salt as long as the hash, trailer 1): anything else does not verify here.
    private static (HashAlgorithmName Hash, RSASignaturePadding? Padding) RsaScheme(Outlined csr)
    {
        if (csr.SignatureAlgorithm == RsaPss)
        {
            return PssScheme(csr.SignatureParameters);
        }

        var pkcs1 = csr.SignatureParameters.IsEmpty || csr.SignatureParameters.Span.SequenceEqual(AsnNull);
        return pkcs1 && Signatures.TryGetValue(csr.SignatureAlgorithm, out var scheme) && scheme.Key == Oids.Rsa
            ? (scheme.Hash, RSASignaturePadding.Pkcs1)
            : (default, null);
    }

    private static readonly byte[] AsnNull = [0x05, 0x00];

    private static (HashAlgorithmName Hash, RSASignaturePadding? Padding) PssScheme(ReadOnlyMemory<byte> parameters)
    {
        // RSASSA-PSS-params ::= SEQUENCE { hashAlgorithm [0], maskGenAlgorithm [1], saltLength [2], trailerField [3] } (RFC 4055)
        var sequence = new AsnReader(parameters, AsnEncodingRules.DER).ReadSequence();
        string? hashOid = null, mgfHashOid = null;
        var saltLength = 20;
        if (sequence.HasData && sequence.PeekTag().HasSameClassAndValue(new Asn1Tag(TagClass.ContextSpecific, 0)))
        {
            hashOid = sequence.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 0)).ReadSequence().ReadObjectIdentifier();
        }

        if (sequence.HasData && sequence.PeekTag().HasSameClassAndValue(new Asn1Tag(TagClass.ContextSpecific, 1)))
        {
            var mgf = sequence.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 1)).ReadSequence();
            mgfHashOid = mgf.ReadObjectIdentifier() == "1.2.840.113549.1.1.8" ? mgf.ReadSequence().ReadObjectIdentifier() : "unsupported";
        }

        if (sequence.HasData && sequence.PeekTag().HasSameClassAndValue(new Asn1Tag(TagClass.ContextSpecific, 2)))
        {
            if (!sequence.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 2)).TryReadInt32(out saltLength))
            {
                return (default, null);
            }
        }

        if (sequence.HasData && sequence.PeekTag().HasSameClassAndValue(new Asn1Tag(TagClass.ContextSpecific, 3)))
        {
            if (!sequence.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 3)).TryReadInt32(out var trailer) || trailer != 1)
            {
                return (default, null);
            }
        }

        (HashAlgorithmName Hash, int Length)? hash = (hashOid ?? "1.3.14.3.2.26") switch
        {
            "1.3.14.3.2.26" => (HashAlgorithmName.SHA1, 20),
            "2.16.840.1.101.3.4.2.1" => (HashAlgorithmName.SHA256, 32),
            "2.16.840.1.101.3.4.2.2" => (HashAlgorithmName.SHA384, 48),
            "2.16.840.1.101.3.4.2.3" => (HashAlgorithmName.SHA512, 64),
            _ => null,
        };
        return hash is { } h && (mgfHashOid ?? "1.3.14.3.2.26") == (hashOid ?? "1.3.14.3.2.26") && saltLength == h.Length && !sequence.HasData
            ? (h.Hash, RSASignaturePadding.Pss)
            : (default, null);
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

        if (!Signatures.TryGetValue(csr.SignatureAlgorithm, out var signature) || signature.Key != wantedKey)
        {
            throw Invalid(field, $"is signed with {Name(csr.SignatureAlgorithm)}; sign it with SHA-256 or stronger");
        }
    }

    // The signature algorithms a CSR may use, with the key they belong to and their hash; RSASSA-PSS
    // names its hash in its parameters. SHA-1 stays accepted: it only proves possession of the key
    // here, and older Windows clients use it; the CA signs with its own hash. One table serves the
    // check of what is allowed and the verification.
    private const string RsaPss = "1.2.840.113549.1.1.10";

    private static readonly Dictionary<string, (string Key, HashAlgorithmName Hash)> Signatures = new(StringComparer.Ordinal)
    {
        ["1.2.840.113549.1.1.5"] = (Oids.Rsa, HashAlgorithmName.SHA1),
        ["1.2.840.113549.1.1.11"] = (Oids.Rsa, HashAlgorithmName.SHA256),
        ["1.2.840.113549.1.1.12"] = (Oids.Rsa, HashAlgorithmName.SHA384),
        ["1.2.840.113549.1.1.13"] = (Oids.Rsa, HashAlgorithmName.SHA512),
        [RsaPss] = (Oids.Rsa, default),
        ["1.2.840.10045.4.1"] = (Oids.EcPublicKey, HashAlgorithmName.SHA1),
        ["1.2.840.10045.4.3.2"] = (Oids.EcPublicKey, HashAlgorithmName.SHA256),
        ["1.2.840.10045.4.3.3"] = (Oids.EcPublicKey, HashAlgorithmName.SHA384),
        ["1.2.840.10045.4.3.4"] = (Oids.EcPublicKey, HashAlgorithmName.SHA512),
    };

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

    private static OpenCmException Invalid(string field, string what) =>
        new(DomainError.Validation(field, $"The certificate request {what}."));
}
