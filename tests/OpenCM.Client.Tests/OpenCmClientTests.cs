using System.Net;
using System.Text;
using OpenCM.Client;
using OpenCM.Contracts;
using OpenCM.Domain;

namespace OpenCM.Client.Tests;

/// <summary>A server stand-in: answers each request from a script and keeps what it was sent.</summary>
internal sealed class ScriptedHandler : HttpMessageHandler
{
    private readonly Queue<HttpResponseMessage> _answers = new();

    public List<(HttpMethod Method, string Path, string? Body, string? Auth)> Sent { get; } = [];

    public ScriptedHandler Answer(HttpStatusCode status, string json, params (string Name, string Value)[] headers)
    {
        var response = new HttpResponseMessage(status) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        foreach (var (name, value) in headers)
        {
            response.Headers.TryAddWithoutValidation(name, value);
        }

        _answers.Enqueue(response);
        return this;
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        Sent.Add((request.Method, request.RequestUri!.PathAndQuery, request.Content is null ? null : await request.Content.ReadAsStringAsync(cancellationToken),
            request.Headers.Authorization?.ToString()));
        return _answers.Dequeue();
    }
}

public class OpenCmClientTests
{
    private static readonly Guid Id = Guid.Parse("7b902450-ed04-4516-bd6e-ee2e2559fb99");

    private static (OpenCmClient Client, ScriptedHandler Server) Make()
    {
        var handler = new ScriptedHandler();
        return (new OpenCmClient(new HttpClient(handler) { BaseAddress = new Uri("http://cm.test") }, " tok "), handler);
    }

    private static string Request(int status) =>
        $$"""{"Uuid":"{{Id}}","RequestType":1,"Status":{{status}},"Flags":0,"DataCollection":[],"DataCollectionFlags":32,"OriginatorUserUuid":"{{Guid.Empty}}","TargetUserUuid":"{{Guid.Empty}}","Submitted":"s","Completed":"c","NewProfileUuid":"{{Guid.Empty}}","OldProfileUuid":"{{Guid.Empty}}","NewSmartcardUuid":"{{Guid.Empty}}","OldSmartcardUuid":"{{Guid.Empty}}","Priority":0,"Comment":"","ProfileTemplateUuid":"{{Guid.Empty}}","SecurityDescriptor":"O:","IsSmartcard":false,"IsEnrollmentAgent":false,"IsDataCollectionComplete":true}""";

    [Fact]
    public async Task CreateRequest_201RelativeUri_IdAndTheBodyTheServerReads()
    {
        var (client, server) = Make();
        server.Answer(HttpStatusCode.Created, $"\"api/v1.0/requests/{Id}\"");
        var id = await client.CreateRequestAsync(new CreateRequestBody(WireRequestType.Enroll, Guid.Empty, [new DataItemDto("Reason", "lab")], Comment: ""));
        Assert.Equal(Id, id);
        var sent = Assert.Single(server.Sent);
        Assert.Equal((HttpMethod.Post, "/CertificateManagement/api/v1.0/requests", "Bearer tok"), (sent.Method, sent.Path, sent.Auth));
        Assert.Contains("\"Type\":\"Enroll\"", sent.Body, StringComparison.Ordinal);
        Assert.Contains("\"DataCollection\":[{\"Name\":\"Reason\",\"Value\":\"lab\"}]", sent.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SetStatus_Problem_ApiExceptionWithCodeFieldAndDetail()
    {
        var (client, server) = Make();
        server.Answer(HttpStatusCode.Conflict, """{"type":"x","title":"t","status":409,"detail":"A request in status Canceled cannot become Completed.","errorCode":"InvalidStatusTransition","field":null}""");
        var ex = await Assert.ThrowsAsync<OpenCmApiException>(() => client.SetStatusAsync(Id, WireRequestStatus.Completed));
        Assert.Equal((409, "InvalidStatusTransition", (string?)null), (ex.Status, ex.ErrorCode, ex.Field));
        Assert.Equal("409 InvalidStatusTransition: A request in status Canceled cannot become Completed.", ex.Message);
        Assert.Equal("{\"Status\":\"Completed\"}", server.Sent[0].Body);
    }

    [Fact]
    public async Task AnyCall_Problem_TypedKindAndTheWholeProblem()
    {
        var (client, server) = Make();
        server.Answer(HttpStatusCode.Conflict, """{"type":"https://opencm.dev/errors/InvalidStatusTransition","title":"t","status":409,"detail":"d","errorCode":"InvalidStatusTransition","correlationId":"c0ffee","currentStatus":17}""");
        server.Answer(HttpStatusCode.BadRequest, """{"type":"x","title":"t","status":400,"detail":"d","errorCode":"ValidationFailed","correlationId":"c1","field":"status"}""");
        server.Answer(HttpStatusCode.Conflict, """{"type":"x","title":"t","status":409,"detail":"d","errorCode":"SomethingNewer","correlationId":"c2"}""");
        var conflict = await Assert.ThrowsAsync<OpenCmApiException>(() => client.MeAsync());
        var invalid = await Assert.ThrowsAsync<OpenCmApiException>(() => client.MeAsync());
        var unknown = await Assert.ThrowsAsync<OpenCmApiException>(() => client.MeAsync());
        Assert.Equal((ErrorKind.InvalidStatusTransition, 17, "c0ffee"), (conflict.Kind, conflict.Problem!.CurrentStatus, conflict.Problem.CorrelationId));
        Assert.Equal((ErrorKind.ValidationFailed, "status", 400), (invalid.Kind, invalid.Field, invalid.Status));
        Assert.Equal(((ErrorKind?)null, "SomethingNewer", 409), (unknown.Kind, unknown.ErrorCode, unknown.Status));
    }

    [Fact]
    public async Task AnyCall_ErrorBodyNotJson_ApiExceptionWithTheStatus()
    {
        var (client, server) = Make();
        server.Answer(HttpStatusCode.BadGateway, "<html>proxy</html>");
        var ex = await Assert.ThrowsAsync<OpenCmApiException>(() => client.MeAsync());
        Assert.Equal((502, (string?)null, (ErrorKind?)null), (ex.Status, ex.ErrorCode, ex.Kind));
    }

    [Fact]
    public async Task ListRequests_LinkHeader_NextPageFollowed()
    {
        var (client, server) = Make();
        server.Answer(HttpStatusCode.OK, $"[{Request(3)}]", ("Link", "</CertificateManagement/api/v1.0/requests?top=1&skiptoken=abc>; rel=\"next\""))
              .Answer(HttpStatusCode.OK, $"[{Request(16)}]");
        var first = await client.ListRequestsAsync(WireRequestStatus.Approved, 1);
        var second = await client.ListRequestsAsync(next: first.Next);
        Assert.Equal((3, 16, (string?)null), (first.Items[0].Status, second.Items[0].Status, second.Next));
        Assert.Equal(["/CertificateManagement/api/v1.0/requests?status=Approved&top=1", "/CertificateManagement/api/v1.0/requests?top=1&skiptoken=abc"], server.Sent.Select(s => s.Path));
    }

    [Fact]
    public async Task Vote_Deny_DecisionAndCommentSent()
    {
        var (client, server) = Make();
        server.Answer(HttpStatusCode.OK, Request(4));
        Assert.Equal(4, (await client.VoteAsync(Id, ApprovalDecision.Deny, "no")).Status);
        Assert.Equal("{\"Decision\":\"Deny\",\"Comment\":\"no\"}", server.Sent[0].Body);
    }
}
