using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using OpenCM.Acme;
using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.TestKit;

namespace OpenCM.Server.Tests;

/// <summary>Issuance as the engine would answer it, without the engine: issued at once, or waiting until <see cref="Approve"/>.</summary>
public sealed class FakeAcmeIssuer : IAcmeIssuer
{
    private readonly Dictionary<string, Guid> _references = [];
    private readonly HashSet<Guid> _approved = [];
    private readonly IServiceProvider _services;

    public FakeAcmeIssuer(IServiceProvider services) => _services = services;

    public bool NeedsApproval { get; set; }

    public List<DeviceEnrollmentInput> Submitted { get; } = [];

    public void Approve(Guid request)
    {
        lock (_approved)
        {
            _approved.Add(request);
        }
    }

    public async Task<Caller?> CallerAsync(Guid userUuid, CancellationToken ct) =>
        await _services.GetRequiredService<IDirectory>().FindAsync(userUuid, ct) is { Kind: PrincipalKind.User } p ? new Caller(p.Uuid, p.Sid, [], p.Name) : null;

    public Task<DeviceOutcome> SubmitAsync(Caller caller, DeviceEnrollmentInput input, string correlationId, CancellationToken ct)
    {
        lock (_approved)
        {
            Submitted.Add(input);
            var id = _references.TryGetValue(input.ClientReference!, out var known) ? known : _references[input.ClientReference!] = Guid.NewGuid();
            if (!NeedsApproval)
            {
                _approved.Add(id);
            }

            return Task.FromResult(Outcome(id));
        }
    }

    public Task<DeviceOutcome> ResumeAsync(Caller caller, Guid requestId, string correlationId, CancellationToken ct)
    {
        lock (_approved)
        {
            return _references.ContainsValue(requestId) ? Task.FromResult(Outcome(requestId)) : throw new OpenCmException(DomainError.NotFound("no"));
        }
    }

    public Task<Guid?> FindAsync(Caller caller, string clientReference, CancellationToken ct)
    {
        lock (_approved)
        {
            return Task.FromResult(_references.TryGetValue(clientReference, out var id) ? id : (Guid?)null);
        }
    }

    private DeviceOutcome Outcome(Guid id)
    {
        var request = new CmRequest { Uuid = id, RequestType = RequestType.Enroll, Status = _approved.Contains(id) ? RequestStatus.Completed : RequestStatus.Pending };
        return _approved.Contains(id)
            ? new DeviceOutcome.Issued(request, new IssuedCertificate("0A" + id.ToString("N")[..8].ToUpperInvariant(), [], "", Samples.Now, Samples.Now.AddDays(30)))
            : new DeviceOutcome.Waiting(request, 1);
    }
}

/// <summary>A challenge validator that says what the test wants, and remembers what it was asked.</summary>
public sealed class FakeChallengeValidator : IAcmeChallengeValidator
{
    public bool Valid { get; set; } = true;

    public List<(AcmeChallengeKind Kind, string Domain, string Token, string KeyAuthorization)> Asked { get; } = [];

    public Task<ChallengeCheck> ValidateAsync(AcmeChallengeKind kind, string domain, string token, string keyAuthorization, CancellationToken ct)
    {
        lock (Asked)
        {
            Asked.Add((kind, domain, token, keyAuthorization));
        }

        return Task.FromResult(Valid ? new ChallengeCheck(true, null, null) : new ChallengeCheck(false, "urn:ietf:params:acme:error:incorrectResponse", "wrong"));
    }
}

/// <summary>The server with an ACME template ("Acme Server": acme-server; *.test, localhost, 127.0.0.1) and one without ACME, a fake issuer and validator.</summary>
public sealed class AcmeFixture : ServerFixture
{
    public static readonly Guid Template = Guid.Parse("0b6f4a1c-59a2-4d0e-9c1a-7a3e2c5d8f10");
    private readonly Lazy<Task<int>> _templates;

    public AcmeFixture() => _templates = new Lazy<Task<int>>(StoreTemplatesAsync);

    public FakeChallengeValidator Validator { get; } = new();

    public FakeAcmeIssuer Issuer => (FakeAcmeIssuer)Services.GetRequiredService<IAcmeIssuer>();

    protected override void ConfigureServices(IServiceCollection services)
    {
        services.AddSingleton<IAcmeIssuer, FakeAcmeIssuer>();
        services.AddSingleton<IAcmeChallengeValidator>(Validator);
    }

    public Task TemplatesAsync() => _templates.Value;

    private Task<int> StoreTemplatesAsync() =>
        Services.GetRequiredService<ITransactions>().RunAsync(async (uow, ct) =>
        {
            var certificate = new CertificateTemplate
            {
                CommonName = "TLS Server",
                RequestedNames = new RequestedNameRules { Dns = ["*.test", "localhost"], Ip = ["127.0.0.1"] },
            };
            Assert.True(await uow.Templates.TryStoreVersionAsync(new ProfileTemplate { Uuid = Template, Name = "Acme Server", Protocols = [EnrollmentProtocol.Acme], CertificateTemplates = [certificate] }, 0, Samples.Now, ct));
            Assert.True(await uow.Templates.TryStoreVersionAsync(new ProfileTemplate { Uuid = Guid.NewGuid(), Name = "No Acme", Protocols = [EnrollmentProtocol.Est], CertificateTemplates = [certificate] }, 0, Samples.Now, ct));
            return 0;
        });
}

/// <summary>An ACME client over the test server, with the hand-written signer: each call fetches a fresh nonce unless given one.</summary>
public sealed class AcmeTestClient : IDisposable
{
    public const string Base = "http://localhost/acme/acme-server";
    private readonly HttpClient _http;

    public AcmeTestClient(HttpClient http, string alg = "ES256")
    {
        _http = http;
        Key = new AcmeJws(alg);
    }

    public AcmeJws Key { get; set; }

    public string? Kid { get; set; }

    public async Task<string> NonceAsync()
    {
        using var response = await _http.SendAsync(new HttpRequestMessage(HttpMethod.Head, Base + "/new-nonce"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return response.Headers.GetValues("Replay-Nonce").Single();
    }

    public static StringContent Jose(string body) => new(body, new MediaTypeHeaderValue("application/jose+json"));

    public Task<HttpResponseMessage> RawAsync(string url, string body, string contentType = "application/jose+json") =>
        _http.PostAsync(url, new StringContent(body, new MediaTypeHeaderValue(contentType)));

    /// <summary>POST signed by the account (kid), or by the key (jwk) before there is one; payload null is POST-as-GET.</summary>
    public async Task<HttpResponseMessage> PostAsync(string url, string? payload, string? nonce = null, bool jwk = false)
    {
        nonce ??= await NonceAsync();
        var body = Kid is null || jwk ? Key.WithJwk(url, nonce, payload) : Key.WithKid(Kid, url, nonce, payload);
        return await _http.PostAsync(url, Jose(body));
    }

    public async Task<HttpResponseMessage> NewAccountAsync(ExternalAccountKey eab)
    {
        var url = Base + "/new-account";
        var payload = new JsonObject { ["termsOfServiceAgreed"] = true, ["contact"] = new JsonArray("mailto:ops@example.test"), ["externalAccountBinding"] = Key.Binding(eab.KeyId, eab.HmacKey, url) };
        var response = await PostAsync(url, payload.ToJsonString(), jwk: true);
        if (response.IsSuccessStatusCode)
        {
            Kid = response.Headers.Location!.ToString();
        }

        return response;
    }

    public static async Task<JsonElement> JsonAsync(HttpResponseMessage response) => AcmeJws.Parse(await response.Content.ReadAsStringAsync());

    public static async Task<string> ProblemAsync(HttpResponseMessage response)
    {
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType!.MediaType);
        Assert.True(response.Headers.Contains("Replay-Nonce"), "a problem carries a fresh nonce");
        return (await JsonAsync(response)).GetProperty("type").GetString()!.Replace("urn:ietf:params:acme:error:", "", StringComparison.Ordinal);
    }

    public static string Csr(params string[] dnsNames)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=" + dnsNames[0], key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        foreach (var name in dnsNames)
        {
            san.AddDnsName(name);
        }

        request.CertificateExtensions.Add(san.Build());
        return AcmeJws.B64u(request.CreateSigningRequest());
    }

    public void Dispose()
    {
        Key.Dispose();
        _http.Dispose();
    }
}

public sealed class AcmeTests : IClassFixture<AcmeFixture>
{
    private readonly AcmeFixture _server;

    public AcmeTests(AcmeFixture server) => _server = server;

    private async Task<ExternalAccountKey> EabAsync(Guid? template = null)
    {
        await _server.TemplatesAsync();
        var user = await _server.UserAsync("acme");
        return await _server.Services.GetRequiredService<IExternalAccountKeys>().CreateAsync(user.Uuid, template ?? AcmeFixture.Template, TimeSpan.FromDays(1), null, CancellationToken.None);
    }

    private async Task<AcmeTestClient> AccountAsync(string alg = "ES256")
    {
        var client = new AcmeTestClient(_server.CreateClient(), alg);
        using var response = await client.NewAccountAsync(await EabAsync());
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return client;
    }

    private static async Task<(string Url, JsonElement Order)> OrderAsync(AcmeTestClient client, params string[] names)
    {
        var identifiers = new JsonArray([.. names.Select(n => (JsonNode)new JsonObject { ["type"] = "dns", ["value"] = n })]);
        using var response = await client.PostAsync(AcmeTestClient.Base + "/new-order", new JsonObject { ["identifiers"] = identifiers }.ToJsonString());
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (response.Headers.Location!.ToString(), await AcmeTestClient.JsonAsync(response));
    }

    private static async Task ValidateAllAsync(AcmeTestClient client, JsonElement order)
    {
        foreach (var authz in order.GetProperty("authorizations").EnumerateArray())
        {
            using var a = await client.PostAsync(authz.GetString()!, null);
            var challenge = (await AcmeTestClient.JsonAsync(a)).GetProperty("challenges").EnumerateArray().First(c => c.GetProperty("type").GetString() == "http-01");
            using var answered = await client.PostAsync(challenge.GetProperty("url").GetString()!, "{}");
            Assert.Equal(HttpStatusCode.OK, answered.StatusCode);
        }
    }

    [Fact]
    public async Task Directory_AcmeTemplate_ListsTheResourcesAndRequiresEab()
    {
        await _server.TemplatesAsync();
        using var response = await _server.CreateClient().GetAsync(AcmeTestClient.Base + "/directory");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var directory = await AcmeTestClient.JsonAsync(response);
        Assert.Equal(AcmeTestClient.Base + "/new-nonce", directory.GetProperty("newNonce").GetString());
        Assert.Equal(AcmeTestClient.Base + "/new-account", directory.GetProperty("newAccount").GetString());
        Assert.Equal(AcmeTestClient.Base + "/key-change", directory.GetProperty("keyChange").GetString());
        Assert.True(directory.GetProperty("meta").GetProperty("externalAccountRequired").GetBoolean());
    }

    [Theory]
    [InlineData("/acme/no-acme/directory")]
    [InlineData("/acme/unknown/directory")]
    [InlineData("/acme/Acme-Server/directory")]
    [InlineData("/acme/acme-server/nothing")]
    [InlineData("/acme/acme-server/order/x/y/z")]
    [InlineData("/acme/%2e%2e%2facme-server/directory")]
    [InlineData("/acme")]
    [InlineData("/acme/")]
    public async Task Get_UnknownLabelOrResource_AcmeProblem404(string path)
    {
        await _server.TemplatesAsync();
        using var response = await _server.CreateClient().GetAsync(path);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("malformed", await AcmeTestClient.ProblemAsync(response));
    }

    [Fact]
    public async Task NewNonce_HeadAndGet_FreshNonceNotCached()
    {
        await _server.TemplatesAsync();
        var http = _server.CreateClient();
        using var head = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, AcmeTestClient.Base + "/new-nonce"));
        using var get = await http.GetAsync(AcmeTestClient.Base + "/new-nonce");

        Assert.Equal((HttpStatusCode.OK, HttpStatusCode.NoContent), (head.StatusCode, get.StatusCode));
        Assert.NotEqual(head.Headers.GetValues("Replay-Nonce").Single(), get.Headers.GetValues("Replay-Nonce").Single());
        Assert.True(head.Headers.CacheControl!.NoStore);
    }

    // Unauthenticated new-nonce (and every answer's Replay-Nonce) is a stamp, not a row: a flood of
    // them writes nothing; only a nonce's use is recorded, once.
    [Fact]
    public async Task NewNonce_ManyUnauthenticated_NoRowWrittenUntilOneIsUsed()
    {
        await _server.TemplatesAsync();
        var db = _server.Services.GetRequiredService<OpenCM.Storage.StorageProvider>();
        Task<long> RowsAsync() => db.ReadAsync(async (c, ct) =>
        {
            await using var cmd = c.CreateCommand();
            cmd.CommandText = "SELECT COUNT(*) FROM acme_nonces";
            return Convert.ToInt64(await cmd.ExecuteScalarAsync(ct), System.Globalization.CultureInfo.InvariantCulture);
        });
        using var client = await AccountAsync();
        var before = await RowsAsync();
        var http = _server.CreateClient();
        for (var i = 0; i < 50; i++)
        {
            using var head = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, AcmeTestClient.Base + "/new-nonce"));
            Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        }

        Assert.Equal(before, await RowsAsync());
        using var used = await client.PostAsync(client.Kid!, null);
        Assert.Equal(HttpStatusCode.OK, used.StatusCode);
        Assert.Equal(before + 1, await RowsAsync());
    }

    [Theory]
    [InlineData("ES256")]
    [InlineData("ES384")]
    [InlineData("RS256")]
    public async Task Issuance_AccountOrderChallengeFinalize_OrderValidWithCertificateUrl(string alg)
    {
        using var client = await AccountAsync(alg);
        var (orderUrl, order) = await OrderAsync(client, "www.test", "api.test");
        Assert.Equal("pending", order.GetProperty("status").GetString());

        await ValidateAllAsync(client, order);
        Assert.Contains(_server.Validator.Asked, a => a.Domain == "www.test" && a.KeyAuthorization.EndsWith("." + client.Key.Thumbprint, StringComparison.Ordinal));
        using (var ready = await client.PostAsync(orderUrl, null))
        {
            Assert.Equal("ready", (await AcmeTestClient.JsonAsync(ready)).GetProperty("status").GetString());
        }

        using var finalized = await client.PostAsync(order.GetProperty("finalize").GetString()!, new JsonObject { ["csr"] = AcmeTestClient.Csr("api.test", "www.test") }.ToJsonString());
        Assert.Equal(HttpStatusCode.OK, finalized.StatusCode);
        var valid = await AcmeTestClient.JsonAsync(finalized);
        Assert.Equal("valid", valid.GetProperty("status").GetString());
        Assert.StartsWith(AcmeTestClient.Base + "/cert/", valid.GetProperty("certificate").GetString(), StringComparison.Ordinal);
        var submitted = _server.Issuer.Submitted.Last();
        Assert.Equal((EnrollmentProtocol.Acme, AcmeFixture.Template), (submitted.Protocol, submitted.ProfileTemplateUuid));
        Assert.Equal(orderUrl.Split('/')[^1], submitted.ClientReference);
        Assert.Equal(["www.test", "api.test"], submitted.Names.Select(n => n.Value));
    }

    [Fact]
    public async Task Finalize_TemplateNeedsApproval_ProcessingWithRetryAfterUntilApproved()
    {
        using var client = await AccountAsync();
        var (orderUrl, order) = await OrderAsync(client, "wait.test");
        await ValidateAllAsync(client, order);
        _server.Issuer.NeedsApproval = true;
        try
        {
            using var finalized = await client.PostAsync(order.GetProperty("finalize").GetString()!, new JsonObject { ["csr"] = AcmeTestClient.Csr("wait.test") }.ToJsonString());
            Assert.Equal("processing", (await AcmeTestClient.JsonAsync(finalized)).GetProperty("status").GetString());
            Assert.Equal(TimeSpan.FromSeconds(10), finalized.Headers.RetryAfter!.Delta);

            using (var polled = await client.PostAsync(orderUrl, null))
            {
                Assert.Equal("processing", (await AcmeTestClient.JsonAsync(polled)).GetProperty("status").GetString());
            }

            var request = await _server.Issuer.FindAsync(null!, orderUrl.Split('/')[^1], CancellationToken.None);
            _server.Issuer.Approve(request!.Value);
            using var approved = await client.PostAsync(orderUrl, null);
            var body = await AcmeTestClient.JsonAsync(approved);
            Assert.Equal("valid", body.GetProperty("status").GetString());
            Assert.False(approved.Headers.Contains("Retry-After"));
        }
        finally
        {
            _server.Issuer.NeedsApproval = false;
        }
    }

    [Fact]
    public async Task NewAccount_SameKeyAgain_TheSameAccount200()
    {
        using var client = await AccountAsync();
        var kid = client.Kid;
        client.Kid = null;
        using var again = await client.PostAsync(AcmeTestClient.Base + "/new-account", "{\"onlyReturnExisting\":true}", jwk: true);

        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal(kid, again.Headers.Location!.ToString());
    }

    [Fact]
    public async Task NewAccount_EabUsedTwice_SecondRefusedNothingCreated()
    {
        var eab = await EabAsync();
        using var first = new AcmeTestClient(_server.CreateClient());
        using var second = new AcmeTestClient(_server.CreateClient());
        using var created = await first.NewAccountAsync(eab);
        using var refused = await second.NewAccountAsync(eab);

        Assert.Equal((HttpStatusCode.Created, HttpStatusCode.Forbidden), (created.StatusCode, refused.StatusCode));
        Assert.Equal("unauthorized", await AcmeTestClient.ProblemAsync(refused));
        Assert.Null(await _server.Services.GetRequiredService<IAcmeStore>().FindAccountByKeyAsync(second.Key.Thumbprint));
    }

    public static TheoryData<string, Func<AcmeJws, ExternalAccountKey, JsonNode?>, string> HostileBindings() => new()
    {
        { "none", (_, _) => null, "externalAccountRequired" },
        { "wrong mac", (k, e) => k.Binding(e.KeyId, new byte[32], AcmeTestClient.Base + "/new-account"), "unauthorized" },
        { "unknown kid", (k, e) => k.Binding("nosuchkid", e.HmacKey, AcmeTestClient.Base + "/new-account"), "unauthorized" },
        { "wrong url", (k, e) => k.Binding(e.KeyId, e.HmacKey, AcmeTestClient.Base + "/new-order"), "unauthorized" },
        { "another key", (_, e) => new AcmeJws().Binding(e.KeyId, e.HmacKey, AcmeTestClient.Base + "/new-account"), "unauthorized" },
        { "not a jws", (_, _) => JsonValue.Create("eab"), "malformed" },
        { "rs256 mac", (k, e) => Respoil(k.Binding(e.KeyId, e.HmacKey, AcmeTestClient.Base + "/new-account"), "RS256"), "badSignatureAlgorithm" },
    };

    // The binding with its protected header's alg replaced.
    private static JsonObject Respoil(JsonObject binding, string alg)
    {
        var header = JsonNode.Parse(Encoding.UTF8.GetString(Base64Url.TryDecode(binding["protected"]!.GetValue<string>())!))!.AsObject();
        header["alg"] = alg;
        binding["protected"] = AcmeJws.B64u(header.ToJsonString());
        return binding;
    }

    [Theory]
    [MemberData(nameof(HostileBindings))]
    public async Task NewAccount_HostileBinding_ProblemAndNoAccount(string why, Func<AcmeJws, ExternalAccountKey, JsonNode?> binding, string type)
    {
        var eab = await EabAsync();
        using var client = new AcmeTestClient(_server.CreateClient());
        var payload = new JsonObject { ["termsOfServiceAgreed"] = true };
        if (binding(client.Key, eab) is { } b)
        {
            payload["externalAccountBinding"] = b;
        }

        using var response = await client.PostAsync(AcmeTestClient.Base + "/new-account", payload.ToJsonString(), jwk: true);
        Assert.True((int)response.StatusCode is >= 400 and < 500, why);
        Assert.Equal(type, await AcmeTestClient.ProblemAsync(response));
        Assert.Null(await _server.Services.GetRequiredService<IAcmeStore>().FindAccountByKeyAsync(client.Key.Thumbprint));

        // The key was not spent: it still makes one account.
        using var good = await client.NewAccountAsync(eab);
        Assert.Equal(HttpStatusCode.Created, good.StatusCode);
    }

    [Fact]
    public async Task NewAccount_EabOfAnotherTemplate_Unauthorized()
    {
        var eab = await EabAsync(Guid.NewGuid());
        using var client = new AcmeTestClient(_server.CreateClient());
        using var response = await client.NewAccountAsync(eab);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("unauthorized", await AcmeTestClient.ProblemAsync(response));
    }

    [Fact]
    public async Task Post_ReplayedNonce_BadNonceWithAFreshOne()
    {
        using var client = await AccountAsync();
        var nonce = await client.NonceAsync();
        using var first = await client.PostAsync(client.Kid!, null, nonce);
        using var replay = await client.PostAsync(client.Kid!, null, nonce);

        Assert.Equal((HttpStatusCode.OK, HttpStatusCode.BadRequest), (first.StatusCode, replay.StatusCode));
        Assert.Equal("badNonce", await AcmeTestClient.ProblemAsync(replay));
        using var retried = await client.PostAsync(client.Kid!, null, replay.Headers.GetValues("Replay-Nonce").Single());
        Assert.Equal(HttpStatusCode.OK, retried.StatusCode);
    }

    public static TheoryData<string, string, string, HttpStatusCode, string> HostileRequests() => new()
    {
        { "no nonce", "nonce", "", HttpStatusCode.BadRequest, "badNonce" },
        { "made-up nonce", "nonce", "AAAAAAAAAAAAAAAAAAAAAA", HttpStatusCode.BadRequest, "badNonce" },
        { "nonce not base64url", "nonce", "a b", HttpStatusCode.BadRequest, "badNonce" },
        { "other url", "url", AcmeTestClient.Base + "/new-order", HttpStatusCode.Forbidden, "unauthorized" },
        { "url of another host", "url", "http://evil.test/acme/acme-server/acct/x", HttpStatusCode.Forbidden, "unauthorized" },
        { "unknown kid", "kid", AcmeTestClient.Base + "/acct/nosuchaccount", HttpStatusCode.BadRequest, "accountDoesNotExist" },
        { "kid of another site", "kid", "http://localhost/acme/no-acme/acct/x", HttpStatusCode.BadRequest, "accountDoesNotExist" },
        { "alg none", "alg", "none", HttpStatusCode.BadRequest, "badSignatureAlgorithm" },
        { "alg of another key", "alg", "RS256", HttpStatusCode.BadRequest, "badSignatureAlgorithm" },
        { "signature spoiled", "signature", "AAAA", HttpStatusCode.BadRequest, "malformed" },
    };

    [Theory]
    [MemberData(nameof(HostileRequests))]
    public async Task Post_HostileJws_ProblemNever5xxNothingChanged(string why, string spoil, string value, HttpStatusCode status, string type)
    {
        using var client = await AccountAsync();
        var url = client.Kid!;
        var header = new JsonObject { ["nonce"] = await client.NonceAsync(), ["url"] = url, ["kid"] = client.Kid };
        if (spoil != "signature")
        {
            header[spoil] = value.Length == 0 ? null : value;
            if (value.Length == 0)
            {
                header.Remove(spoil);
            }
        }

        var body = client.Key.Body(header, "{\"status\":\"deactivated\"}");
        if (spoil == "signature")
        {
            var jws = JsonNode.Parse(body)!.AsObject();
            jws["signature"] = value;
            body = jws.ToJsonString();
        }

        using var response = await client.RawAsync(url, body);
        Assert.True(status == response.StatusCode, why);
        Assert.Equal(type, await AcmeTestClient.ProblemAsync(response));

        // The account was not deactivated.
        using var still = await client.PostAsync(url, null);
        Assert.Equal("valid", (await AcmeTestClient.JsonAsync(still)).GetProperty("status").GetString());
    }

    [Theory]
    [InlineData("{}", "application/jose+json", HttpStatusCode.BadRequest)]
    [InlineData("not json", "application/jose+json", HttpStatusCode.BadRequest)]
    [InlineData("{\"protected\":\"%%%\",\"payload\":\"\",\"signature\":\"\"}", "application/jose+json", HttpStatusCode.BadRequest)]
    [InlineData("[1,2,3]", "application/jose+json", HttpStatusCode.BadRequest)]
    [InlineData("{\"protected\":\"e30\",\"payload\":\"\",\"signature\":\"\"}", "application/json", HttpStatusCode.UnsupportedMediaType)]
    [InlineData("{\"protected\":\"e30\",\"payload\":\"\",\"signature\":\"\"}", "text/plain", HttpStatusCode.UnsupportedMediaType)]
    public async Task Post_NotAJws_ProblemNothingCreated(string body, string contentType, HttpStatusCode status)
    {
        await _server.TemplatesAsync();
        using var client = new AcmeTestClient(_server.CreateClient());
        foreach (var resource in new[] { "/new-account", "/new-order", "/revoke-cert", "/key-change", "/order/x", "/acct/x" })
        {
            using var response = await client.RawAsync(AcmeTestClient.Base + resource, body, contentType);
            Assert.Equal(status, response.StatusCode);
            Assert.Equal("malformed", await AcmeTestClient.ProblemAsync(response));
        }
    }

    [Fact]
    public async Task Post_BodyOverTheLimit_413Problem()
    {
        using var client = await AccountAsync();
        using var response = await client.PostAsync(AcmeTestClient.Base + "/new-order", "{\"identifiers\":[],\"pad\":\"" + new string('a', 70_000) + "\"}");

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("malformed", await AcmeTestClient.ProblemAsync(response));
    }

    [Theory]
    [InlineData("/new-order")]
    [InlineData("/new-account")]
    [InlineData("/order/x")]
    public async Task Get_PostOnlyResource_405Problem(string resource)
    {
        await _server.TemplatesAsync();
        using var response = await _server.CreateClient().GetAsync(AcmeTestClient.Base + resource);

        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Equal("malformed", await AcmeTestClient.ProblemAsync(response));
    }

    [Theory]
    [InlineData("dns", "www.example.com", "rejectedIdentifier")]
    [InlineData("dns", "*.a.test", "rejectedIdentifier")]
    [InlineData("dns", "a.b.test", "rejectedIdentifier")]
    [InlineData("dns", "", "rejectedIdentifier")]
    [InlineData("ip", "10.0.0.1", "rejectedIdentifier")]
    [InlineData("ip", "0x7f.0.0.1", "rejectedIdentifier")]
    [InlineData("email", "a@b.test", "unsupportedIdentifier")]
    public async Task NewOrder_IdentifierTheTemplateDoesNotAllow_RefusedAtOnce(string type, string value, string problem)
    {
        using var client = await AccountAsync();
        var payload = new JsonObject { ["identifiers"] = new JsonArray(new JsonObject { ["type"] = type, ["value"] = value }) };
        using var response = await client.PostAsync(AcmeTestClient.Base + "/new-order", payload.ToJsonString());

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(problem, await AcmeTestClient.ProblemAsync(response));
        Assert.Empty(await _server.Services.GetRequiredService<IAcmeStore>().OrdersOfAccountAsync(client.Kid!.Split('/')[^1], 10));
    }

    [Fact]
    public async Task NewOrder_IpIdentifier_HttpChallengeOnly()
    {
        using var client = await AccountAsync();
        var payload = new JsonObject { ["identifiers"] = new JsonArray(new JsonObject { ["type"] = "ip", ["value"] = "127.0.0.1" }) };
        using var response = await client.PostAsync(AcmeTestClient.Base + "/new-order", payload.ToJsonString());
        var order = await AcmeTestClient.JsonAsync(response);
        using var authz = await client.PostAsync(order.GetProperty("authorizations")[0].GetString()!, null);

        Assert.Equal(["http-01"], (await AcmeTestClient.JsonAsync(authz)).GetProperty("challenges").EnumerateArray().Select(c => c.GetProperty("type").GetString()));
    }

    [Fact]
    public async Task Finalize_OrderNotReady_OrderNotReady()
    {
        using var client = await AccountAsync();
        var (_, order) = await OrderAsync(client, "early.test");
        using var response = await client.PostAsync(order.GetProperty("finalize").GetString()!, new JsonObject { ["csr"] = AcmeTestClient.Csr("early.test") }.ToJsonString());

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("orderNotReady", await AcmeTestClient.ProblemAsync(response));
    }

    [Theory]
    [InlineData("other.test")]
    [InlineData("csr.test", "more.test")]
    [InlineData("!bad")]
    public async Task Finalize_CsrNamesNotTheOrders_BadCsrOrderStaysReady(params string[] names)
    {
        using var client = await AccountAsync();
        var (orderUrl, order) = await OrderAsync(client, "csr.test");
        await ValidateAllAsync(client, order);
        var csr = names[0] == "!bad" ? "AAAA" : AcmeTestClient.Csr(names);
        using var response = await client.PostAsync(order.GetProperty("finalize").GetString()!, new JsonObject { ["csr"] = csr }.ToJsonString());

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("badCSR", await AcmeTestClient.ProblemAsync(response));
        using var still = await client.PostAsync(orderUrl, null);
        Assert.Equal("ready", (await AcmeTestClient.JsonAsync(still)).GetProperty("status").GetString());
    }

    [Fact]
    public async Task Challenge_ValidationFails_ChallengeAuthorizationAndOrderInvalid()
    {
        using var client = await AccountAsync();
        var (orderUrl, order) = await OrderAsync(client, "fail.test");
        _server.Validator.Valid = false;
        try
        {
            using var a = await client.PostAsync(order.GetProperty("authorizations")[0].GetString()!, null);
            var challenge = (await AcmeTestClient.JsonAsync(a)).GetProperty("challenges")[0];
            using var answered = await client.PostAsync(challenge.GetProperty("url").GetString()!, "{}");
            var body = await AcmeTestClient.JsonAsync(answered);
            Assert.Equal("invalid", body.GetProperty("status").GetString());
            Assert.Equal("urn:ietf:params:acme:error:incorrectResponse", body.GetProperty("error").GetProperty("type").GetString());
            using var after = await client.PostAsync(orderUrl, null);
            Assert.Equal("invalid", (await AcmeTestClient.JsonAsync(after)).GetProperty("status").GetString());
        }
        finally
        {
            _server.Validator.Valid = true;
        }
    }

    [Fact]
    public async Task Order_OfAnotherAccount_NotFound()
    {
        using var owner = await AccountAsync();
        using var other = await AccountAsync();
        var (orderUrl, _) = await OrderAsync(owner, "mine.test");
        using var response = await other.PostAsync(orderUrl, null);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("malformed", await AcmeTestClient.ProblemAsync(response));
    }

    [Fact]
    public async Task KeyChange_NewKeySignsInner_OldKeyNoLongerWorksNewOneDoes()
    {
        using var client = await AccountAsync();
        using var newKey = new AcmeJws();
        var url = AcmeTestClient.Base + "/key-change";
        using var changed = await client.PostAsync(url, newKey.KeyChangeInner(url, client.Kid!, client.Key.Jwk));
        Assert.Equal(HttpStatusCode.OK, changed.StatusCode);

        using var old = await client.PostAsync(client.Kid!, null);
        Assert.Equal("malformed", await AcmeTestClient.ProblemAsync(old));
        var oldKey = client.Key;
        client.Key = newKey;
        using var now = await client.PostAsync(client.Kid!, null);
        Assert.Equal(HttpStatusCode.OK, now.StatusCode);
        client.Key = oldKey;
    }

    [Fact]
    public async Task KeyChange_InnerSignedByAnotherKeyOrNamingAnotherOldKey_RefusedKeyKept()
    {
        using var client = await AccountAsync();
        using var newKey = new AcmeJws();
        using var stranger = new AcmeJws();
        var url = AcmeTestClient.Base + "/key-change";
        var spoiled = JsonNode.Parse(newKey.KeyChangeInner(url, client.Kid!, client.Key.Jwk))!.AsObject();
        spoiled["signature"] = JsonNode.Parse(stranger.KeyChangeInner(url, client.Kid!, client.Key.Jwk))!["signature"]!.GetValue<string>();

        using var badSignature = await client.PostAsync(url, spoiled.ToJsonString());
        using var badOldKey = await client.PostAsync(url, newKey.KeyChangeInner(url, client.Kid!, stranger.Jwk));

        Assert.Equal("malformed", await AcmeTestClient.ProblemAsync(badSignature));
        Assert.Equal("unauthorized", await AcmeTestClient.ProblemAsync(badOldKey));
        using var still = await client.PostAsync(client.Kid!, null);
        Assert.Equal(HttpStatusCode.OK, still.StatusCode);
    }

    [Fact]
    public async Task Account_Deactivated_LaterRequestsUnauthorized()
    {
        using var client = await AccountAsync();
        using var deactivated = await client.PostAsync(client.Kid!, "{\"status\":\"deactivated\"}");
        Assert.Equal("deactivated", (await AcmeTestClient.JsonAsync(deactivated)).GetProperty("status").GetString());

        using var later = await client.PostAsync(AcmeTestClient.Base + "/new-order", "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"x.test\"}]}");
        Assert.Equal(HttpStatusCode.Forbidden, later.StatusCode);
        Assert.Equal("unauthorized", await AcmeTestClient.ProblemAsync(later));
    }
}
