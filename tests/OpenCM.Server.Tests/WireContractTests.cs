using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace OpenCM.Server.Tests;

/// <summary>Typed wire contracts (issue #6): the OpenAPI document describes every route; hostile bodies end in a 4xx naming what was wrong.</summary>
public class WireContractTests : IClassFixture<ServerFixture>
{
    private readonly ServerFixture _server;

    public WireContractTests(ServerFixture server) => _server = server;

    [Fact]
    public async Task OpenApi_EveryApiRoute_DescribesItsBodyAndAnswer()
    {
        using var doc = JsonDocument.Parse(await _server.CreateClient().GetStringAsync("/openapi/v1.json"));
        var paths = doc.RootElement.GetProperty("paths");
        var operations = 0;
        foreach (var path in paths.EnumerateObject().Where(p => p.Name.StartsWith(ServerFixture.Api, StringComparison.Ordinal)))
        {
            foreach (var op in path.Value.EnumerateObject())
            {
                operations++;
                var ok = op.Value.GetProperty("responses").EnumerateObject().Single(r => r.Name is "200" or "201");
                Assert.True(ok.Value.GetProperty("content").GetProperty("application/json").TryGetProperty("schema", out _), $"{op.Name} {path.Name}");
                if (op.Name is "post" or "put")
                {
                    var schema = op.Value.GetProperty("requestBody").GetProperty("content").GetProperty("application/json").GetProperty("schema");
                    Assert.StartsWith("#/components/schemas/", schema.GetProperty("$ref").GetString(), StringComparison.Ordinal);
                }
            }
        }

        Assert.Equal(30, operations);
        var create = doc.RootElement.GetProperty("components").GetProperty("schemas").GetProperty("CreateRequestBody").GetProperty("properties");
        Assert.Contains("Enroll", create.GetProperty("Type").GetProperty("enum").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal("uuid", create.GetProperty("ProfileTemplateUuid").GetProperty("format").GetString());
        var request = doc.RootElement.GetProperty("components").GetProperty("schemas").GetProperty("RequestDto").GetProperty("properties");
        Assert.Equal(21, request.EnumerateObject().Count());
    }

    [Fact]
    public async Task OpenApi_EveryErrorOfEveryRoute_DescribedWithOpenCmsProblem()
    {
        using var doc = JsonDocument.Parse(await _server.CreateClient().GetStringAsync("/openapi/v1.json"));
        var problems = 0;
        foreach (var path in doc.RootElement.GetProperty("paths").EnumerateObject())
        {
            foreach (var op in path.Value.EnumerateObject())
            {
                foreach (var response in op.Value.GetProperty("responses").EnumerateObject().Where(r => r.Name[0] is '4' or '5'))
                {
                    problems++;
                    var content = response.Value.GetProperty("content");
                    Assert.Equal(["application/problem+json"], content.EnumerateObject().Select(c => c.Name));
                    Assert.Equal("#/components/schemas/ProblemDto", content.GetProperty("application/problem+json").GetProperty("schema").GetProperty("$ref").GetString());
                }
            }
        }

        // PUT /requests/{id}: the state machine's refusal and the stale If-Match are among its answers.
        var put = doc.RootElement.GetProperty("paths").GetProperty(ServerFixture.Api + "/requests/{id}").GetProperty("put").GetProperty("responses");
        Assert.True(put.TryGetProperty("409", out _) && put.TryGetProperty("412", out _) && put.TryGetProperty("401", out _));
        Assert.True(problems > 29 * 4, $"{problems} problem responses");
        var schemas = doc.RootElement.GetProperty("components").GetProperty("schemas");
        Assert.False(schemas.TryGetProperty("ProblemDetails", out _));
        var problem = schemas.GetProperty("ProblemDto").GetProperty("properties");
        Assert.Equal(["type", "title", "status", "detail", "errorCode", "correlationId", "field", "currentStatus"], problem.EnumerateObject().Select(p => p.Name));
    }

    public static TheoryData<string, string, byte[], string> Hostile()
    {
        var data = new TheoryData<string, string, byte[], string>();
        var id = Guid.NewGuid();
        (string Method, string Path, string Field)[] routes =
        [
            ("POST", "/requests", "comment"),
            ("PUT", $"/requests/{id}", "status"),
            ("POST", $"/requests/{id}/approvals", "comment"),
            ("POST", $"/requests/{id}/certificatedata", "pfxpassword"),
            ("POST", "/smartcards", "cardid"),
            ("PUT", $"/requests/{id}/smartcards/{Guid.NewGuid()}", "status"),
        ];
        foreach (var (method, path, field) in routes)
        {
            data.Add(method, path, Encoding.UTF8.GetBytes($$"""{"{{field}}":"\ud800"}"""), field);
            data.Add(method, path, [.. "{\""u8, .. Encoding.UTF8.GetBytes(field), .. "\":\""u8, 0xC3, 0x28, .. "\"}"u8], field);
            data.Add(method, path, [.. "{\"a"u8, 0xFF, .. "\":1}"u8], "body");
            data.Add(method, path, "{\"x\":1} trailing"u8.ToArray(), "body");
            data.Add(method, path, "[1,2]"u8.ToArray(), "body");
            data.Add(method, path, Encoding.UTF8.GetBytes("{\"" + field + "\":{\"deep\":[[[[1]]]]}}"), field);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Hostile))]
    public async Task JsonRoutes_HostileBody_400NamingTheField(string method, string path, byte[] body, string field)
    {
        var client = await _server.AdminAsync();
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        var response = await client.SendAsync(new HttpRequestMessage(new HttpMethod(method), ServerFixture.Api + path) { Content = content });
        var json = await response.JsonAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{response.StatusCode}: {json}");
        Assert.Equal(("ValidationFailed", field), (json.GetProperty("errorCode").GetString(), json.GetProperty("field").GetString()));
    }
}

public class WireDetailTests : IClassFixture<ServerFixture>
{
    private readonly ServerFixture _server;

    public WireDetailTests(ServerFixture server) => _server = server;

    [Fact]
    public async Task Create_BodyWithByteOrderMarkAndTrailingComma_Accepted()
    {
        var client = await _server.ClientAsync(await _server.UserAsync("bom"));
        byte[] body = [0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes($$"""{"datacollection":"[]","type":"Enroll","profiletemplateuuid":"{{ServerFixture.UserCertificate}}","comment":"",}""")];
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        var response = await client.PostAsync($"{ServerFixture.Api}/requests", content);
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
    }
}
