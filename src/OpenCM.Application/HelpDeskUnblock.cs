using OpenCM.Domain;

namespace OpenCM.Application;

/// <summary>
/// The help desk's offline unblock (issue #8), the one use case behind the portal's help desk and
/// <c>opencm card unblock</c> (through POST /smartcards/{id}/offlineunblock): each step is the one
/// the API takes, with its rights and audit.
/// </summary>
public sealed class HelpDeskUnblock
{
    private readonly ISmartcardStore _cards;
    private readonly ITemplateStore _templates;
    private readonly AccessPolicy _access;
    private readonly SmartcardSecrets _secrets;
    private readonly RequestCreation _creation;
    private readonly RequestTransitions _transitions;

    public HelpDeskUnblock(ISmartcardStore cards, ITemplateStore templates, AccessPolicy access, SmartcardSecrets secrets, RequestCreation creation, RequestTransitions transitions)
    {
        _cards = cards;
        _templates = templates;
        _access = access;
        _secrets = secrets;
        _creation = creation;
        _transitions = transitions;
    }

    /// <summary>
    /// A help desk's offline unblock in one step (issue #8, the portal's help desk): an
    /// OfflineUnblock request on the card, the challenge the user read out answered under the
    /// card's admin key (diversified when its policy says so), and the request completed; each
    /// step the one the API takes, with its rights and audit. The request and the response.
    /// </summary>
    public async Task<(CmRequest Request, byte[] Response)> AnswerOfflineUnblockAsync(Caller caller, Guid cardUuid, byte[] challenge, string correlationId, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(caller);

        // A challenge the card cannot have made is refused before anything is filed.
        SmartcardRules.CheckChallenge(challenge);
        var card = await _cards.FindAsync(cardUuid, ct).ConfigureAwait(false);
        if (card is null || !await _access.MayReadCardAsync(card, caller, ct).ConfigureAwait(false))
        {
            throw new OpenCmException(DomainError.Validation("card", $"No smart card with id {cardUuid:D} exists."));
        }

        var request = await _creation.CreateAsync(caller, new CreateRequestInput(RequestType.OfflineUnblock, null, [], null, "", null, card.Uuid, null), correlationId, ct)
            .ConfigureAwait(false);
        var diversified = (await _templates.FindAsync(card.TemplateUuid, ct).ConfigureAwait(false))?.CardPolicy?.DiversifyAdminKey ?? true;
        var response = await _secrets.AuthenticationResponseAsync(caller, request.Uuid, card.Uuid, card.CardId, challenge, diversified, correlationId, ct).ConfigureAwait(false);
        var completed = await _transitions.SetStatusAsync(caller, request.Uuid, RequestStatus.Completed, null, correlationId, ct).ConfigureAwait(false);
        return (completed, response);
    }
}
