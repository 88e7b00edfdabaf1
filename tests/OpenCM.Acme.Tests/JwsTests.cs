using System.Text.Json.Nodes;
using OpenCM.Domain;
using OpenCM.TestKit;

namespace OpenCM.Acme.Tests;

public sealed class JwsTests
{
    private static string Type(Action act) => Assert.Throws<OpenCmException>(act).Error.Field!.Replace(AcmeErrors.Urn, "", StringComparison.Ordinal);

    [Theory]
    [InlineData("ES256")]
    [InlineData("ES384")]
    [InlineData("RS256")]
    public void Verify_SignedByTheJwk_VerifiesAndThumbprintIsRfc7638(string alg)
    {
        using var key = new AcmeJws(alg);
        var jws = JwsMessage.Parse(System.Text.Encoding.UTF8.GetBytes(key.WithJwk("https://x.test/acme/a/new-account", "nonce1", "{\"a\":1}")));
        var jwk = JsonWebKey.Parse(jws.Jwk!.Value);

        Assert.True(jwk.Verify(jws.Alg, jws.SigningInput, jws.Signature));
        Assert.Equal(key.Thumbprint, jwk.Thumbprint);
        Assert.Equal(("nonce1", "https://x.test/acme/a/new-account"), (jws.Nonce, jws.Url));
        Assert.False(jwk.Verify(jws.Alg, [.. jws.SigningInput, 0x20], jws.Signature));
    }

    [Fact]
    public void Thumbprint_Rfc7638Example_IsTheRfcsValue()
    {
        // RFC 7638 §3.1.
        var jwk = AcmeJws.Parse("""{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}""");

        Assert.Equal("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs", JsonWebKey.Parse(jwk).Thumbprint);
    }

    [Theory]
    [InlineData("", "malformed")]
    [InlineData("[]", "malformed")]
    [InlineData("{\"protected\":\"e30\",\"payload\":\"\"}", "malformed")]
    [InlineData("{\"protected\":\"e30\",\"payload\":\"\",\"signature\":\"\",\"header\":{}}", "malformed")]
    [InlineData("{\"protected\":\"e30=\",\"payload\":\"\",\"signature\":\"\"}", "malformed")]
    [InlineData("{\"protected\":\"e30\",\"payload\":\"\",\"signature\":\"\"}", "malformed")]
    [InlineData("{\"protected\":\"eyJhbGciOiJub25lIiwia2lkIjoieCJ9\",\"payload\":\"\",\"signature\":\"\"}", "badSignatureAlgorithm")]
    [InlineData("{\"protected\":\"eyJhbGciOiJIUzI1NiIsImtpZCI6IngifQ\",\"payload\":\"\",\"signature\":\"\"}", "badSignatureAlgorithm")]
    [InlineData("{\"protected\":\"eyJhbGciOiJFUzI1NiJ9\",\"payload\":\"\",\"signature\":\"\"}", "malformed")]
    [InlineData("{\"protected\":\"e30\",\"protected\":\"e30\",\"payload\":\"\",\"signature\":\"\"}", "malformed")]
    [InlineData("{\"protected\":\"e30\",\"payload\":\"%%\",\"signature\":\"\"}", "malformed")]
    public void Parse_HostileBody_TypedProblemNeverAnotherException(string body, string type)
    {
        Assert.Equal(type, Type(() => JwsMessage.Parse(System.Text.Encoding.UTF8.GetBytes(body))));
    }

    [Theory]
    [InlineData("{\"kty\":\"EC\",\"crv\":\"P-521\",\"x\":\"AA\",\"y\":\"AA\"}", "badPublicKey")]
    [InlineData("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\",\"y\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}", "badPublicKey")]
    [InlineData("{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}", "badPublicKey")]
    [InlineData("{\"kty\":\"oct\",\"k\":\"AQAB\"}", "badPublicKey")]
    [InlineData("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}", "badPublicKey")]
    [InlineData("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":1,\"y\":2}", "malformed")]
    [InlineData("\"key\"", "malformed")]
    public void ParseKey_NotAnAcceptedPublicKey_Refused(string jwk, string type)
    {
        Assert.Equal(type, Type(() => JsonWebKey.Parse(AcmeJws.Parse(jwk))));
    }

    [Fact]
    public void ParseKey_PrivateMemberPresent_Refused()
    {
        using var key = new AcmeJws();
        var jwk = JsonNode.Parse(key.Jwk)!.AsObject();
        jwk["d"] = "AAAA";

        Assert.Equal("badPublicKey", Type(() => JsonWebKey.Parse(AcmeJws.Parse(jwk.ToJsonString()))));
    }

    [Theory]
    [InlineData("AQAB", true)]
    [InlineData("AQAB=", false)]
    [InlineData("AQ+B", false)]
    [InlineData("AQ/B", false)]
    [InlineData("A", false)]
    [InlineData("AR", false)] // trailing bits set: not the canonical encoding of 0x01
    [InlineData("AQ", true)]
    [InlineData("", true)]
    public void Base64Url_StrictAlphabetNoPaddingCanonical(string text, bool accepted)
    {
        Assert.Equal(accepted, Base64Url.TryDecode(text) is not null);
    }

    [Fact]
    public void Fits_AlgAndKeyDisagree_False()
    {
        using var es384 = new AcmeJws("ES384");
        var key = JsonWebKey.Parse(AcmeJws.Parse(es384.Jwk));

        Assert.True(key.Fits("ES384"));
        Assert.False(key.Fits("ES256"));
        Assert.False(key.Fits("RS256"));
    }
}
