using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.DependencyInjection;
using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.TestKit;

namespace OpenCM.Server.Tests;

/// <summary>The server with templates: one that allows EST ("EST Device": est-device), one that does not, two that share a label.</summary>
public sealed class EstFixture : ServerFixture
{
    private readonly Lazy<Task<int>> _templates;

    public EstFixture() => _templates = new Lazy<Task<int>>(StoreTemplatesAsync);

    public Task TemplatesAsync() => _templates.Value;

    private Task<int> StoreTemplatesAsync() =>
        Services.GetRequiredService<ITransactions>().RunAsync(async (uow, ct) =>
        {
            Assert.True(await uow.Templates.TryStoreVersionAsync(new ProfileTemplate { Uuid = Guid.NewGuid(), Name = "EST Device", Protocols = [EnrollmentProtocol.Est] }, 0, Samples.Now, ct));
            Assert.True(await uow.Templates.TryStoreVersionAsync(new ProfileTemplate { Uuid = Guid.NewGuid(), Name = "No Est Device", Protocols = [EnrollmentProtocol.Scep] }, 0, Samples.Now, ct));

            // Two EST templates whose names share a label: the label serves neither (docs/est.md).
            Assert.True(await uow.Templates.TryStoreVersionAsync(new ProfileTemplate { Uuid = Guid.NewGuid(), Name = "Twin Device", Protocols = [EnrollmentProtocol.Est] }, 0, Samples.Now, ct));
            Assert.True(await uow.Templates.TryStoreVersionAsync(new ProfileTemplate { Uuid = Guid.NewGuid(), Name = "twin-device", Protocols = [EnrollmentProtocol.Est, EnrollmentProtocol.Acme] }, 0, Samples.Now, ct));
            return 0;
        });
}

public class EstTests : IClassFixture<EstFixture>
{
    private readonly EstFixture _server;

    public EstTests(EstFixture server) => _server = server;

    [Theory]
    [InlineData("/.well-known/est/cacerts")]
    [InlineData("/.well-known/est/est-device/cacerts")]
    public async Task Cacerts_AnyEstRoute_CertsOnlyPkcs7OfChainPem(string path)
    {
        await _server.TemplatesAsync();
        var client = _server.CreateClient();
        var response = await client.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/pkcs7-mime", response.Content.Headers.ContentType!.MediaType);
        Assert.Equal("base64", Assert.Single(response.Content.Headers.TryGetValues("Content-Transfer-Encoding", out var cte) ? cte : response.Headers.GetValues("Content-Transfer-Encoding")));

        // As an EST client without one does it: openssl base64 -d | openssl pkcs7 -inform DER -print_certs.
        using var dir = new TempDirectory();
        await File.WriteAllBytesAsync(dir.File("cacerts.b64"), await response.Content.ReadAsByteArrayAsync());
        await OpenSsl.CheckAsync(dir.Path, "base64", "-d", "-in", "cacerts.b64", "-out", "cacerts.der");
        var printed = await OpenSsl.CheckAsync(dir.Path, "pkcs7", "-inform", "DER", "-in", "cacerts.der", "-print_certs");
        var fromEst = new X509Certificate2Collection();
        fromEst.ImportFromPem(printed);
        var fromChain = new X509Certificate2Collection();
        fromChain.ImportFromPem(await client.GetStringAsync("/CertificateManagement/ca/chain.pem"));
        Assert.NotEmpty(fromChain);
        Assert.Equal(fromChain.Select(c => Convert.ToHexString(c.RawData)).Order(), fromEst.Select(c => Convert.ToHexString(c.RawData)).Order());
    }

    [Theory]
    [InlineData("/.well-known/est/est-device/cacerts", HttpStatusCode.OK)]
    [InlineData("/.well-known/est/no-est-device/cacerts", HttpStatusCode.NotFound)]
    [InlineData("/.well-known/est/twin-device/cacerts", HttpStatusCode.NotFound)]
    [InlineData("/.well-known/est/EST-Device/cacerts", HttpStatusCode.NotFound)]
    [InlineData("/.well-known/est/est%20device/cacerts", HttpStatusCode.NotFound)]
    [InlineData("/.well-known/est/unknown/cacerts", HttpStatusCode.NotFound)]
    [InlineData("/.well-known/est/unknown/simpleenroll", HttpStatusCode.NotFound)]
    [InlineData("/.well-known/est/%01/cacerts", HttpStatusCode.NotFound)]
    [InlineData("/.well-known/est/est-device%0A/cacerts", HttpStatusCode.NotFound)]
    [InlineData("/.well-known/est/est-device%7F/cacerts", HttpStatusCode.NotFound)]
    [InlineData("/.well-known/est/..%2f..%2fca/cacerts", HttpStatusCode.NotFound)]
    [InlineData("/.well-known/est/%2e%2e%2fest-device/cacerts", HttpStatusCode.NotFound)]
    [InlineData("/.well-known/est/est-device%2f..%2f/cacerts", HttpStatusCode.NotFound)]
    [InlineData("/.well-known/est/g%C3%A9r%C3%A4t/cacerts", HttpStatusCode.NotFound)]
    [InlineData("/.well-known/est/%F0%9F%94%91/cacerts", HttpStatusCode.NotFound)]
    [InlineData("/.well-known/est/%FF%FE/cacerts", HttpStatusCode.NotFound)]
    [InlineData("/.well-known/est/est-device/", HttpStatusCode.NotFound)]
    [InlineData("/.well-known/est/est-device", HttpStatusCode.NotFound)]
    [InlineData("/.well-known/est/", HttpStatusCode.NotFound)]
    [InlineData("/.well-known/est/est-device/cacerts/more", HttpStatusCode.NotFound)]
    [InlineData("/.well-known/est/cacert", HttpStatusCode.NotFound)]
    [InlineData("/.well-known/est/CACERTS", HttpStatusCode.NotFound)]
    // (%00 and literal dot segments cannot reach the server from HttpClient: the test host refuses a NUL in
    // the path and Uri removes "..", as a real client does; Kestrel decodes with the same refusal, a 400 before routing.)
    public async Task Label_ByTemplateAndProtocol_OnlyEstTemplatesAnswer(string path, HttpStatusCode expected)
    {
        await _server.TemplatesAsync();
        var response = await _server.CreateClient().GetAsync(path);
        Assert.Equal(expected, response.StatusCode);
        if (expected != HttpStatusCode.OK)
        {
            await AssertTextErrorAsync(response);
        }
    }

    [Fact]
    public async Task Label_VeryLong_404Text()
    {
        await _server.TemplatesAsync();
        var response = await _server.CreateClient().GetAsync("/.well-known/est/" + new string('a', 4000) + "/cacerts");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        await AssertTextErrorAsync(response);
    }

    [Theory]
    [InlineData("POST", "/.well-known/est/fullcmc")]
    [InlineData("POST", "/.well-known/est/est-device/fullcmc")]
    public async Task Operation_NotImplemented_501Text(string method, string path)
    {
        await _server.TemplatesAsync();
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        request.Content = new StringContent("MIIB", System.Text.Encoding.ASCII, "application/pkcs10");
        var response = await _server.CreateClient().SendAsync(request);
        Assert.Equal(HttpStatusCode.NotImplemented, response.StatusCode);
        await AssertTextErrorAsync(response);
    }

    [Theory]
    [InlineData("/.well-known/est/serverkeygen")]
    [InlineData("/.well-known/est/est-device/serverkeygen")]
    public async Task ServerKeyGen_PlainHttp_403TextBeforeAnythingElse(string path)
    {
        // The answer would carry a private key unencrypted: never over plain HTTP (docs/est.md), not even to say who may ask.
        await _server.TemplatesAsync();
        var response = await _server.CreateClient().PostAsync(path, new StringContent("MIIB", System.Text.Encoding.ASCII, "application/pkcs10"));
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        await AssertTextErrorAsync(response);
        Assert.Contains("HTTPS", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cacerts_Post_405TextAllowGet()
    {
        var response = await _server.CreateClient().PostAsync("/.well-known/est/cacerts", new StringContent("x"));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Equal("GET", Assert.Single(response.Content.Headers.Allow));
        await AssertTextErrorAsync(response);
    }

    // EST's errors are statuses with a text body (RFC 7030 §4.2.3), never the API's problem JSON.
    internal static async Task AssertTextErrorAsync(HttpResponseMessage response)
    {
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        var body = await response.Content.ReadAsStringAsync();
        Assert.False(string.IsNullOrWhiteSpace(body));
        Assert.DoesNotContain("{", body, StringComparison.Ordinal);
    }
}
