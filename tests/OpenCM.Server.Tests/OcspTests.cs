using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.TestKit;

namespace OpenCM.Server.Tests;

/// <summary>The server on Kestrel, so that <c>openssl ocsp -url</c> reaches it as a relying party would.</summary>
public sealed class OcspKestrelFixture : ServerFixture
{
    public OcspKestrelFixture()
    {
        UseKestrel(0);
        StartServer();
    }

    public string OcspUrl => Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/') + "/CertificateManagement/ocsp";
}

/// <summary>Responses signed by the CA key itself (Ca:Ocsp:Delegated=false).</summary>
public sealed class CaSignedOcspFixture : ServerFixture
{
    protected override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string> { ["Ca:Ocsp:Delegated"] = "false" };
}

/// <summary>openssl's view of what OpenCM's CA and OCSP responder publish.</summary>
internal static class OcspCheck
{
    public const string Route = "/CertificateManagement/ocsp";

    /// <summary>
    /// openssl ocsp arguments for the server's pinned time: -attime for the responder certificate's
    /// validity, and -validity_period for thisUpdate/nextUpdate, which openssl compares with the
    /// wall clock only (the pinned time is some days before it).
    /// </summary>
    public static string[] At(DateTimeOffset pinned) =>
        [.. OpenSsl.At(pinned), "-validity_period", ((long)Math.Abs((DateTimeOffset.UtcNow - pinned).TotalSeconds) + 3600).ToString(CultureInfo.InvariantCulture)];

    /// <summary>Enrolls a user certificate through the API and completes it; its profile, serial, and PEM files for openssl.</summary>
    public static async Task<(Guid Profile, string Serial)> EnrollAsync(ServerFixture server, TempDirectory dir, string leafFile)
    {
        var client = await server.ClientAsync(await server.UserAsync("ocsp"));
        var id = await client.CreateIdAsync(ServerFixture.UserCertificate);
        var name = Guid.NewGuid().ToString("N");
        await OpenSsl.CheckAsync(dir.Path, "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", $"{name}.key", "-out", $"{name}.csr", "-outform", "DER", "-subj", "/CN=whatever");
        var csr = Convert.ToBase64String(await File.ReadAllBytesAsync(dir.File($"{name}.csr")));
        var data = await client.PostAsync($"{ServerFixture.Api}/requests/{id}/certificatedata",
            Http.Json(JsonSerializer.Serialize(new Dictionary<string, object?> { ["pfxpassword"] = "", ["certificaterequests"] = new[] { csr } })));
        Assert.Equal(HttpStatusCode.OK, data.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.PutStatusAsync(id, "Completed")).StatusCode);
        var profile = Guid.Parse((await (await client.GetAsync($"{ServerFixture.Api}/requests/{id}")).JsonAsync()).GetProperty("NewProfileUuid").GetString()!);
        var stored = Assert.Single(await server.Services.GetRequiredService<IProfileStore>().CertificatesOfProfileAsync(profile));
        await File.WriteAllTextAsync(dir.File(leafFile), System.Security.Cryptography.PemEncoding.WriteString("CERTIFICATE", stored.Certificate.Der));
        if (!File.Exists(dir.File("ca.pem")))
        {
            var ca = await server.CreateClient().GetByteArrayAsync("/CertificateManagement/ca/OpenCM-Root-CA.crt");
            await File.WriteAllTextAsync(dir.File("ca.pem"), System.Security.Cryptography.PemEncoding.WriteString("CERTIFICATE", ca));
        }

        return (profile, stored.SerialHex);
    }
}

public sealed class OcspTests : IClassFixture<OcspKestrelFixture>, IDisposable
{
    private readonly OcspKestrelFixture _server;
    private readonly TempDirectory _dir = new();

    public OcspTests(OcspKestrelFixture server) => _server = server;

    public void Dispose() => _dir.Dispose();

    private Task<OpenSsl.Result> OcspAsync(params string[] args) =>
        OpenSsl.RunAsync(_dir.Path, ["ocsp", "-issuer", "ca.pem", "-url", _server.OcspUrl, "-CAfile", "ca.pem", .. OcspCheck.At(_server.Clock.GetUtcNow()), .. args]);

    [Fact]
    public async Task OpensslOcsp_IssuedCertificate_GoodNonceEchoedDelegatedResponderVerified()
    {
        await OcspCheck.EnrollAsync(_server, _dir, "leaf.pem");

        // openssl sends a nonce unless told not to, and checks it came back.
        var result = await OcspAsync("-cert", "leaf.pem", "-resp_text");
        Assert.True(result.ExitCode == 0, result.All);
        Assert.Contains("Response verify OK", result.All, StringComparison.Ordinal);
        Assert.Contains("leaf.pem: good", result.Output, StringComparison.Ordinal);
        Assert.Contains("OCSP Nonce", result.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("WARNING", result.All, StringComparison.Ordinal);

        // The delegated responder's certificate rides in the response: OCSP signing, no-check, from the CA.
        Assert.Contains("OCSP Signing", result.Output, StringComparison.Ordinal);
        Assert.Contains("OCSP No Check", result.Output, StringComparison.Ordinal);
        Assert.Contains("CN=OpenCM Root CA OCSP Responder", result.Output.Replace(" = ", "=", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.Contains("Next Update:", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OpensslOcsp_AfterRevokeRequestCompletes_RevokedWithTimeAndReason()
    {
        var (profile, _) = await OcspCheck.EnrollAsync(_server, _dir, "leaf.pem");
        var before = await OcspAsync("-cert", "leaf.pem", "-no_nonce");
        Assert.Contains("leaf.pem: good", before.Output, StringComparison.Ordinal);

        var admin = await _server.AdminAsync();
        var revoke = await admin.PostAsync($"{ServerFixture.Api}/requests",
            Http.Json($$"""{"type":"Revoke","profile":"{{profile}}","datacollection":[{"Revocation Reason":"keyCompromise"}],"comment":""}"""));
        Assert.Equal(HttpStatusCode.Created, revoke.StatusCode);

        // At once, although the good answer was cached less than a second ago: the revocation invalidated it.
        var after = await OcspAsync("-cert", "leaf.pem", "-no_nonce");
        Assert.True(after.ExitCode == 0, after.All);
        Assert.Contains("Response verify OK", after.All, StringComparison.Ordinal);
        Assert.Contains("leaf.pem: revoked", after.Output, StringComparison.Ordinal);
        Assert.Contains("Reason: keyCompromise", after.Output, StringComparison.Ordinal);
        Assert.Contains("Revocation Time: Nov 25 12:00:00 2026 GMT", after.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OpensslOcsp_SerialNeverIssued_Unknown()
    {
        await OcspCheck.EnrollAsync(_server, _dir, "leaf.pem");

        // A CertID built by openssl from the issuer and a serial alone.
        var result = await OcspAsync("-serial", "0x4A0B0C0D0E0F", "-resp_text");
        Assert.True(result.ExitCode == 0, result.All);
        Assert.Contains("Response verify OK", result.All, StringComparison.Ordinal);
        Assert.Contains("0x4A0B0C0D0E0F: unknown", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OpensslOcsp_Sha256CertIdAndTwoCertificates_BothAnswered()
    {
        await OcspCheck.EnrollAsync(_server, _dir, "one.pem");
        await OcspCheck.EnrollAsync(_server, _dir, "two.pem");
        var result = await OcspAsync("-sha256", "-cert", "one.pem", "-cert", "two.pem");
        Assert.True(result.ExitCode == 0, result.All);
        Assert.Contains("one.pem: good", result.Output, StringComparison.Ordinal);
        Assert.Contains("two.pem: good", result.Output, StringComparison.Ordinal);
    }

    public static TheoryData<string, string, byte[]> HostileBodies => new()
    {
        { "garbage", "application/ocsp-request", [0xDE, 0xAD, 0xBE, 0xEF] },
        { "empty", "application/ocsp-request", [] },
        { "BER indefinite length", "application/ocsp-request", [0x30, 0x80, 0x30, 0x80, 0, 0, 0, 0] },
        { "a JSON body", "application/ocsp-request", "{\"serial\":1}"u8.ToArray() },
    };

    [Theory]
    [MemberData(nameof(HostileBodies))]
    public async Task Post_HostileBody_200MalformedRequest(string name, string mediaType, byte[] body)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
        var response = await _server.CreateClient().PostAsync(OcspCheck.Route, content);
        Assert.True(response.StatusCode == HttpStatusCode.OK, name);
        Assert.Equal("application/ocsp-response", response.Content.Headers.ContentType!.MediaType);
        Assert.Equal([0x30, 0x03, 0x0A, 0x01, 0x01], await response.Content.ReadAsByteArrayAsync()); // malformedRequest
    }

    [Fact]
    public async Task Post_WrongMediaTypeOrHugeBody_4xxProblem()
    {
        var client = _server.CreateClient();
        using var json = Http.Json("{}");
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, (await client.PostAsync(OcspCheck.Route, json)).StatusCode);
        using var none = new ByteArrayContent([0x30, 0x00]);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, (await client.PostAsync(OcspCheck.Route, none)).StatusCode);
        using var huge = new ByteArrayContent(new byte[1024 * 1024]);
        huge.Headers.ContentType = new MediaTypeHeaderValue("application/ocsp-request");
        var tooLarge = await client.PostAsync(OcspCheck.Route, huge);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooLarge.StatusCode);
        Assert.Equal("PayloadTooLarge", await tooLarge.ErrorCodeAsync());
    }

    [Fact]
    public async Task Post_WrongHashAlgorithmOrTooManyCertIds_MalformedRequest()
    {
        await OcspCheck.EnrollAsync(_server, _dir, "leaf.pem");
        await OpenSsl.CheckAsync(_dir.Path, "ocsp", "-sha384", "-issuer", "ca.pem", "-cert", "leaf.pem", "-reqout", "sha384.der");
        await OpenSsl.CheckAsync(_dir.Path, ["ocsp", "-issuer", "ca.pem", .. Enumerable.Range(1, 17).SelectMany(i => new[] { "-serial", $"0x4A{i:X2}" }), "-reqout", "many.der"]);
        foreach (var file in new[] { "sha384.der", "many.der" })
        {
            using var content = new ByteArrayContent(await File.ReadAllBytesAsync(_dir.File(file)));
            content.Headers.ContentType = new MediaTypeHeaderValue("application/ocsp-request");
            var response = await _server.CreateClient().PostAsync(OcspCheck.Route, content);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal([0x30, 0x03, 0x0A, 0x01, 0x01], await response.Content.ReadAsByteArrayAsync());
        }
    }

    [Theory]
    [InlineData("not-base64!")]
    [InlineData("%ZZ")]
    [InlineData("MAA%3D")]
    [InlineData("AAAA")]
    public async Task Get_BadBase64OrRequest_200MalformedRequest(string path)
    {
        var response = await _server.CreateClient().GetAsync($"{OcspCheck.Route}/{path}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal([0x30, 0x03, 0x0A, 0x01, 0x01], await response.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task Get_TooLongPath_4xxNever5xx()
    {
        var response = await _server.CreateClient().GetAsync($"{OcspCheck.Route}/{new string('A', 200_000)}");
        Assert.InRange((int)response.StatusCode, 200, 499);
    }
}

public sealed class CaSignedOcspTests : IClassFixture<CaSignedOcspFixture>, IDisposable
{
    private readonly CaSignedOcspFixture _server;
    private readonly TempDirectory _dir = new();

    public CaSignedOcspTests(CaSignedOcspFixture server) => _server = server;

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Get_Base64RequestInPath_CaSignedGoodWithCacheControl()
    {
        await OcspCheck.EnrollAsync(_server, _dir, "leaf.pem");
        await OpenSsl.CheckAsync(_dir.Path, "ocsp", "-issuer", "ca.pem", "-cert", "leaf.pem", "-no_nonce", "-reqout", "req.der");

        // RFC 6960 A.1: the url-encoding of the base64 of the DER request.
        var base64 = Convert.ToBase64String(await File.ReadAllBytesAsync(_dir.File("req.der")));
        var response = await _server.CreateClient().GetAsync($"{OcspCheck.Route}/{Uri.EscapeDataString(base64)}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/ocsp-response", response.Content.Headers.ContentType!.MediaType);
        Assert.Equal(TimeSpan.FromHours(24), response.Headers.CacheControl!.MaxAge);
        Assert.True(response.Headers.CacheControl.Public);
        await File.WriteAllBytesAsync(_dir.File("resp.der"), await response.Content.ReadAsByteArrayAsync());

        // The CA signed it itself: openssl verifies it against the CA certificate, and no responder certificate rides along.
        var result = await OpenSsl.RunAsync(_dir.Path, ["ocsp", "-respin", "resp.der", "-issuer", "ca.pem", "-cert", "leaf.pem", "-CAfile", "ca.pem", .. OcspCheck.At(_server.Clock.GetUtcNow()), "-resp_text"]);
        Assert.True(result.ExitCode == 0, result.All);
        Assert.Contains("Response verify OK", result.All, StringComparison.Ordinal);
        Assert.Contains("leaf.pem: good", result.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("OCSP Responder", result.Output, StringComparison.Ordinal);

        // The same question again is the same signed answer (cached, RFC 5019).
        Assert.Equal(await File.ReadAllBytesAsync(_dir.File("resp.der")), await _server.CreateClient().GetByteArrayAsync($"{OcspCheck.Route}/{Uri.EscapeDataString(base64)}"));
    }
}
