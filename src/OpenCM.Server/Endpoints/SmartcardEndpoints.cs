using OpenCM.Application;
using OpenCM.Contracts;
using OpenCM.Domain;
using OpenCM.Server.Wire;

namespace OpenCM.Server.Endpoints;

/// <summary>Smart cards (SPEC §1, issue #8).</summary>
internal static class SmartcardEndpoints
{
    public static RouteGroupBuilder MapSmartcardEndpoints(this RouteGroupBuilder api)
    {
        api.MapPost("/smartcards", AssignAsync).Takes<AssignSmartcardBody>().Returns<string>(StatusCodes.Status201Created).AnswersProblems(StatusCodes.Status429TooManyRequests);
        api.MapGet("/smartcards", ListAsync).Returns<List<SmartcardDto>>();
        api.MapGet("/smartcards/{id}", GetAsync).Returns<SmartcardDto>();
        api.MapGet("/smartcards/{id}/operations", async (HttpContext http, string id, SmartcardQueries cards) =>
            EndpointContext.Json(ProfileDto.Operations(await cards.OperationsAsync(http.Caller(), EndpointContext.RouteGuid(id, "id"), http.RequestAborted)))).Returns<IReadOnlyList<string>>();
        api.MapGet("/smartcards/{id}/certificates", async (HttpContext http, string id, ProfileService profiles) =>
            EndpointContext.Json((await profiles.CardCertificatesAsync(http.Caller(), EndpointContext.RouteGuid(id, "id"), http.RequestAborted)).Select(ProfileCertificateDto.From).ToList()))
            .Returns<List<ProfileCertificateDto>>();
        api.MapPut("/requests/{rid}/smartcards/{id}", SetStatusAsync).Takes<SetCardStatusBody>().Returns<SmartcardDto>();
        api.MapGet("/requests/{rid}/smartcards/{id}/diversifiedkey", DiversifiedKeyAsync).Returns<string>();
        api.MapGet("/requests/{rid}/smartcards/{id}/authenticationresponse", AuthenticationResponseAsync).Returns<string>();
        api.MapGet("/smartcards/{id}/serverproposedpin", (HttpContext http, string id, SmartcardSecrets cards) => ProposePinAsync(http, null, id, cards)).Returns<string>();
        api.MapGet("/requests/{rid}/smartcards/{id}/serverproposedpin", (HttpContext http, string rid, string id, SmartcardSecrets cards) => ProposePinAsync(http, rid, id, cards)).Returns<string>();
        api.MapPost("/smartcards/{id}/offlineunblock", OfflineUnblockAsync).Takes<OfflineUnblockBody>().Returns<OfflineUnblockDto>();
        return api;
    }

    // update-smartcard-status: the card's part of the request is done; the request executes and completes.
    private static async Task<IResult> SetStatusAsync(HttpContext http, string rid, string id, SmartcardBinding cards)
    {
        var requestId = EndpointContext.RouteGuid(rid, "rid");
        var cardId = EndpointContext.RouteGuid(id, "id");
        var body = await WireBody.ReadAsync<SetCardStatusBody>(http.Request, http.RequestAborted);
        var target = body.Status?.ToDomain() ?? throw new OpenCmException(DomainError.Validation("status", "'status' is required, e.g. \"Retired\"."));
        var (card, template) = await cards.SetStatusAsync(http.Caller(), requestId, cardId, target, http.CorrelationId(), http.RequestAborted);
        return EndpointContext.Json(SmartcardDto.From(card, template));
    }

    // SPEC §8: a server-generated PIN, once per execution, as a JSON string; never logged.
    private static async Task<IResult> ProposePinAsync(HttpContext http, string? rid, string id, SmartcardSecrets cards)
    {
        var requestId = rid is null ? (Guid?)null : EndpointContext.RouteGuid(rid, "rid");
        var pin = await cards.ProposePinAsync(http.Caller(), EndpointContext.RouteGuid(id, "id"), requestId, http.CorrelationId(), http.RequestAborted);
        return EndpointContext.Json(pin);
    }

    // Walkthrough step 18: the card's diversified admin key, base64 as a JSON string.
    private static async Task<IResult> DiversifiedKeyAsync(HttpContext http, string rid, string id, SmartcardSecrets cards)
    {
        var key = await cards.DiversifiedKeyAsync(http.Caller(), EndpointContext.RouteGuid(rid, "rid"), EndpointContext.RouteGuid(id, "id"),
            http.Request.Query["cardid"].ToString(), http.CorrelationId(), http.RequestAborted);
        return EndpointContext.Json(Convert.ToBase64String(key));
    }

    // Walkthrough step 19: the response to the card's admin challenge, base64 as a JSON string.
    private static async Task<IResult> AuthenticationResponseAsync(HttpContext http, string rid, string id, SmartcardSecrets cards)
    {
        var q = http.Request.Query;
        var challenge = Challenge(q["challenge"].ToString());

        var diversified = q["diversified"].ToString() switch
        {
            var d when d.Equals("true", StringComparison.OrdinalIgnoreCase) => true,
            var d when d.Equals("false", StringComparison.OrdinalIgnoreCase) => false,
            _ => throw new OpenCmException(DomainError.Validation("diversified", "'diversified' is true or false.")),
        };
        var response = await cards.AuthenticationResponseAsync(http.Caller(), EndpointContext.RouteGuid(rid, "rid"), EndpointContext.RouteGuid(id, "id"),
            http.Request.Query["cardid"].ToString(), challenge, diversified, http.CorrelationId(), http.RequestAborted);
        return EndpointContext.Json(Convert.ToBase64String(response));
    }

    // Walkthrough step 16.
    private static async Task<IResult> GetAsync(HttpContext http, string id, SmartcardQueries cards)
    {
        var (card, template) = await cards.GetAsync(http.Caller(), EndpointContext.RouteGuid(id, "id"), http.RequestAborted);
        return EndpointContext.Json(SmartcardDto.From(card, template));
    }

    // With ?cardid= the one card for that physical card, as the reference's example answers; with ?user= that user's cards; else the caller's cards.
    private static async Task<IResult> ListAsync(HttpContext http, SmartcardQueries cards)
    {
        if (http.Request.Query.TryGetValue("cardid", out var cardId))
        {
            var (card, template) = await cards.FindByCardIdAsync(http.Caller(), cardId.ToString(), http.RequestAborted);
            return EndpointContext.Json(SmartcardDto.From(card, template));
        }

        // ?user=NAME|UUID (an OpenCM extension, docs/compat.md): that user's cards, for a manager (or the caller themselves).
        if (http.Request.Query.TryGetValue("user", out var user))
        {
            return EndpointContext.Json((await cards.ListForUserAsync(http.Caller(), user.ToString(), http.RequestAborted)).Select(c => SmartcardDto.From(c.Card, c.Template)).ToList());
        }

        return EndpointContext.Json((await cards.ListAsync(http.Caller(), http.RequestAborted)).Select(c => SmartcardDto.From(c.Card, c.Template)).ToList());
    }

    // Walkthrough steps 14-15: the card is bound to the request, which starts executing.
    private static async Task<IResult> AssignAsync(HttpContext http, SmartcardBinding cards)
    {
        var body = await WireBody.ReadAsync<AssignSmartcardBody>(http.Request, http.RequestAborted);
        var requestId = body.RequestId ?? throw new OpenCmException(DomainError.Validation("requestid", "'requestid' is required."));
        var (_, card) = await cards.AssignAsync(http.Caller(), requestId, body.CardId, body.Atr, http.CorrelationId(), http.RequestAborted);

        // As POST /requests: 201, Location, and the relative URI as a JSON string body.
        http.Response.Headers.Location = $"{ApiPaths.Base(http)}/smartcards/{card.Uuid:D}";
        return EndpointContext.Json($"api/v1.0/smartcards/{card.Uuid:D}", StatusCodes.Status201Created);
    }

    // The help desk's offline unblock (OpenCM extension; the portal's help desk calls the same use
    // case): an OfflineUnblock request filed, the challenge answered, the request completed.
    private static async Task<IResult> OfflineUnblockAsync(HttpContext http, string id, HelpDeskUnblock unblock)
    {
        var cardId = EndpointContext.RouteGuid(id, "id");
        var body = await WireBody.ReadAsync<OfflineUnblockBody>(http.Request, http.RequestAborted);
        var challenge = Challenge(body.Challenge);
        var (request, response) = await unblock.AnswerOfflineUnblockAsync(http.Caller(), cardId, challenge, http.CorrelationId(), http.RequestAborted);
        try
        {
            return EndpointContext.Json(new OfflineUnblockDto(request.Uuid, Convert.ToBase64String(response)));
        }
        finally
        {
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(response);
        }
    }

    // A card's admin challenge in base64: 8 to 40 bytes, a multiple of 8 (decision 0013). The
    // buffer is one block longer than the longest, so that any longer input fails here as a 400.
    private static byte[] Challenge(string? base64)
    {
        var buffer = new byte[SmartcardRules.MaxChallengeLength + 8];
        return Convert.TryFromBase64String(base64 ?? "", buffer, out var length)
            ? SmartcardRules.CheckChallenge(buffer[..length])
            : throw new OpenCmException(DomainError.Validation("challenge",
                $"'challenge' is the card's challenge in base64: {SmartcardRules.MinChallengeLength} to {SmartcardRules.MaxChallengeLength} bytes, a multiple of 8."));
    }
}
