using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.WebUtilities;
using OpenCM.Application;
using OpenCM.Contracts;
using OpenCM.Domain;
using OpenCM.Server.Wire;

namespace OpenCM.Server.Endpoints;

/// <summary>Requests and approvals (SPEC §1, §4): create, list, read, set status, approve or deny.</summary>
internal static class RequestEndpoints
{
    public static RouteGroupBuilder MapRequestEndpoints(this RouteGroupBuilder api)
    {
        api.MapPost("/requests", CreateAsync).Takes<CreateRequestBody>().Returns<string>(StatusCodes.Status201Created).AnswersProblems(StatusCodes.Status429TooManyRequests);
        api.MapGet("/requests", ListAsync).Returns<List<RequestDto>>();
        api.MapGet("/requests/{id}", GetAsync).Returns<RequestDto>();
        api.MapPut("/requests/{id}", SetStatusAsync).Takes<SetStatusBody>().Returns<RequestDto>().AnswersProblems(StatusCodes.Status412PreconditionFailed);
        api.MapPost("/requests/{id}/approvals", VoteAsync).Takes<ApprovalBody>().Returns<RequestDto>().AnswersProblems(StatusCodes.Status429TooManyRequests);
        return api;
    }

    private static async Task<IResult> CreateAsync(HttpContext http, RequestCreation requests)
    {
        var body = await WireBody.ReadAsync<CreateRequestBody>(http.Request, http.RequestAborted);
        var input = new CreateRequestInput(
            body.Type?.ToDomain() ?? throw new OpenCmException(DomainError.Validation("type", "'type' is required.")),
            body.ProfileTemplateUuid,
            body.DataCollection?.ToDomain() ?? [],
            body.Target,
            body.Comment,
            body.Priority,
            body.Smartcard,
            body.Profile);
        var created = await requests.CreateAsync(http.Caller(), input, http.CorrelationId(), http.RequestAborted);

        // SPEC §2: 201, Location, and the relative URI as a JSON string body.
        var relative = $"api/v1.0/requests/{created.Uuid:D}";
        http.Response.Headers.Location = $"{ApiPaths.Base(http)}/requests/{created.Uuid:D}";
        http.Response.Headers.ETag = ETag(created.Version);
        return EndpointContext.Json(relative, StatusCodes.Status201Created);
    }

    private static async Task<IResult> GetAsync(HttpContext http, string id, RequestQueries requests)
    {
        var (request, _) = await requests.GetAsync(http.Caller(), EndpointContext.RouteGuid(id, "id"), http.RequestAborted);
        http.Response.Headers.ETag = ETag(request.Version);
        return EndpointContext.Json(RequestDto.From(request));
    }

    private static async Task<IResult> SetStatusAsync(HttpContext http, string id, RequestTransitions requests)
    {
        var requestId = EndpointContext.RouteGuid(id, "id");
        var body = await WireBody.ReadAsync<SetStatusBody>(http.Request, http.RequestAborted);
        var status = body.Status?.ToDomain() ?? throw new OpenCmException(DomainError.Validation("status", "'status' is required."));
        var updated = await requests.SetStatusAsync(http.Caller(), requestId, status, IfMatch(http), http.CorrelationId(), http.RequestAborted);
        http.Response.Headers.ETag = ETag(updated.Version);
        return EndpointContext.Json(RequestDto.From(updated));
    }

    private static async Task<IResult> VoteAsync(HttpContext http, string id, RequestTransitions requests)
    {
        var requestId = EndpointContext.RouteGuid(id, "id");
        var body = await WireBody.ReadAsync<ApprovalBody>(http.Request, http.RequestAborted);
        var decision = body.Decision ?? throw new OpenCmException(DomainError.Validation("decision", "'decision' must be Approve or Deny."));
        var updated = await requests.VoteAsync(http.Caller(), requestId, decision == ApprovalDecision.Approve, body.Comment ?? "", http.CorrelationId(), http.RequestAborted);
        http.Response.Headers.ETag = ETag(updated.Version);
        return EndpointContext.Json(RequestDto.From(updated));
    }

    private static async Task<IResult> ListAsync(HttpContext http, RequestQueries requests, OpenCmOptions options)
    {
        // 1. Filters: status by name or number; targetuser only "current" (as the reference supports).
        var q = http.Request.Query;
        RequestStatus? status = null;
        if (!string.IsNullOrEmpty(q["status"]))
        {
            status = EnumNames.TryParse<RequestStatus>(q["status"], out var s)
                ? s
                : throw new OpenCmException(DomainError.Validation("status", $"'{q["status"]}' is not a request status."));
        }

        var targetUser = q["targetuser"].ToString();
        if (targetUser.Length > 0 && !targetUser.Equals("current", StringComparison.OrdinalIgnoreCase))
        {
            throw new OpenCmException(DomainError.Validation("targetuser", "Only targetuser=current is supported."));
        }

        // 2. Paging (OpenCM extension): top (at most OpenCM:MaxPageSize) and an opaque skiptoken.
        int? top = null;
        if (!string.IsNullOrEmpty(q["top"]))
        {
            top = int.TryParse(q["top"], NumberStyles.None, CultureInfo.InvariantCulture, out var t)
                ? t
                : throw new OpenCmException(DomainError.Validation("top", "'top' must be a positive integer."));
        }

        var rows = requests.CheckTop(top);
        var after = SkipToken.Parse(q["skiptoken"]);

        // 3. The page: up to `rows` items and OpenCM:MaxPageBytes of JSON, whichever comes first
        //    (issue #18.1). Stopped early, the next link resumes right after the last item sent.
        var page = new JsonPage<RequestDto>(WireJson.TypeInfo<RequestDto>(), options.MaxPageBytes > 0 ? options.MaxPageBytes : OpenCmOptions.DefaultMaxPageBytes);
        long? next = null;
        try
        {
            var last = after;
            await foreach (var listed in requests.ReadAsync(http.Caller(), new RequestListFilter(status, targetUser.Length > 0 ? http.Caller().UserUuid : null, after, rows), http.RequestAborted))
            {
                if (page.Count == rows || !page.TryAdd(RequestDto.From(listed.Request)))
                {
                    next = last;
                    break;
                }

                last = listed.Position;
            }
        }
        catch
        {
            page.Dispose();
            throw;
        }

        // 4. A next link when more may follow.
        if (next is { } position)
        {
            var query = new Dictionary<string, string?> { ["skiptoken"] = SkipToken.Format(position) };
            if (top is not null)
            {
                query["top"] = top.Value.ToString(CultureInfo.InvariantCulture);
            }

            if (status is not null)
            {
                query["status"] = status.Value.ToString();
            }

            if (targetUser.Length > 0)
            {
                query["targetuser"] = "current";
            }

            http.Response.Headers.Link = $"<{QueryHelpers.AddQueryString(http.Request.PathBase + http.Request.Path, query)}>; rel=\"next\"";
        }

        return page.ToResult();
    }

    private static string ETag(long version) => $"\"{version.ToString(CultureInfo.InvariantCulture)}\"";

    /// <summary>The versions If-Match accepts; null when absent or "*". A tag that is no version matches nothing.</summary>
    private static long[]? IfMatch(HttpContext http)
    {
        var header = http.Request.Headers.IfMatch.ToString();
        if (string.IsNullOrWhiteSpace(header))
        {
            return null;
        }

        var tags = header.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (tags.Contains("*"))
        {
            return null;
        }

        return [.. tags.Select(t => t.StartsWith("W/", StringComparison.Ordinal) ? t[2..] : t)
            .Select(t => long.TryParse(t.Trim('"'), NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : -1)];
    }
}

/// <summary>The opaque paging token: the position after which the next page starts.</summary>
internal static class SkipToken
{
    public static string Format(long after) => WebEncoders.Base64UrlEncode(Encoding.ASCII.GetBytes("r:" + after.ToString(CultureInfo.InvariantCulture)));

    public static long Parse(string? token)
    {
        if (string.IsNullOrEmpty(token))
        {
            return 0;
        }

        try
        {
            var text = Encoding.ASCII.GetString(WebEncoders.Base64UrlDecode(token));
            if (text.StartsWith("r:", StringComparison.Ordinal) && long.TryParse(text.AsSpan(2), NumberStyles.None, CultureInfo.InvariantCulture, out var after))
            {
                return after;
            }
        }
        catch (FormatException)
        {
            // Falls through to the validation error below.
        }

        throw new OpenCmException(DomainError.Validation("skiptoken", "'skiptoken' is not a token this server issued."));
    }
}
