using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using B64 = System.Buffers.Text.Base64Url;

namespace OpenCM.TestKit;

/// <summary>
/// A hand-written ACME JWS signer for tests (RFC 7515 flattened JSON, RFC 8555 §6.2): an account
/// key (ES256, ES384 or RS256), its JWK and RFC 7638 thumbprint, and bodies signed with a jwk or a
/// kid, External Account Bindings and keyChange's inner JWS. Every field can be spoiled on purpose.
/// </summary>
public sealed class AcmeJws : IDisposable
{
    private readonly AsymmetricAlgorithm _key;

    public AcmeJws(string alg = "ES256")
    {
        Alg = alg;
        _key = alg switch
        {
            "ES256" => ECDsa.Create(ECCurve.NamedCurves.nistP256),
            "ES384" => ECDsa.Create(ECCurve.NamedCurves.nistP384),
            "RS256" => RSA.Create(2048),
            _ => throw new ArgumentOutOfRangeException(nameof(alg)),
        };
    }

    public string Alg { get; }

    public AsymmetricAlgorithm Key => _key;

    public static string B64u(ReadOnlySpan<byte> bytes) => B64.EncodeToString(bytes);

    public static string B64u(string text) => B64u(Encoding.UTF8.GetBytes(text));

    /// <summary>The public JWK, its members in RFC 7638's order (so it is also the thumbprint's input).</summary>
    public string Jwk
    {
        get
        {
            if (_key is ECDsa ec)
            {
                var p = ec.ExportParameters(false);
                return $"{{\"crv\":\"{(Alg == "ES256" ? "P-256" : "P-384")}\",\"kty\":\"EC\",\"x\":\"{B64u(p.Q.X)}\",\"y\":\"{B64u(p.Q.Y)}\"}}";
            }

            var r = ((RSA)_key).ExportParameters(false);
            return $"{{\"e\":\"{B64u(r.Exponent)}\",\"kty\":\"RSA\",\"n\":\"{B64u(r.Modulus)}\"}}";
        }
    }

    public string Thumbprint => B64u(SHA256.HashData(Encoding.UTF8.GetBytes(Jwk)));

    public byte[] Sign(byte[] input) => _key switch
    {
        ECDsa ec => ec.SignData(input, Alg == "ES256" ? HashAlgorithmName.SHA256 : HashAlgorithmName.SHA384),
        RSA rsa => rsa.SignData(input, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1),
        _ => throw new InvalidOperationException(),
    };

    /// <summary>A flattened JWS: protected header from <paramref name="header"/> (alg added unless given), payload (null: POST-as-GET's empty string).</summary>
    public string Body(JsonObject header, string? payload)
    {
        if (!header.ContainsKey("alg"))
        {
            header["alg"] = Alg;
        }

        var protectedPart = B64u(header.ToJsonString());
        var payloadPart = payload is null ? "" : B64u(payload);
        var signature = B64u(Sign(Encoding.ASCII.GetBytes(protectedPart + "." + payloadPart)));
        return new JsonObject { ["protected"] = protectedPart, ["payload"] = payloadPart, ["signature"] = signature }.ToJsonString();
    }

    /// <summary>Signed with the key itself (newAccount, revokeCert by the certificate's key).</summary>
    public string WithJwk(string url, string? nonce, string? payload) =>
        Body(new JsonObject { ["nonce"] = nonce, ["url"] = url, ["jwk"] = JsonNode.Parse(Jwk) }, payload);

    /// <summary>Signed by an account (every other resource).</summary>
    public string WithKid(string kid, string url, string? nonce, string? payload) =>
        Body(new JsonObject { ["nonce"] = nonce, ["url"] = url, ["kid"] = kid }, payload);

    /// <summary>An External Account Binding of this key (RFC 8555 §7.3.4): HS256 over the JWK with the EAB key.</summary>
    public JsonObject Binding(string keyId, byte[] hmacKey, string url)
    {
        var protectedPart = B64u(new JsonObject { ["alg"] = "HS256", ["kid"] = keyId, ["url"] = url }.ToJsonString());
        var payloadPart = B64u(Jwk);
        var mac = HMACSHA256.HashData(hmacKey, Encoding.ASCII.GetBytes(protectedPart + "." + payloadPart));
        return new JsonObject { ["protected"] = protectedPart, ["payload"] = payloadPart, ["signature"] = B64u(mac) };
    }

    /// <summary>keyChange's inner JWS (RFC 8555 §7.3.5), signed by this (the new) key.</summary>
    public string KeyChangeInner(string url, string accountUrl, string oldJwk) =>
        Body(new JsonObject { ["url"] = url, ["jwk"] = JsonNode.Parse(Jwk) },
            new JsonObject { ["account"] = accountUrl, ["oldKey"] = JsonNode.Parse(oldJwk) }.ToJsonString());

    public static JsonElement Parse(string json) => JsonDocument.Parse(json).RootElement.Clone();

    public void Dispose() => _key.Dispose();
}
