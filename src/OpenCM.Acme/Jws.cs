using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using OpenCM.Domain;

namespace OpenCM.Acme;

/// <summary>Strict base64url (RFC 4648 §5, RFC 7515 §2): the URL-safe alphabet, no padding, no white space.</summary>
public static class Base64Url
{
    public static string Encode(ReadOnlySpan<byte> bytes) => System.Buffers.Text.Base64Url.EncodeToString(bytes);

    /// <summary>The bytes of <paramref name="text"/>, or null when it is not strict base64url.</summary>
    public static byte[]? TryDecode(string? text)
    {
        if (text is null || text.Length % 4 == 1)
        {
            return null;
        }

        foreach (var c in text)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
            {
                return null;
            }
        }

        try
        {
            var bytes = System.Buffers.Text.Base64Url.DecodeFromChars(text);

            // Non-canonical trailing bits would let two strings name the same bytes (a nonce, a key): refused.
            return string.Equals(Encode(bytes), text, StringComparison.Ordinal) ? bytes : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    public static byte[] Decode(string? text, string what) =>
        TryDecode(text) ?? throw AcmeErrors.Malformed400($"{what} is not base64url (RFC 7515 §2: URL-safe alphabet, no padding).");
}

/// <summary>
/// A public JSON Web Key (RFC 7517) of the kinds ACME accounts use here: RSA (2048 to 8192 bits)
/// and EC on P-256 or P-384. EdDSA is not offered: .NET has no Ed25519 without a third-party
/// library (docs/acme.md).
/// </summary>
public sealed class JsonWebKey
{
    private JsonWebKey(string kty, string? crv, byte[] a, byte[] b)
    {
        Kty = kty;
        Crv = crv;
        (_a, _b) = (a, b);
    }

    private readonly byte[] _a; // RSA n, EC x
    private readonly byte[] _b; // RSA e, EC y

    public string Kty { get; }

    public string? Crv { get; }

    /// <summary>The key's RFC 7638 thumbprint: SHA-256 over its required members in lexicographic order, base64url.</summary>
    public string Thumbprint => Base64Url.Encode(SHA256.HashData(Encoding.UTF8.GetBytes(CanonicalJson)));

    /// <summary>The required members in lexicographic order without white space (RFC 7638 §3).</summary>
    public string CanonicalJson => Kty == "RSA"
        ? $"{{\"e\":\"{Base64Url.Encode(_b)}\",\"kty\":\"RSA\",\"n\":\"{Base64Url.Encode(_a)}\"}}"
        : $"{{\"crv\":\"{Crv}\",\"kty\":\"EC\",\"x\":\"{Base64Url.Encode(_a)}\",\"y\":\"{Base64Url.Encode(_b)}\"}}";

    /// <summary>Reads a public key; a malformed or unsupported one is badPublicKey (or malformed when it is not a key at all).</summary>
    public static JsonWebKey Parse(JsonElement jwk)
    {
        if (jwk.ValueKind != JsonValueKind.Object)
        {
            throw AcmeErrors.Malformed400("The jwk is not a JSON object.");
        }

        var kty = Member(jwk, "kty");
        if (jwk.TryGetProperty("d", out _))
        {
            throw AcmeErrors.Problem(ErrorKind.ValidationFailed, AcmeErrors.BadPublicKey, "The jwk holds a private key.");
        }

        JsonWebKey key;
        switch (kty)
        {
            case "RSA":
                var n = Base64Url.Decode(Member(jwk, "n"), "The jwk's n");
                var e = Base64Url.Decode(Member(jwk, "e"), "The jwk's e");
                var bits = n.Length == 0 ? 0 : ((n.Length - 1) * 8) + (8 - byte.LeadingZeroCount(n[0]));
                if (n.Length == 0 || n[0] == 0 || bits is < 2048 or > 8192 || e.Length is 0 or > 8 || e[0] == 0)
                {
                    throw AcmeErrors.Problem(ErrorKind.ValidationFailed, AcmeErrors.BadPublicKey, "RSA account keys have 2048 to 8192 bits and a minimal encoding.");
                }

                key = new JsonWebKey("RSA", null, n, e);
                break;
            case "EC":
                var crv = Member(jwk, "crv");
                var size = crv switch { "P-256" => 32, "P-384" => 48, _ => 0 };
                var x = Base64Url.Decode(Member(jwk, "x"), "The jwk's x");
                var y = Base64Url.Decode(Member(jwk, "y"), "The jwk's y");
                if (size == 0 || x.Length != size || y.Length != size)
                {
                    throw AcmeErrors.Problem(ErrorKind.ValidationFailed, AcmeErrors.BadPublicKey, "EC account keys are on P-256 or P-384 with coordinates of the curve's size.");
                }

                key = new JsonWebKey("EC", crv, x, y);
                break;
            default:
                throw AcmeErrors.Problem(ErrorKind.ValidationFailed, AcmeErrors.BadPublicKey, "Account keys are RSA or EC (P-256, P-384).");
        }

        // Importing checks the point is on the curve; a key that does not import is refused now, not at verification.
        try
        {
            using var imported = key.Import();
        }
        catch (CryptographicException)
        {
            throw AcmeErrors.Problem(ErrorKind.ValidationFailed, AcmeErrors.BadPublicKey, "The jwk is not a valid public key.");
        }

        return key;
    }

    /// <summary>The key as .NET's algorithm object (the caller disposes it).</summary>
    public AsymmetricAlgorithm Import()
    {
        if (Kty == "RSA")
        {
            var rsa = RSA.Create();
            rsa.ImportParameters(new RSAParameters { Modulus = _a, Exponent = _b });
            return rsa;
        }

        var ec = ECDsa.Create();
        ec.ImportParameters(new ECParameters
        {
            Curve = Crv == "P-256" ? ECCurve.NamedCurves.nistP256 : ECCurve.NamedCurves.nistP384,
            Q = new ECPoint { X = _a, Y = _b },
        });
        return ec;
    }

    /// <summary>The key's SubjectPublicKeyInfo (DER), to compare with a certificate's.</summary>
    public byte[] SubjectPublicKeyInfo()
    {
        using var key = Import();
        return key.ExportSubjectPublicKeyInfo();
    }

    /// <summary>Whether <paramref name="alg"/> is the JWS algorithm of this key (RS256; ES256 on P-256, ES384 on P-384).</summary>
    public bool Fits(string alg) => (alg, Kty, Crv) switch
    {
        ("RS256", "RSA", _) => true,
        ("ES256", "EC", "P-256") => true,
        ("ES384", "EC", "P-384") => true,
        _ => false,
    };

    /// <summary>Verifies a JWS signature of this key; false for any mismatch (never throws for client bytes).</summary>
    public bool Verify(string alg, byte[] signingInput, byte[] signature)
    {
        if (!Fits(alg))
        {
            return false;
        }

        try
        {
            using var key = Import();
            return key switch
            {
                RSA rsa => rsa.VerifyData(signingInput, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1),

                // JWS's ECDSA signatures are R || S of the curve's size (RFC 7518 §3.4), .NET's IEEE P1363 format.
                ECDsa ec => signature.Length == (Crv == "P-256" ? 64 : 96)
                    && ec.VerifyData(signingInput, signature, Crv == "P-256" ? HashAlgorithmName.SHA256 : HashAlgorithmName.SHA384),
                _ => false,
            };
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    private static string Member(JsonElement jwk, string name) =>
        jwk.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : throw AcmeErrors.Malformed400($"The jwk has no string member '{name}'.");
}

/// <summary>
/// A flattened JWS JSON request body (RFC 7515 §7.2.2; RFC 8555 §6.2): protected header, payload,
/// one signature, no unprotected header. Parsing checks form only; <see cref="JsonWebKey.Verify"/>
/// checks the signature.
/// </summary>
public sealed class JwsMessage
{
    /// <summary>The algorithms accepted for account keys (RFC 8555 §6.2 names RS256 and ES256 as the must).</summary>
    public static readonly IReadOnlyList<string> Algorithms = ["RS256", "ES256", "ES384"];

    private JwsMessage(string protectedPart, string payloadPart, byte[] payload, byte[] signature, string alg, string? nonce, string? url, JsonElement? jwk, string? kid)
    {
        (ProtectedPart, PayloadPart, Payload, Signature) = (protectedPart, payloadPart, payload, signature);
        (Alg, Nonce, Url, Jwk, Kid) = (alg, nonce, url, jwk, kid);
    }

    public string ProtectedPart { get; }

    public string PayloadPart { get; }

    /// <summary>The payload's bytes; empty for POST-as-GET (RFC 8555 §6.3).</summary>
    public byte[] Payload { get; }

    public byte[] Signature { get; }

    public string Alg { get; }

    public string? Nonce { get; }

    public string? Url { get; }

    public JsonElement? Jwk { get; }

    public string? Kid { get; }

    public bool IsPostAsGet => Payload.Length == 0;

    /// <summary>What was signed: ASCII(protected '.' payload).</summary>
    public byte[] SigningInput => Encoding.ASCII.GetBytes(ProtectedPart + "." + PayloadPart);

    /// <summary>The payload as a JSON object; malformed when it is not one.</summary>
    public JsonElement PayloadObject()
    {
        try
        {
            using var doc = JsonDocument.Parse(Payload, new JsonDocumentOptions { MaxDepth = 16 });
            return doc.RootElement.ValueKind == JsonValueKind.Object ? doc.RootElement.Clone() : throw AcmeErrors.Malformed400("The payload is not a JSON object.");
        }
        catch (JsonException)
        {
            throw AcmeErrors.Malformed400("The payload is not JSON.");
        }
    }

    /// <summary>Parses a flattened JWS from <paramref name="body"/>; any defect is malformed (badSignatureAlgorithm for an algorithm not offered).</summary>
    public static JwsMessage Parse(ReadOnlySpan<byte> body) => Parse(ParseObject(body));

    /// <summary>Parses a flattened JWS already read as JSON (keyChange's inner JWS, an EAB).</summary>
    public static JwsMessage Parse(JsonElement jws, bool mac = false)
    {
        if (jws.ValueKind != JsonValueKind.Object)
        {
            throw AcmeErrors.Malformed400("The JWS is not a JSON object.");
        }

        foreach (var member in jws.EnumerateObject())
        {
            if (member.Name is not ("protected" or "payload" or "signature"))
            {
                // RFC 8555 §6.2: no unprotected header, one signature (flattened serialization only).
                throw AcmeErrors.Malformed400($"The JWS has a member '{Shown(member.Name)}'; ACME uses the flattened form with protected, payload and signature only.");
            }
        }

        var protectedPart = StringMember(jws, "protected");
        var payloadPart = StringMember(jws, "payload");
        var signature = Base64Url.Decode(StringMember(jws, "signature"), "The signature");
        var header = ParseObject(Base64Url.Decode(protectedPart, "The protected header"));
        var payload = Base64Url.Decode(payloadPart, "The payload");

        var alg = Optional(header, "alg") ?? throw AcmeErrors.Malformed400("The protected header has no alg.");
        var known = mac ? alg is "HS256" or "HS384" or "HS512" : Algorithms.Contains(alg);
        if (!known)
        {
            throw AcmeErrors.Problem(ErrorKind.ValidationFailed, AcmeErrors.BadSignatureAlgorithm,
                mac ? "The external account binding's alg is HS256, HS384 or HS512." : $"The alg '{Shown(alg)}' is not offered; use one of {string.Join(", ", Algorithms)}.");
        }

        JsonElement? jwk = header.TryGetProperty("jwk", out var j) ? j.Clone() : null;
        var kid = Optional(header, "kid");
        if (!mac && (jwk is null) == (kid is null))
        {
            throw AcmeErrors.Malformed400("The protected header has exactly one of jwk and kid (RFC 8555 §6.2).");
        }

        return new JwsMessage(protectedPart, payloadPart, payload, signature, alg, Optional(header, "nonce"), Optional(header, "url"), jwk, kid);
    }

    private static JsonElement ParseObject(ReadOnlySpan<byte> json)
    {
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 16 });
            using var doc = JsonDocument.ParseValue(ref reader);
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw AcmeErrors.Malformed400("The JWS or its header is not a JSON object.");
            }

            // Duplicate members would let two readers see two headers: refused.
            var names = new HashSet<string>(StringComparer.Ordinal);
            if (doc.RootElement.EnumerateObject().Any(p => !names.Add(p.Name)))
            {
                throw AcmeErrors.Malformed400("The JWS or its header names a member twice.");
            }

            return doc.RootElement.Clone();
        }
        catch (JsonException)
        {
            throw AcmeErrors.Malformed400("The request body is not a flattened JWS in JSON.");
        }
    }

    private static string StringMember(JsonElement o, string name) =>
        o.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : throw AcmeErrors.Malformed400($"The JWS has no string member '{name}'.");

    private static string? Optional(JsonElement o, string name) =>
        !o.TryGetProperty(name, out var v) ? null
        : v.ValueKind == JsonValueKind.String ? v.GetString() : throw AcmeErrors.Malformed400($"The protected header's '{name}' is not a string.");

    // Client text in a message: printable ASCII, at most 40 characters.
    internal static string Shown(string value) =>
        new([.. value.Take(40).Select(c => c is >= ' ' and <= '~' and not '"' ? c : '?')]);
}
