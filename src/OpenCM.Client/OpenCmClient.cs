using System.Net.Http.Headers;
using System.Text.Json;
using OpenCM.Contracts;
using OpenCM.Domain;

namespace OpenCM.Client;

/// <summary>
/// An answer that is not a success: the HTTP status and the problem body (<see cref="ProblemDto"/>,
/// docs/error-handling.md), whose <see cref="Kind"/> is what callers decide on, never its English text.
/// </summary>
public sealed class OpenCmApiException : Exception
{
    public OpenCmApiException(int status, ProblemDto? problem)
        : base($"{status} {problem?.ErrorCode}: {problem?.Detail ?? "the answer is not a problem body"}")
    {
        Status = status;
        Problem = problem;
        ErrorCode = problem?.ErrorCode;
        Kind = KindOf(problem?.ErrorCode);
        Field = problem?.Field;
        Detail = problem?.Detail ?? "the answer is not a problem body";
    }

    public OpenCmApiException()
        : this("")
    {
    }

    public OpenCmApiException(string message)
        : base(message)
    {
        Detail = message;
    }

    public OpenCmApiException(string message, Exception innerException)
        : base(message, innerException)
    {
        Detail = message;
    }

    /// <summary>The HTTP status; 0 when the server answered with something this client cannot use.</summary>
    public int Status { get; }

    /// <summary>The problem body as the server sent it; null when the answer was not one.</summary>
    public ProblemDto? Problem { get; }

    /// <summary>The error kind the problem names; null when there is no problem body, or it names a kind this client does not know.</summary>
    public ErrorKind? Kind { get; }

    /// <summary>The problem's <c>errorCode</c> as sent.</summary>
    public string? ErrorCode { get; }

    /// <summary>The offending input, for ValidationFailed.</summary>
    public string? Field { get; }

    public string Detail { get; } = "";

    // The errorCode is a kind's name, exactly as the server's ErrorKind spells it; a number is none.
    private static ErrorKind? KindOf(string? code) =>
        code is { Length: > 0 } && char.IsAsciiLetter(code[0]) && Enum.TryParse<ErrorKind>(code, ignoreCase: false, out var kind) && Enum.IsDefined(kind) ? kind : null;
}

/// <summary>One page of GET /requests and the link to the next, if any.</summary>
public sealed record RequestPage(IReadOnlyList<RequestDto> Items, string? Next);

/// <summary>
/// A typed client of the MIM CM REST API v1.0 as OpenCM serves it, over the same contracts and
/// generated serializers as the server (OpenCM.Contracts). Failures are <see cref="OpenCmApiException"/>.
/// </summary>
public sealed class OpenCmClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly bool _ownsHttp;
    private readonly string _api;

    /// <summary>A client of <paramref name="server"/> with a bearer token, under the default path base.</summary>
    public OpenCmClient(Uri server, string token, string pathBase = "/CertificateManagement")
        : this(new HttpClient { BaseAddress = server }, token, pathBase, ownsHttp: true)
    {
    }

    /// <summary>A client of <paramref name="server"/> through <paramref name="handler"/> (a CA to trust, checks on the answers), which the client disposes.</summary>
    public OpenCmClient(HttpMessageHandler handler, Uri server, string token, string pathBase = "/CertificateManagement")
        : this(new HttpClient(handler, disposeHandler: true) { BaseAddress = server }, token, pathBase, ownsHttp: true)
    {
    }

    /// <summary>A client over an <see cref="HttpClient"/> the caller owns (tests, custom handlers).</summary>
    public OpenCmClient(HttpClient http, string token, string pathBase = "/CertificateManagement")
        : this(http, token, pathBase, ownsHttp: false)
    {
    }

    private OpenCmClient(HttpClient http, string token, string pathBase, bool ownsHttp)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentException.ThrowIfNullOrWhiteSpace(token);
        _http = http;
        _ownsHttp = ownsHttp;
        _api = pathBase.TrimEnd('/') + "/api/v1.0";
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token.Trim());
    }

    public Task<CallerDto> MeAsync(CancellationToken ct = default) => GetAsync<CallerDto>("/me", ct);

    public async Task<IReadOnlyList<ProfileTemplateDto>> ProfileTemplatesAsync(CancellationToken ct = default) =>
        await GetAsync<List<ProfileTemplateDto>>("/profiletemplates", ct).ConfigureAwait(false);

    /// <summary>POST /requests; the new request's id.</summary>
    public async Task<Guid> CreateRequestAsync(CreateRequestBody body, CancellationToken ct = default)
    {
        var relative = await SendAsync<CreateRequestBody, string>(HttpMethod.Post, "/requests", body, ct).ConfigureAwait(false);
        return Guid.TryParse(relative.Split('/')[^1], out var id) ? id : throw new OpenCmApiException($"The server answered the new request as '{relative}', which names no request.");
    }

    public Task<RequestDto> GetRequestAsync(Guid id, CancellationToken ct = default) => GetAsync<RequestDto>($"/requests/{id:D}", ct);

    /// <summary>One page of the requests the caller may read; pass the previous page's <see cref="RequestPage.Next"/> to go on.</summary>
    public async Task<RequestPage> ListRequestsAsync(WireRequestStatus? status = null, int? top = null, string? next = null, CancellationToken ct = default)
    {
        var url = next ?? _api + "/requests" + Query(("status", status?.ToString()), ("top", top?.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        using var response = await _http.GetAsync(new Uri(url, UriKind.RelativeOrAbsolute), ct).ConfigureAwait(false);
        var items = await ReadAsync<List<RequestDto>>(response, ct).ConfigureAwait(false);
        var link = response.Headers.TryGetValues("Link", out var values) ? values.First() : null;
        return new RequestPage(items, link is null ? null : link.Split('<', '>')[1]);
    }

    /// <summary>PUT /requests/{id}: Completed, Canceled or Abandoned.</summary>
    public Task<RequestDto> SetStatusAsync(Guid id, WireRequestStatus status, CancellationToken ct = default) =>
        SendAsync<SetStatusBody, RequestDto>(HttpMethod.Put, $"/requests/{id:D}", new SetStatusBody(status), ct);

    public Task<RequestDto> VoteAsync(Guid id, ApprovalDecision decision, string comment, CancellationToken ct = default) =>
        SendAsync<ApprovalBody, RequestDto>(HttpMethod.Post, $"/requests/{id:D}/approvals", new ApprovalBody(decision, comment), ct);

    public async Task<IReadOnlyList<GenerationOptionsDto>> GenerationOptionsAsync(Guid id, CancellationToken ct = default) =>
        await GetAsync<List<GenerationOptionsDto>>($"/requests/{id:D}/certificaterequestgenerationoptions", ct).ConfigureAwait(false);

    public async Task<IReadOnlyList<CertificateDto>> SubmitCertificateDataAsync(Guid id, CertificateDataBody body, CancellationToken ct = default) =>
        await SendAsync<CertificateDataBody, List<CertificateDto>>(HttpMethod.Post, $"/requests/{id:D}/certificatedata", body, ct).ConfigureAwait(false);

    /// <summary>GET /profiles (get-profile-data): the caller's software profiles, every status.</summary>
    public async Task<IReadOnlyList<ProfileDto>> ProfilesAsync(CancellationToken ct = default) =>
        await GetAsync<List<ProfileDto>>("/profiles", ct).ConfigureAwait(false);

    public Task<ProfileDto> GetProfileAsync(Guid id, CancellationToken ct = default) => GetAsync<ProfileDto>($"/profiles/{id:D}", ct);

    /// <summary>GET /profiles/{id}/certificates: every certificate of the profile, revoked and superseded ones included.</summary>
    public async Task<IReadOnlyList<ProfileCertificateDto>> ProfileCertificatesAsync(Guid id, CancellationToken ct = default) =>
        await GetAsync<List<ProfileCertificateDto>>($"/profiles/{id:D}/certificates", ct).ConfigureAwait(false);

    /// <summary>GET /certificates (get-user-certificates): the caller's current certificates.</summary>
    public async Task<IReadOnlyList<UserCertificateDto>> UserCertificatesAsync(CancellationToken ct = default) =>
        await GetAsync<List<UserCertificateDto>>("/certificates", ct).ConfigureAwait(false);

    /// <summary>GET /profiletemplates/{id}/policies/{type} (get-workflow-policy): what a request of that type needs.</summary>
    public Task<WorkflowPolicyDto> WorkflowPolicyAsync(Guid template, WireRequestType type, CancellationToken ct = default) =>
        GetAsync<WorkflowPolicyDto>($"/profiletemplates/{template:D}/policies/{type}", ct);

    /// <summary>GET /profiletemplates/{id}/configuration/smartcards (walkthrough step 12).</summary>
    public Task<SmartcardConfigurationDto> SmartcardPolicyAsync(Guid template, CancellationToken ct = default) =>
        GetAsync<SmartcardConfigurationDto>($"/profiletemplates/{template:D}/configuration/smartcards", ct);

    /// <summary>POST /smartcards (walkthrough steps 14-15): binds the card to the request; the card record's id.</summary>
    public async Task<Guid> AssignSmartcardAsync(Guid request, string cardId, string atr, CancellationToken ct = default)
    {
        var relative = await SendAsync<AssignSmartcardBody, string>(HttpMethod.Post, "/smartcards", new AssignSmartcardBody(request, cardId, atr), ct).ConfigureAwait(false);
        return Guid.TryParse(relative.Split('/')[^1], out var id) ? id : throw new OpenCmApiException($"The server answered the new card as '{relative}', which names no card.");
    }

    public Task<SmartcardDto> GetSmartcardAsync(Guid id, CancellationToken ct = default) => GetAsync<SmartcardDto>($"/smartcards/{id:D}", ct);

    /// <summary>GET /smartcards?cardid=: the record of a physical card.</summary>
    public Task<SmartcardDto> FindSmartcardAsync(string cardId, CancellationToken ct = default) => GetAsync<SmartcardDto>("/smartcards" + Query(("cardid", cardId)), ct);

    public async Task<IReadOnlyList<SmartcardDto>> SmartcardsAsync(CancellationToken ct = default) =>
        await GetAsync<List<SmartcardDto>>("/smartcards", ct).ConfigureAwait(false);

    /// <summary>GET /smartcards?user= (an OpenCM extension): the cards of the user named by name or uuid; a manager's question (or the caller's own).</summary>
    public async Task<IReadOnlyList<SmartcardDto>> SmartcardsOfAsync(string user, CancellationToken ct = default) =>
        await GetAsync<List<SmartcardDto>>("/smartcards" + Query(("user", user)), ct).ConfigureAwait(false);

    public Task<IReadOnlyList<string>> SmartcardOperationsAsync(Guid id, CancellationToken ct = default) =>
        GetAsync<IReadOnlyList<string>>($"/smartcards/{id:D}/operations", ct);

    public async Task<IReadOnlyList<ProfileCertificateDto>> SmartcardCertificatesAsync(Guid id, CancellationToken ct = default) =>
        await GetAsync<List<ProfileCertificateDto>>($"/smartcards/{id:D}/certificates", ct).ConfigureAwait(false);

    /// <summary>GET …/diversifiedkey (walkthrough step 18): the card's own admin key.</summary>
    public async Task<byte[]> DiversifiedKeyAsync(Guid request, Guid card, string cardId, CancellationToken ct = default) =>
        Convert.FromBase64String(await GetAsync<string>($"/requests/{request:D}/smartcards/{card:D}/diversifiedkey" + Query(("cardid", cardId)), ct).ConfigureAwait(false));

    /// <summary>GET …/authenticationresponse (walkthrough steps 19, 22): the answer to the card's admin challenge.</summary>
    public async Task<byte[]> AuthenticationResponseAsync(Guid request, Guid card, string cardId, byte[] challenge, bool diversified, CancellationToken ct = default) =>
        Convert.FromBase64String(await GetAsync<string>($"/requests/{request:D}/smartcards/{card:D}/authenticationresponse"
            + Query(("cardid", cardId), ("challenge", Convert.ToBase64String(challenge)), ("diversified", diversified ? "true" : "false")), ct).ConfigureAwait(false));

    /// <summary>
    /// POST /smartcards/{id}/offlineunblock (OpenCM extension): a help desk's offline unblock in one
    /// call, the server's own use case (an OfflineUnblock request filed, the challenge answered, the
    /// request completed). The completed request's id and the response the user types in.
    /// </summary>
    public async Task<(Guid Request, byte[] Response)> OfflineUnblockAsync(Guid card, byte[] challenge, CancellationToken ct = default)
    {
        var answer = await SendAsync<OfflineUnblockBody, OfflineUnblockDto>(HttpMethod.Post, $"/smartcards/{card:D}/offlineunblock",
            new OfflineUnblockBody(Convert.ToBase64String(challenge)), ct).ConfigureAwait(false);
        return (answer.RequestUuid, Convert.FromBase64String(answer.Response));
    }

    /// <summary>GET …/serverproposedpin: the PIN the server proposes for the card, once per execution.</summary>
    public Task<string> ProposedPinAsync(Guid request, Guid card, CancellationToken ct = default) =>
        GetAsync<string>($"/requests/{request:D}/smartcards/{card:D}/serverproposedpin", ct);

    /// <summary>PUT /requests/{rid}/smartcards/{id} (update-smartcard-status).</summary>
    public Task<SmartcardDto> SetSmartcardStatusAsync(Guid request, Guid card, WireSmartcardStatus status, CancellationToken ct = default) =>
        SendAsync<SetCardStatusBody, SmartcardDto>(HttpMethod.Put, $"/requests/{request:D}/smartcards/{card:D}", new SetCardStatusBody(status), ct);

    public void Dispose()
    {
        if (_ownsHttp)
        {
            _http.Dispose();
        }
    }

    private async Task<T> GetAsync<T>(string path, CancellationToken ct)
    {
        using var response = await _http.GetAsync(new Uri(_api + path, UriKind.RelativeOrAbsolute), ct).ConfigureAwait(false);
        return await ReadAsync<T>(response, ct).ConfigureAwait(false);
    }

    private async Task<TResponse> SendAsync<TBody, TResponse>(HttpMethod method, string path, TBody body, CancellationToken ct)
    {
        using var content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(body, WireJson.TypeInfo<TBody>()));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var message = new HttpRequestMessage(method, new Uri(_api + path, UriKind.RelativeOrAbsolute)) { Content = content };
        using var response = await _http.SendAsync(message, ct).ConfigureAwait(false);
        return await ReadAsync<TResponse>(response, ct).ConfigureAwait(false);
    }

    private static async Task<T> ReadAsync<T>(HttpResponseMessage response, CancellationToken ct)
    {
        var bytes = await response.Content.ReadAsByteArrayAsync(ct).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw Problem((int)response.StatusCode, bytes);
        }

        try
        {
            return JsonSerializer.Deserialize(bytes, WireJson.TypeInfo<T>()) ?? throw new OpenCmApiException($"The server answered {(int)response.StatusCode} with an empty body.");
        }
        catch (JsonException ex)
        {
            throw new OpenCmApiException($"The server answered {(int)response.StatusCode} with a body that is not a {typeof(T).Name}.", ex);
        }
    }

    // The problem body, read by the generated serializer; an answer that is not one still reports the status.
    private static OpenCmApiException Problem(int status, byte[] body)
    {
        try
        {
            var problem = JsonSerializer.Deserialize(body, WireJson.TypeInfo<ProblemDto>());
            return new OpenCmApiException(status, problem is { ErrorCode: not null } ? problem : null);
        }
        catch (JsonException)
        {
            return new OpenCmApiException(status, null);
        }
    }

    private static string Query(params (string Name, string? Value)[] pairs)
    {
        var parts = pairs.Where(p => p.Value is not null).Select(p => $"{p.Name}={Uri.EscapeDataString(p.Value!)}").ToList();
        return parts.Count == 0 ? "" : "?" + string.Join('&', parts);
    }
}
