using OpenCM.Domain;

namespace OpenCM.Application;

/// <summary>Smart card use cases (issue #8; SPEC §3, §8): binding a card to a request, and reading cards.</summary>
public sealed class SmartcardService
{
    private readonly RequestQueries _requests;
    private readonly RequestContextLoader _contexts;
    private readonly ISmartcardStore _cards;
    private readonly ITemplateStore _templates;
    private readonly ITransactions _transactions;
    private readonly AccessPolicy _access;
    private readonly ISmartcardKeys _keys;
    private readonly IProfileStore _profiles;
    private readonly ServerExecution _server;
    private readonly RequestCreation _creation;
    private readonly RequestTransitions _transitions;
    private readonly TimeProvider _clock;

    public SmartcardService(
        RequestQueries requests, RequestContextLoader contexts, ISmartcardStore cards, ITemplateStore templates, ITransactions transactions, AccessPolicy access, ISmartcardKeys keys,
        IProfileStore profiles, ServerExecution server, RequestCreation creation, RequestTransitions transitions, TimeProvider clock)
    {
        _creation = creation;
        _transitions = transitions;
        _requests = requests;
        _contexts = contexts;
        _cards = cards;
        _templates = templates;
        _transactions = transactions;
        _access = access;
        _keys = keys;
        _profiles = profiles;
        _server = server;
        _clock = clock;
    }

    /// <summary>
    /// GET /requests/{rid}/smartcards/{id}/diversifiedkey (walkthrough step 18): the card's own
    /// admin key, only when the policy diversifies, only to whoever may execute the request, only
    /// while it executes with this card. Audited without the key.
    /// </summary>
    public async Task<byte[]> DiversifiedKeyAsync(Caller caller, Guid requestId, Guid cardUuid, string cardId, string correlationId, CancellationToken ct = default)
    {
        var (request, card, policy, _) = await ExecutingCardAsync(caller, requestId, cardUuid, cardId, CardCall.DiversifiedKey, ct).ConfigureAwait(false);
        if (!policy.DiversifyAdminKey)
        {
            throw new OpenCmException(new DomainError(ErrorKind.Conflict, "This template's cards keep the default admin key; there is no diversified key.", "smartcard"));
        }

        var key = await _keys.DiversifiedKeyAsync(policy.AdminKeyDiversificationAlgorithm, card.CardId, ct).ConfigureAwait(false);
        await AuditAsync(caller, request, card, "AdminKeyIssued", "diversified admin key handed out", correlationId).ConfigureAwait(false);
        return key;
    }

    /// <summary>
    /// GET /requests/{rid}/smartcards/{id}/authenticationresponse (walkthrough step 19): the
    /// response to the card's 8-byte admin challenge under the policy's default admin key or the
    /// card's diversified one. The same rules as the diversified key; audited without keys.
    /// </summary>
    public async Task<byte[]> AuthenticationResponseAsync(Caller caller, Guid requestId, Guid cardUuid, string cardId, byte[] challenge, bool diversified, string correlationId, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(challenge);
        if (challenge.Length != 8)
        {
            throw new OpenCmException(DomainError.Validation("challenge", "The challenge is the card's 8 bytes, base64-encoded."));
        }

        var (request, card, policy, begin) = await ExecutingCardAsync(caller, requestId, cardUuid, cardId, CardCall.Challenge, ct).ConfigureAwait(false);
        if (diversified && !policy.DiversifyAdminKey)
        {
            throw new OpenCmException(new DomainError(ErrorKind.Conflict, "This template's cards keep the default admin key; ask with diversified=false.", "diversified"));
        }

        var key = diversified
            ? await _keys.DiversifiedKeyAsync(policy.AdminKeyDiversificationAlgorithm, card.CardId, ct).ConfigureAwait(false)
            : Convert.FromHexString(policy.DefaultAdminKeyHex);
        try
        {
            var response = _keys.Respond(key, challenge);
            var what = diversified ? "challenge answered with the diversified key" : "challenge answered with the default key";
            if (begin is null)
            {
                await AuditAsync(caller, request, card, "AdminChallengeAnswered", what, correlationId).ConfigureAwait(false);
                return response;
            }

            // The first answer is an Unblock's execution (walkthrough step 19): the request moves
            // Approved → Executing with both events, in one unit of work, once every check above
            // has passed; losing the race hands nothing out.
            var now = _clock.GetUtcNow();
            var started = await _transactions.TryRunAsync(async (uow, c) =>
            {
                var applied = await TransitionWriter.TryApplyAsync(uow, new RequestTransition(request.Uuid, request.Version, begin.From, begin.To), [],
                    new AuditEvent("StatusChanged", request.Uuid, caller.UserUuid, begin.From, begin.To, now, correlationId, $"unblocking card {card.Uuid:D}"), c).ConfigureAwait(false);
                if (applied is null)
                {
                    return null;
                }

                await uow.Audit.AppendAsync(new AuditEvent("AdminChallengeAnswered", request.Uuid, caller.UserUuid, begin.To, begin.To, now, correlationId,
                    $"{what}; card={card.Uuid:D}"), c).ConfigureAwait(false);
                return applied;
            }, ct).ConfigureAwait(false);
            return started is not null
                ? response
                : throw new OpenCmException(new DomainError(ErrorKind.Conflict, "The request changed while the card's challenge was answered; read it again.", "smartcard"));
        }
        finally
        {
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <summary>
    /// GET /smartcards/{id}/serverproposedpin (SPEC §8): a PIN for the card's user, only when the
    /// template's policy says the server proposes it, to whoever executes the request that binds
    /// the card, once per execution. Never logged; audited as handed out, without the PIN.
    /// </summary>
    public async Task<string> ProposePinAsync(Caller caller, Guid cardUuid, Guid? requestId, string correlationId, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(caller);

        // 1. The card, and the request that binds it (named, or the card's own).
        var stored = await _cards.FindAsync(cardUuid, ct).ConfigureAwait(false);
        var rid = requestId ?? stored?.RequestUuid ?? Guid.Empty;
        if (stored is null)
        {
            throw new OpenCmException(DomainError.NotFound($"No smart card with id {cardUuid:D} is bound to this request."));
        }

        var (request, card, policy, _) = await ExecutingCardAsync(caller, rid, cardUuid, stored.CardId, CardCall.ProposedPin, ct).ConfigureAwait(false);
        if (policy.UserPinOption != UserPinOption.ServerProposed)
        {
            throw new OpenCmException(new DomainError(ErrorKind.Conflict, "This template's cards take a PIN their user chooses; the server proposes none.", "smartcard"));
        }

        // 2. Once per execution: the first caller marks the card, a second one is refused.
        var pin = _keys.ProposePin(Math.Max(policy.MinimumPinLength, Math.Min(8, policy.MaximumPinLength)));
        var first = await _transactions.RunAsync(async (uow, c) =>
        {
            if (!await uow.Cards.TryMarkPinProposedAsync(card.Uuid, request.Uuid, c).ConfigureAwait(false))
            {
                return false;
            }

            await uow.Audit.AppendAsync(new AuditEvent("PinProposed", request.Uuid, caller.UserUuid, request.Status, request.Status, _clock.GetUtcNow(), correlationId,
                $"server-proposed PIN handed out; card={card.Uuid:D}"), c).ConfigureAwait(false);
            return true;
        }, ct).ConfigureAwait(false);
        return first
            ? pin
            : throw new OpenCmException(new DomainError(ErrorKind.Conflict, "The PIN for this card was already handed out in this execution.", "smartcard"));
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
        var card = await _cards.FindAsync(cardUuid, ct).ConfigureAwait(false);
        if (card is null || !await _access.MayReadCardAsync(card, caller, ct).ConfigureAwait(false))
        {
            throw new OpenCmException(DomainError.Validation("card", $"No smart card with id {cardUuid:D} exists."));
        }

        var request = await _creation.CreateAsync(caller, new CreateRequestInput(RequestType.OfflineUnblock, null, [], null, "", null, card.Uuid, null), correlationId, ct)
            .ConfigureAwait(false);
        var diversified = (await _templates.FindAsync(card.TemplateUuid, ct).ConfigureAwait(false))?.CardPolicy?.DiversifyAdminKey ?? true;
        var response = await AuthenticationResponseAsync(caller, request.Uuid, card.Uuid, card.CardId, challenge, diversified, correlationId, ct).ConfigureAwait(false);
        var completed = await _transitions.SetStatusAsync(caller, request.Uuid, RequestStatus.Completed, null, correlationId, ct).ConfigureAwait(false);
        return (completed, response);
    }

    // The card calls of an execution: two read-only GETs of a card secret, and the admin
    // challenge answered, which is the one call that starts an execution (an Unblock's).
    private enum CardCall
    {
        DiversifiedKey,
        ProposedPin,
        Challenge,
    }

    // The request executes with this card (bound to it, or named in place by an Unblock), the
    // caller may execute it, and the card id is the card's. Nothing is written here: the
    // challenge of an approved Unblock returns the move that starts it (walkthrough step 19),
    // for the caller to write with its answer; a GET of a card secret never starts anything.
    private async Task<(CmRequest Request, StoredSmartcard Card, SmartcardConfiguration Policy, Decision.Move? Begin)> ExecutingCardAsync(
        Caller caller, Guid requestId, Guid cardUuid, string cardId, CardCall call, CancellationToken ct)
    {
        var (context, rights, working) = await _contexts.LoadAsync(caller, requestId, ContextParts.Template | ContextParts.WorkingCard, ct).ConfigureAwait(false);
        var request = context.Request;
        if (!rights.Has(RequestPermission.Execute))
        {
            throw new OpenCmException(DomainError.Forbidden("Card keys are handed out only to whoever may execute the request."));
        }

        var card = working?.Uuid == cardUuid ? working : null;
        if (card is null)
        {
            throw new OpenCmException(DomainError.NotFound($"No smart card with id {cardUuid:D} is bound to this request."));
        }

        var inPlace = request.NewSmartcardUuid != cardUuid;
        if (inPlace && !context.Kind.AnswersCardChallenge)
        {
            throw new OpenCmException(new DomainError(ErrorKind.Conflict, $"A {request.RequestType} request hands out no card keys.", "smartcard"));
        }

        if (inPlace && call == CardCall.DiversifiedKey)
        {
            throw new OpenCmException(new DomainError(ErrorKind.Conflict, "The card already carries its own admin key; only a card being personalized is given one.", "smartcard"));
        }

        if (SmartcardRules.CanonicalCardId(cardId) != card.CardId)
        {
            throw new OpenCmException(new DomainError(ErrorKind.Conflict, "The cardid is not the card bound to this request.", "cardid"));
        }

        Decision.Move? begin = null;
        if (inPlace && call == CardCall.Challenge && request.Status == RequestStatus.Approved)
        {
            // Unblock, OfflineUnblock: work on a card in use, started by its first challenge (SPEC §4, first execution step).
            if (SmartcardLifecycle.Decide(card.Status, new CardCommand.Service(request.RequestType)) is CardDecision.Refused refused)
            {
                throw new OpenCmException(refused.Error);
            }

            switch (RequestLifecycle.Decide(context, new LifecycleCommand.BeginExecution(), rights, _clock.GetUtcNow()).Decision)
            {
                case Decision.Refused r:
                    throw new OpenCmException(r.Error);
                case Decision.Move m:
                    begin = m;
                    break;
            }
        }
        else if (request.Status != RequestStatus.Executing || card.Status != (inPlace ? SmartcardStatus.Active : SmartcardStatus.Assigned))
        {
            throw new OpenCmException(DomainError.Transition(request.Status, inPlace && request.Status == RequestStatus.Approved
                ? "This request has not started: answering the card's admin challenge (authenticationresponse) starts it."
                : "Card keys are handed out only while the request executes with the card."));
        }

        var policy = context.Template?.CardPolicy ?? SmartcardConfiguration.DefaultFor(isVirtual: false);
        return (request, card, policy, begin);
    }

    // Who received what for which card; never the key itself (SPEC §8, issue #8).
    private Task<int> AuditAsync(Caller caller, CmRequest request, StoredSmartcard card, string kind, string what, string correlationId) =>
        _transactions.RunAsync(async (uow, c) =>
        {
            await uow.Audit.AppendAsync(new AuditEvent(kind, request.Uuid, caller.UserUuid, request.Status, request.Status, _clock.GetUtcNow(), correlationId,
                $"{what}; card={card.Uuid:D}"), c).ConfigureAwait(false);
            return 0;
        }, CancellationToken.None);

    /// <summary>GET /smartcards/{id}: a card the caller may read; NotFound to anyone else (walkthrough step 16).</summary>
    public async Task<(StoredSmartcard Card, ProfileTemplate? Template)> GetAsync(Caller caller, Guid id, CancellationToken ct = default) =>
        await VisibleAsync(caller, await _cards.FindAsync(id, ct).ConfigureAwait(false), $"No smart card with id {id:D} exists.", ct).ConfigureAwait(false);

    /// <summary>GET /smartcards?cardid=: the unretired card record of a physical card, if the caller may read it.</summary>
    public async Task<(StoredSmartcard Card, ProfileTemplate? Template)> FindByCardIdAsync(Caller caller, string cardId, CancellationToken ct = default) =>
        await VisibleAsync(caller, await _cards.FindByCardIdAsync(SmartcardRules.CanonicalCardId(cardId), ct).ConfigureAwait(false),
            "No smart card with that card id exists.", ct).ConfigureAwait(false);

    /// <summary>GET /smartcards: the caller's cards.</summary>
    public async Task<IReadOnlyList<(StoredSmartcard Card, ProfileTemplate? Template)>> ListAsync(Caller caller, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(caller);
        var cards = new List<(StoredSmartcard, ProfileTemplate?)>();
        foreach (var card in await _cards.ForUserAsync(caller.UserUuid, ct).ConfigureAwait(false))
        {
            cards.Add((await WithLiveVersionAsync(card, ct).ConfigureAwait(false), await _templates.FindAsync(card.TemplateUuid, ct).ConfigureAwait(false)));
        }

        return cards;
    }

    private async Task<(StoredSmartcard, ProfileTemplate?)> VisibleAsync(Caller caller, StoredSmartcard? card, string notFound, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(caller);
        if (card is null || !await _access.MayReadCardAsync(card, caller, ct).ConfigureAwait(false))
        {
            throw new OpenCmException(DomainError.NotFound(notFound));
        }

        return (await WithLiveVersionAsync(card, ct).ConfigureAwait(false), await _templates.FindAsync(card.TemplateUuid, ct).ConfigureAwait(false));
    }

    // The template version a card follows is its live profile's (an OnlineUpdate moves it on), else the one it was bound under.
    private async Task<StoredSmartcard> WithLiveVersionAsync(StoredSmartcard card, CancellationToken ct) =>
        CardProfiles.Live(await _profiles.ForSmartcardAsync(card.Uuid, ct).ConfigureAwait(false)) is { } live ? card with { TemplateVersion = live.TemplateVersion } : card;

    /// <summary>
    /// PUT /requests/{rid}/smartcards/{id} (update-smartcard-status): the client of a request on
    /// a card says it has done the card's part (e.g. wiped it for a Retire); the request then
    /// executes and completes, moving the card as its type says, in one unit of work. Asking
    /// again for the status a completed request left the card in is an idempotent success.
    /// </summary>
    public async Task<(StoredSmartcard Card, ProfileTemplate? Template)> SetStatusAsync(
        Caller caller, Guid requestId, Guid cardUuid, SmartcardStatus target, string correlationId, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(caller);

        // 1. The request as the caller may see it, and the card it names.
        var (request, rights) = await _requests.GetAsync(caller, requestId, ct).ConfigureAwait(false);
        var card = request.OldSmartcardUuid == cardUuid && cardUuid != Guid.Empty ? await _cards.FindAsync(cardUuid, ct).ConfigureAwait(false) : null;
        if (card is null)
        {
            throw new OpenCmException(DomainError.NotFound($"No smart card with id {cardUuid:D} is named by this request."));
        }

        if (!rights.Has(RequestPermission.Execute))
        {
            throw new OpenCmException(DomainError.Forbidden("Only whoever may execute the request may change its card."));
        }

        // 2. The request's type must move a card to that status, and this one to exactly it.
        var kind = RequestKinds.Of(request);
        if (kind.CommandFor(target) is null)
        {
            throw new OpenCmException(DomainError.Validation("status", $"A {request.RequestType} request does not move a card to {target}."));
        }

        var template = await _templates.FindAsync(card.TemplateUuid, ct).ConfigureAwait(false);
        if (request.Status == RequestStatus.Completed && card.Status == target)
        {
            return (card, template);
        }

        if (request.Status != RequestStatus.Approved)
        {
            throw new OpenCmException(DomainError.Transition(request.Status, "The card moves when its approved request executes; this one cannot execute now."));
        }

        var plan = kind.CardOnCompletion(card.Uuid, card.Status, ProfileRules.RevocationReason(request.DataCollection));
        if (plan is null || plan.To != target)
        {
            throw new OpenCmException(new DomainError(ErrorKind.Conflict,
                plan is null ? $"A {card.Status} card cannot be moved to {target}." : $"This request moves the card to {plan.To}, not {target}.", "status"));
        }

        // 3. Execute and complete, with what completion does to the card and its profile.
        var after = await _server.RunAsync(caller, request, correlationId, ct).ConfigureAwait(false);
        var moved = await _cards.FindAsync(card.Uuid, ct).ConfigureAwait(false);
        return after.Status == RequestStatus.Completed && moved?.Status == target
            ? (moved, template)
            : throw new OpenCmException(new DomainError(ErrorKind.Conflict, "The request or the card changed meanwhile; read them again.", "status", after.Status));
    }

    /// <summary>GET /smartcards/{id}/operations (get-profile-state-operations): the request types the caller may start on the card now.</summary>
    public async Task<IReadOnlyList<RequestType>> OperationsAsync(Caller caller, Guid id, CancellationToken ct = default)
    {
        var (card, template) = await GetAsync(caller, id, ct).ConfigureAwait(false);
        if (template is null)
        {
            return [];
        }

        var live = CardProfiles.Live(await _profiles.ForSmartcardAsync(card.Uuid, ct).ConfigureAwait(false));
        return [.. RequestKinds.AllowedOn(card.Status).Where(type =>
            (!RequestKinds.Of(type, Medium.Smartcard).NeedsNewerTemplate || (live?.TemplateVersion ?? card.TemplateVersion) < template.Version)
            && template.PolicyFor(type) is { Enabled: true } p
            && AccessPolicy.MayInitiate(p, caller, card.UserUuid))];
    }

    /// <summary>
    /// POST /smartcards (walkthrough steps 14-15): binds the physical card <paramref name="cardId"/>
    /// to a smart card request, the first execution step (Approved → Executing, SPEC §4). A card
    /// bound elsewhere or in use is a 409 naming <c>cardid</c>; a card released by an ended request
    /// is bound again.
    /// </summary>
    public async Task<(CmRequest Request, StoredSmartcard Card)> AssignAsync(Caller caller, Guid requestId, string? cardId, string? atr, string correlationId, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(caller);

        // 0. The card's id and ATR as OpenCM keeps them; refused before anything is read.
        var canonical = SmartcardRules.CanonicalCardId(cardId);
        var canonicalAtr = SmartcardRules.CanonicalAtr(atr);

        // 1. The request as the caller may see it; only a smart card request takes a card.
        var (request, rights) = await _requests.GetAsync(caller, requestId, ct).ConfigureAwait(false);
        if (!request.IsSmartcard)
        {
            throw new OpenCmException(new DomainError(ErrorKind.Conflict, "The request is not for a smart card.", "requestid", request.Status));
        }

        var kind = RequestKinds.Of(request);
        if (kind.Binding != CardBinding.NewCard)
        {
            throw new OpenCmException(new DomainError(ErrorKind.Conflict, $"A {request.RequestType} request works on the card it names; no card is bound to it.", "requestid", request.Status));
        }

        // 2. Binding a card starts the execution, with the Execute right; one card per execution.
        var now = _clock.GetUtcNow();
        var move = RequestLifecycle.Decide(request.Lifecycle, new LifecycleCommand.BeginExecution(), rights, now);
        if (move is Decision.Refused refused)
        {
            throw new OpenCmException(refused.Error);
        }

        if (request.NewSmartcardUuid != Guid.Empty)
        {
            throw new OpenCmException(DomainError.Transition(request.Status, "A card is already bound to this request."));
        }

        // 3. The card: a known one only if it is free (New), bound afresh to this request's user
        //    and template; else a new record. A replacement names the card it replaces, a copy its
        //    primary, a temporary card the permanent one it stands in for.
        var existing = await _cards.FindByCardIdAsync(canonical, ct).ConfigureAwait(false);
        if (SmartcardLifecycle.Decide(existing?.Status ?? SmartcardStatus.New, new CardCommand.Assign()) is CardDecision.Refused cardRefused)
        {
            throw new OpenCmException(cardRefused.Error);
        }

        var template = await _templates.FindAsync(request.ProfileTemplateUuid, ct).ConfigureAwait(false);
        var card = new StoredSmartcard(existing?.Uuid ?? Guid.CreateVersion7(now), canonical, canonicalAtr, SmartcardStatus.Assigned, request.TargetUserUuid,
            request.ProfileTemplateUuid, template?.Version ?? 1, request.Uuid,
            ParentUuid: kind.Link == CardLink.Parent ? request.OldSmartcardUuid : Guid.Empty,
            PermanentUuid: kind.Link == CardLink.Permanent ? request.OldSmartcardUuid : Guid.Empty, Created: existing?.Created ?? now,
            PrimaryUuid: kind.Link == CardLink.Primary ? request.OldSmartcardUuid : Guid.Empty);

        // 4. The request moves (or, already executing, takes the card) and the card is bound, in one unit of work.
        var to = move is Decision.Move m ? m.To : request.Status;
        var transition = new RequestTransition(request.Uuid, request.Version, request.Status, to, NewSmartcard: card.Uuid);
        var audit = new AuditEvent("StatusChanged", request.Uuid, caller.UserUuid, request.Status, to, now, correlationId, $"card assigned: {card.Uuid:D}");
        var applied = await _transactions.TryRunAsync(async (uow, c) =>
        {
            if (await TransitionWriter.TryApplyAsync(uow, transition, [], audit, c).ConfigureAwait(false) is null)
            {
                return false;
            }

            var bound = existing is null
                ? await uow.Cards.TryInsertAsync(card, c).ConfigureAwait(false)
                : await uow.Cards.TryRebindAsync(card, c).ConfigureAwait(false);
            return bound ? true : throw new WriteConflictException();
        }, ct).ConfigureAwait(false);
        if (!applied)
        {
            throw new OpenCmException(new DomainError(ErrorKind.Conflict, "The request or the card changed meanwhile; read them again.", "cardid"));
        }

        return (request with { Status = to, NewSmartcardUuid = card.Uuid, Version = request.Version + 1 }, card);
    }
}
