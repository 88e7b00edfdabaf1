using System.Net;
using System.Net.Http.Headers;
using Microsoft.Extensions.DependencyInjection;
using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.Server.Auth;

namespace OpenCM.Server.Tests;

public class TemplateAndAuthTests : IClassFixture<ServerFixture>
{
    private readonly ServerFixture _server;

    public TemplateAndAuthTests(ServerFixture server) => _server = server;

    [Fact]
    public async Task ProfileTemplates_PlainUser_SeesSelfServiceSamplesInReferenceShape()
    {
        var client = await _server.ClientAsync(await _server.UserAsync("alice"));
        var json = await (await client.GetAsync($"{ServerFixture.Api}/profiletemplates")).JsonAsync();
        var names = json.EnumerateArray().Select(t => t.GetProperty("Name").GetString()).ToList();
        Assert.Equal(["Approved User Certificate", "Archived Encryption Certificate", "TLS Server", "TLS Server Approved", "User Certificate", "Virtual Smartcard VPN"], names);
        Assert.Equal(["Name", "Description", "Uuid", "IsSmartcardProfileTemplate", "IsVirtualSmartcardProfileTemplate"],
            json[5].EnumerateObject().Select(p => p.Name));
        Assert.True(json[5].GetProperty("IsVirtualSmartcardProfileTemplate").GetBoolean());
    }

    [Theory]
    [InlineData("policies/enroll")]
    [InlineData("policies/Enroll")]
    [InlineData("policy/workflow/enroll")]
    [InlineData("policies/1")]
    public async Task Policy_EnrollRoutes_ReturnWorkflowPolicy(string route)
    {
        var client = await _server.ClientAsync(await _server.UserAsync("alice"));
        var response = await client.GetAsync($"{ServerFixture.Api}/profiletemplates/{ServerFixture.VirtualSmartcardVpn.ToString().ToUpperInvariant()}/{route}");
        var json = await response.JsonAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(
            ["ApprovalsNeeded", "AuthorizedApprover", "AuthorizedEnrollmentAgent", "AuthorizedInitiator", "CollectComments", "CollectRequestPriority",
             "DefaultRequestPriority", "Documents", "Enabled", "EnrollAgentRequired", "OneTimePasswordPolicy", "Personalization", "PolicyDataCollection", "SelfServiceEnabled"],
            json.EnumerateObject().Select(p => p.Name));
        Assert.Equal("Request Reason", json.GetProperty("PolicyDataCollection")[0].GetProperty("Name").GetString());
        Assert.False(json.GetProperty("CollectComments").GetBoolean());
        var managers = await _server.Services.GetRequiredService<IDirectory>().FindByNameAsync("CM Managers");
        Assert.Equal($"O:SYD:(A;;CR;;;{managers!.Sid})", json.GetProperty("AuthorizedInitiator").GetString());
    }

    [Fact]
    public async Task SmartcardConfiguration_VirtualSmartcardTemplate_CardPolicyForWalkthroughStep12()
    {
        var client = await _server.ClientAsync(await _server.UserAsync("alice"));
        var response = await client.GetAsync($"{ServerFixture.Api}/profiletemplates/{ServerFixture.VirtualSmartcardVpn.ToString().ToUpperInvariant()}/configuration/smartcards");
        var json = await response.JsonAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(
            ["DefaultAdminKeyHex", "DiversifyAdminKey", "AdminKeyDiversificationAlgorithm", "UserPinOption", "MinimumPinLength", "MaximumPinLength",
             "PinCharacters", "Middleware", "CardUsage", "KeyStorageProvider", "CertificateTemplates"],
            json.EnumerateObject().Select(p => p.Name));
        Assert.Equal(("010203040506070801020304050607080102030405060708", true, "SP800-108-CTR-HMAC-SHA256"),
            (json.GetProperty("DefaultAdminKeyHex").GetString(), json.GetProperty("DiversifyAdminKey").GetBoolean(), json.GetProperty("AdminKeyDiversificationAlgorithm").GetString()));
        Assert.Equal(["Virtual"], json.GetProperty("CardUsage").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(["OpenCMVirtualSmartcardVpn"], json.GetProperty("CertificateTemplates").EnumerateArray().Select(e => e.GetString()));
    }

    [Theory]
    [InlineData("5b0e3c1e-7f3a-4a55-9c8e-1b2d3e4f5a60")] // a software template
    [InlineData("00000000-0000-0000-0000-000000000001")] // no template
    public async Task SmartcardConfiguration_NotACardTemplate_404(string template)
    {
        var client = await _server.ClientAsync(await _server.UserAsync("alice"));
        var response = await client.GetAsync($"{ServerFixture.Api}/profiletemplates/{template}/configuration/smartcards");
        Assert.Equal((HttpStatusCode.NotFound, "NotFound"), (response.StatusCode, await response.ErrorCodeAsync()));
    }

    [Theory]
    [InlineData("policies/TemporaryEnroll", HttpStatusCode.Forbidden, "PolicyDisabled")]
    [InlineData("policies/Unblock", HttpStatusCode.Forbidden, "PolicyDisabled")]
    [InlineData("policies/Sleep", HttpStatusCode.BadRequest, "ValidationFailed")]
    public async Task Policy_UnavailableTypes_Refused(string route, HttpStatusCode status, string code)
    {
        var client = await _server.ClientAsync(await _server.UserAsync("alice"));
        var response = await client.GetAsync($"{ServerFixture.Api}/profiletemplates/{ServerFixture.UserCertificate}/{route}");
        Assert.Equal(status, response.StatusCode);
        Assert.Equal(code, await response.ErrorCodeAsync());
    }

    [Fact]
    public async Task ProfileTemplate_UnknownId_404()
    {
        var client = await _server.ClientAsync(await _server.UserAsync("alice"));
        var response = await client.GetAsync($"{ServerFixture.Api}/profiletemplates/{Guid.NewGuid()}");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        var one = await (await client.GetAsync($"{ServerFixture.Api}/profiletemplates/{ServerFixture.UserCertificate}")).JsonAsync();
        Assert.Equal("User Certificate", one.GetProperty("Name").GetString());
    }

    public static TheoryData<string?> BadTokens() => new()
    {
        null,
        "not-a-jwt",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
    };

    [Theory]
    [MemberData(nameof(BadTokens))]
    public async Task Api_MissingOrBadToken_401WithBearerChallenge(string? token)
    {
        var client = _server.CreateClient();
        if (token is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        var response = await client.GetAsync($"{ServerFixture.Api}/requests");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
        Assert.Equal("Unauthenticated", await response.ErrorCodeAsync());
    }

    [Theory]
    [InlineData(-60, false)]   // expired half an hour ago
    [InlineData(-33, false)]   // expired three minutes ago: past the 2-minute skew
    [InlineData(-29, true)]    // one minute left
    [InlineData(1, true)]      // issued a minute "in the future": within the skew
    [InlineData(10, false)]    // not yet valid
    public async Task Api_TokenLifetime_CheckedAgainstServerClock(int mintedMinutesFromNow, bool accepted)
    {
        // Mint with a clock offset from the server's pinned one; the server must judge by its own clock.
        var mintClock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(_server.Clock.GetUtcNow().AddMinutes(mintedMinutesFromNow));
        var tokens = new TokenService(await TokenService.LoadKeyAsync(_server.Services.GetRequiredService<Storage.SecretStore>()), mintClock, new AuthOptions());
        var client = _server.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", tokens.Mint(await _server.UserAsync("alice"), [], TimeSpan.FromMinutes(30)));
        var response = await client.GetAsync($"{ServerFixture.Api}/me");
        Assert.Equal(accepted ? HttpStatusCode.OK : HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task Api_TokenWithUnknownCriticalHeader_401()
    {
        // Signed by this server's own key, valid in every other respect (RFC 7515 §4.1.11).
        var user = await _server.UserAsync("crit");
        var key = _server.Services.GetRequiredService<TokenService>().SigningKey;
        var now = _server.Clock.GetUtcNow().UtcDateTime;
        var token = new Microsoft.IdentityModel.JsonWebTokens.JsonWebTokenHandler().CreateToken(new Microsoft.IdentityModel.Tokens.SecurityTokenDescriptor
        {
            Issuer = "opencm",
            Audience = "opencm",
            IssuedAt = now,
            NotBefore = now,
            Expires = now.AddMinutes(10),
            Claims = new Dictionary<string, object> { ["sub"] = user.Uuid.ToString("D"), ["name"] = user.Name, ["primarysid"] = user.Sid.Value },
            AdditionalHeaderClaims = new Dictionary<string, object> { ["crit"] = new[] { "urn:example:must-understand" }, ["urn:example:must-understand"] = true },
            SigningCredentials = new Microsoft.IdentityModel.Tokens.SigningCredentials(key, Microsoft.IdentityModel.Tokens.SecurityAlgorithms.EcdsaSha256),
        });
        var client = _server.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync($"{ServerFixture.Api}/me")).StatusCode);

        // The same token without crit is accepted: the refusal is for crit alone.
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", _server.Services.GetRequiredService<TokenService>().Mint(user, [], TimeSpan.FromMinutes(10)));
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"{ServerFixture.Api}/me")).StatusCode);
    }

    [Fact]
    public async Task Api_TokenFromAnotherKey_401()
    {
        using var otherDir = new TestKit.TempDirectory();
        await using var other = await Storage.Sqlite.SqliteDataDirectory.OpenAsync(otherDir.Path, TestKit.Samples.Clock());
        var foreign = new TokenService(await TokenService.LoadKeyAsync(new Storage.SecretStore(other.Storage, new Storage.FileMasterKeyProvider(other.MasterKeyPath, mayCreate: true).Load(), _server.Clock)), _server.Clock, new AuthOptions());
        var user = await _server.UserAsync("alice");
        var client = _server.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", foreign.Mint(user, [], TimeSpan.FromMinutes(5)));
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync($"{ServerFixture.Api}/me")).StatusCode);
    }

    [Fact]
    public async Task Me_TokenWithGroups_ReportsSidAndGroups()
    {
        var user = await _server.UserAsync("alice", "CM Approvers");
        var json = await (await (await _server.ClientAsync(user)).GetAsync($"{ServerFixture.Api}/me")).JsonAsync();
        var approvers = await _server.Services.GetRequiredService<IDirectory>().FindByNameAsync("CM Approvers");
        Assert.Equal(user.Sid.Value, json.GetProperty("Sid").GetString());
        Assert.Contains(approvers!.Sid.Value, json.GetProperty("GroupSids").EnumerateArray().Select(g => g.GetString()));
        Assert.Contains("S-1-1-0", json.GetProperty("GroupSids").EnumerateArray().Select(g => g.GetString()));
    }

    [Fact]
    public async Task Health_Unauthenticated_Ok()
    {
        var client = _server.CreateClient();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health/live")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health/ready")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/openapi/v1.json")).StatusCode);
    }

    [Fact]
    public async Task CorrelationId_GivenByClient_Echoed()
    {
        var client = _server.CreateClient();
        client.DefaultRequestHeaders.Add("X-Correlation-Id", "trace-123");
        var response = await client.GetAsync($"{ServerFixture.Api}/requests");
        Assert.Equal("trace-123", response.Headers.GetValues("X-Correlation-Id").Single());
        Assert.Equal("trace-123", (await response.JsonAsync()).GetProperty("correlationId").GetString());
    }

    [Fact]
    public async Task Bootstrap_SecondRun_ReusesEverything()
    {
        var again = await Composition.Bootstrapper.InitializeAsync(_server.Services);
        Assert.False(again.CreatedAdmin);
        Assert.Empty(again.ImportedTemplates);
    }
}

public class ErrorMappingTests
{
    [Theory]
    [InlineData(ErrorKind.ValidationFailed, 400)]
    [InlineData(ErrorKind.Unauthenticated, 401)]
    [InlineData(ErrorKind.Forbidden, 403)]
    [InlineData(ErrorKind.PolicyDisabled, 403)]
    [InlineData(ErrorKind.NotFound, 404)]
    [InlineData(ErrorKind.InvalidStatusTransition, 409)]
    [InlineData(ErrorKind.Conflict, 409)]
    [InlineData(ErrorKind.PreconditionFailed, 412)]
    [InlineData(ErrorKind.PayloadTooLarge, 413)]
    [InlineData(ErrorKind.UnsupportedMediaType, 415)]
    [InlineData(ErrorKind.Unavailable, 503)]
    [InlineData(ErrorKind.Internal, 500)]
    public void StatusCode_EveryKind_MapsOnce(ErrorKind kind, int status) => Assert.Equal(status, Errors.ErrorMapping.StatusCode(kind));

    [Fact]
    public void StatusCode_AllKindsCovered() =>
        Assert.All(Enum.GetValues<ErrorKind>(), k => Assert.InRange(Errors.ErrorMapping.StatusCode(k), 400, 503));
}
