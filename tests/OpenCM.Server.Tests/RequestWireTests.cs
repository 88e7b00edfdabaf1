using System.Net;
using System.Text.Json;

namespace OpenCM.Server.Tests;

public class RequestWireTests : IClassFixture<ServerFixture>
{
    private static readonly string[] ReferenceOrder =
    [
        "Uuid", "RequestType", "Status", "Flags", "DataCollection", "DataCollectionFlags", "OriginatorUserUuid",
        "TargetUserUuid", "Submitted", "Completed", "NewProfileUuid", "OldProfileUuid", "NewSmartcardUuid",
        "OldSmartcardUuid", "Priority", "Comment", "ProfileTemplateUuid", "SecurityDescriptor", "IsSmartcard",
        "IsEnrollmentAgent", "IsDataCollectionComplete",
    ];

    private readonly ServerFixture _server;

    public RequestWireTests(ServerFixture server) => _server = server;

    [Fact]
    public async Task Create_ReferenceBody_Answers201WithLocationAndRelativeUri()
    {
        var client = await _server.ClientAsync(await _server.UserAsync("alice"));
        var response = await client.CreateAsync(ServerFixture.UserCertificate);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var body = await response.JsonAsync();
        Assert.Matches("^api/v1\\.0/requests/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", body.GetString());
        Assert.Equal($"/CertificateManagement/{body.GetString()}", response.Headers.Location!.OriginalString);
    }

    [Fact]
    public async Task Get_NewRequest_HasExactlyTheReferencePropertiesInOrder()
    {
        var user = await _server.UserAsync("alice");
        var client = await _server.ClientAsync(user);
        var id = await client.CreateIdAsync(ServerFixture.VirtualSmartcardVpn, """[{"Request Reason":"Need VPN Certs"}]""");

        var response = await client.GetAsync($"{ServerFixture.Api}/requests/{id.ToString().ToUpperInvariant()}");
        Assert.Equal("application/json; charset=utf-8", response.Content.Headers.ContentType!.ToString());
        Assert.Equal((await response.Content.ReadAsByteArrayAsync()).Length, response.Content.Headers.ContentLength);
        var json = await response.JsonAsync();
        Assert.Equal(ReferenceOrder, json.EnumerateObject().Select(p => p.Name));
        Assert.Equal(id.ToString("D"), json.GetProperty("Uuid").GetString());
        Assert.Equal((1, 3, 2, 32), (json.GetProperty("RequestType").GetInt32(), json.GetProperty("Status").GetInt32(), json.GetProperty("Flags").GetInt32(), json.GetProperty("DataCollectionFlags").GetInt32()));
        Assert.Equal("2026-11-25T12:00:00Z", json.GetProperty("Submitted").GetString());
        Assert.Equal("0001-01-01T00:00:00", json.GetProperty("Completed").GetString());
        Assert.Equal("00000000-0000-0000-0000-000000000000", json.GetProperty("NewProfileUuid").GetString());
        Assert.Equal(user.Uuid.ToString("D"), json.GetProperty("OriginatorUserUuid").GetString());
        Assert.Equal("""[{"Name":"Request Reason","Value":"Need VPN Certs"}]""", json.GetProperty("DataCollection").GetRawText());
        Assert.True(json.GetProperty("IsSmartcard").GetBoolean());
        Assert.StartsWith($"O:{user.Sid}D:", json.GetProperty("SecurityDescriptor").GetString(), StringComparison.Ordinal);
        Assert.Equal("\"1\"", response.Headers.ETag!.Tag);
    }

    [Fact]
    public async Task Create_NewRequest_IdIsVersion7CarryingTheSubmissionTime()
    {
        // Time-ordered ids keep a request's audit events on neighbouring index pages (docs/benchmarks.md, issue #11).
        var client = await _server.ClientAsync(await _server.UserAsync("alice"));
        var id = await client.CreateIdAsync(ServerFixture.UserCertificate);

        Assert.Equal(7, id.Version);
        var bytes = id.ToByteArray(bigEndian: true);
        var millis = ((long)bytes[0] << 40) | ((long)bytes[1] << 32) | ((long)bytes[2] << 24) | ((long)bytes[3] << 16) | ((long)bytes[4] << 8) | bytes[5];
        var submitted = (await (await client.GetAsync($"{ServerFixture.Api}/requests/{id}")).JsonAsync()).GetProperty("Submitted").GetDateTimeOffset();
        Assert.Equal(submitted.ToUnixTimeMilliseconds(), millis);
    }

    [Theory]
    [InlineData("\"[{“Request Reason”:”Need VPN Certs”}]\"")] // the walkthrough's own body, typographic quotes and all
    [InlineData("\"[{\\\"Request Reason\\\":\\\"Need VPN Certs\\\"}]\"")]
    [InlineData("[{\"request reason\":\"Need VPN Certs\"}]")]
    [InlineData("[{\"Name\":\"Request Reason\",\"Value\":\"Need VPN Certs\"}]")]
    public async Task Create_DataCollectionForms_AllAccepted(string dataCollection)
    {
        var client = await _server.ClientAsync(await _server.UserAsync("alice"));
        var id = await client.CreateIdAsync(ServerFixture.VirtualSmartcardVpn, dataCollection);
        var json = await (await client.GetAsync($"{ServerFixture.Api}/requests/{id}")).JsonAsync();
        Assert.Equal("Need VPN Certs", json.GetProperty("DataCollection")[0].GetProperty("Value").GetString());
    }

    [Fact]
    public async Task Create_PropertyNamesAnyCaseAndTypeByNumber_Accepted()
    {
        var client = await _server.ClientAsync(await _server.UserAsync("alice"));
        var response = await client.PostAsync($"{ServerFixture.Api}/requests",
            Http.Json($$"""{"DataCollection":[],"TYPE":1,"ProfileTemplateUuid":"{{ServerFixture.UserCertificate.ToString("B").ToUpperInvariant()}}","Comment":""}"""));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
    }

    public static TheoryData<string, HttpStatusCode, string, string?> CreateFailures() => new()
    {
        { $$"""{"type":"Enrol","profiletemplateuuid":"{{ServerFixture.UserCertificate}}"}""", HttpStatusCode.BadRequest, "ValidationFailed", "type" },
        { $$"""{"type":"None","profiletemplateuuid":"{{ServerFixture.UserCertificate}}"}""", HttpStatusCode.BadRequest, "ValidationFailed", "type" },
        { $$"""{"profiletemplateuuid":"{{ServerFixture.UserCertificate}}"}""", HttpStatusCode.BadRequest, "ValidationFailed", "type" },
        { """{"type":"Enroll","profiletemplateuuid":"not-a-guid"}""", HttpStatusCode.BadRequest, "ValidationFailed", "profiletemplateuuid" },
        { $$"""{"type":"Enroll","profiletemplateuuid":"{{Guid.Empty}}"}""", HttpStatusCode.BadRequest, "ValidationFailed", "profiletemplateuuid" },
        { $$"""{"type":"Enroll","profiletemplateuuid":"{{ServerFixture.ApprovedUserCertificate}}","datacollection":[]}""", HttpStatusCode.BadRequest, "ValidationFailed", "Request Reason" },
        { $$"""{"type":"Enroll","profiletemplateuuid":"{{ServerFixture.UserCertificate}}","datacollection":[{"City":"Seattle"}]}""", HttpStatusCode.BadRequest, "ValidationFailed", "City" },
        { $$"""{"type":"Enroll","profiletemplateuuid":"{{ServerFixture.UserCertificate}}","priority":"4"}""", HttpStatusCode.BadRequest, "ValidationFailed", "priority" },
        { $$"""{"type":"Enroll","profiletemplateuuid":"{{ServerFixture.ApprovedUserCertificate}}","datacollection":[{"Request Reason":"x"}],"priority":300}""", HttpStatusCode.BadRequest, "ValidationFailed", "priority" },
        { $$"""{"type":"Enroll","profiletemplateuuid":"{{ServerFixture.UserCertificate}}","comment":"hello"}""", HttpStatusCode.BadRequest, "ValidationFailed", "comment" },
        { $$"""{"type":"Enroll","profiletemplateuuid":"{{ServerFixture.UserCertificate}}","datacollection":"{oops"}""", HttpStatusCode.BadRequest, "ValidationFailed", "datacollection" },
        { $$"""{"type":"Enroll","profiletemplateuuid":"{{ServerFixture.UserCertificate}}","target":"{{Guid.NewGuid()}}"}""", HttpStatusCode.BadRequest, "ValidationFailed", "target" },
        { $$"""{"type":"TemporaryCards","profiletemplateuuid":"{{ServerFixture.UserCertificate}}"}""", HttpStatusCode.Forbidden, "PolicyDisabled", null },
        { """{"type":"Unblock","smartcard":"17cf063d-e337-4aa9-a822-346554ddd3c9"}""", HttpStatusCode.BadRequest, "ValidationFailed", "smartcard" },
        { """{"type":"Renew"}""", HttpStatusCode.BadRequest, "ValidationFailed", "profile" },
        { """[1,2]""", HttpStatusCode.BadRequest, "ValidationFailed", "body" },
        { """{"type":""", HttpStatusCode.BadRequest, "ValidationFailed", "body" },
        { """{"type":"Enroll","type":"Enroll"}""", HttpStatusCode.BadRequest, "ValidationFailed", "type" },
    };

    [Theory]
    [MemberData(nameof(CreateFailures))]
    public async Task Create_InvalidBody_RefusedNamingTheField(string body, HttpStatusCode status, string code, string? field)
    {
        var client = await _server.ClientAsync(await _server.UserAsync("alice"));
        var response = await client.PostAsync($"{ServerFixture.Api}/requests", Http.Json(body));
        var json = await response.JsonAsync();
        Assert.Equal(status, response.StatusCode);
        Assert.Equal(code, json.GetProperty("errorCode").GetString());
        Assert.Equal(field, json.TryGetProperty("field", out var f) ? f.GetString() : null);
        Assert.Equal("application/problem+json; charset=utf-8", response.Content.Headers.ContentType!.ToString());
        Assert.False(string.IsNullOrEmpty(json.GetProperty("correlationId").GetString()));
    }

    [Fact]
    public async Task Create_ForAnotherUserWithoutInitiatorRole_Forbidden()
    {
        var bob = await _server.UserAsync("bob");
        var client = await _server.ClientAsync(await _server.UserAsync("alice"));
        var response = await client.CreateAsync(ServerFixture.UserCertificate, extra: $$""","target":"{{bob.Uuid}}" """);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("Forbidden", await response.ErrorCodeAsync());
    }

    [Fact]
    public async Task Create_ManagerForAnotherUser_TargetMayReadAndExecute()
    {
        var bob = await _server.UserAsync("bob");
        var admin = await _server.AdminAsync();
        var id = await admin.CreateIdAsync(ServerFixture.UserCertificate, extra: $$""","target":"{{bob.Uuid}}" """);
        var bobClient = await _server.ClientAsync(bob);
        var json = await (await bobClient.GetAsync($"{ServerFixture.Api}/requests/{id}")).JsonAsync();
        Assert.Equal(bob.Uuid.ToString("D"), json.GetProperty("TargetUserUuid").GetString());

        // The target may read but holds no Cancel right: 403, not 404.
        var cancel = await bobClient.PutStatusAsync(id, "Canceled");
        Assert.Equal(HttpStatusCode.Forbidden, cancel.StatusCode);
    }

    [Fact]
    public async Task Create_WrongContentType_Answers415()
    {
        var client = await _server.ClientAsync(await _server.UserAsync("alice"));
        var response = await client.PostAsync($"{ServerFixture.Api}/requests", new StringContent("{}", System.Text.Encoding.UTF8, "text/plain"));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        Assert.Equal("UnsupportedMediaType", await response.ErrorCodeAsync());
    }

    [Fact]
    public async Task Create_BodyOverOneMebibyte_Answers413()
    {
        var client = await _server.ClientAsync(await _server.UserAsync("alice"));
        var big = $$"""{"type":"Enroll","comment":"{{new string('x', 1024 * 1024)}}"}""";
        var response = await client.PostAsync($"{ServerFixture.Api}/requests", Http.Json(big));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("PayloadTooLarge", await response.ErrorCodeAsync());
    }

    [Theory]
    [InlineData("nope")]
    [InlineData("12345")]
    public async Task Get_MalformedOrUnknownId_RefusedWithoutRevealingAnything(string id)
    {
        var client = await _server.ClientAsync(await _server.UserAsync("alice"));
        var response = await client.GetAsync($"{ServerFixture.Api}/requests/{id}");
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var unknown = await client.GetAsync($"{ServerFixture.Api}/requests/{Guid.NewGuid()}");
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal("NotFound", await unknown.ErrorCodeAsync());
    }

    [Fact]
    public async Task Get_SomeoneElsesRequest_NotFound()
    {
        var alice = await _server.ClientAsync(await _server.UserAsync("alice"));
        var id = await alice.CreateIdAsync(ServerFixture.UserCertificate);
        var mallory = await _server.ClientAsync(await _server.UserAsync("mallory"));
        Assert.Equal(HttpStatusCode.NotFound, (await mallory.GetAsync($"{ServerFixture.Api}/requests/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await mallory.PutStatusAsync(id, "Canceled")).StatusCode);
    }

    [Fact]
    public async Task RouteMatching_LowerCasePath_Works()
    {
        var client = await _server.ClientAsync(await _server.UserAsync("alice"));
        var response = await client.GetAsync("/certificatemanagement/api/v1.0/profiletemplates");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(JsonValueKind.Array, (await response.JsonAsync()).ValueKind);
    }
}
