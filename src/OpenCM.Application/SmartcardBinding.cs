using OpenCM.Domain;

namespace OpenCM.Application;

/// <summary>
/// Binding cards to requests and moving them (issue #8; SPEC §3, §4): a card bound to a request
/// that issues onto a new card (POST /smartcards), and a card moved by the request that names it
/// (PUT /requests/{rid}/smartcards/{id}).
/// </summary>
public sealed class SmartcardBinding
{
    private readonly RequestQueries _requests;
    private readonly ISmartcardStore _cards;
    private readonly ITemplateStore _templates;
    private readonly ITransactions _transactions;
    private readonly ServerExecution _server;
    private readonly AccessPolicy _access;
    private readonly TimeProvider _clock;
    private readonly ICallerBudget _budget;

    public SmartcardBinding(
        RequestQueries requests, ISmartcardStore cards, ITemplateStore templates, ITransactions transactions, ServerExecution server, AccessPolicy access,
        TimeProvider clock, ICallerBudget? budget = null)
    {
        _budget = budget ?? UnlimitedBudget.Instance;
        _requests = requests;
        _access = access;
        _cards = cards;
        _templates = templates;
        _transactions = transactions;
        _server = server;
        _clock = clock;
    }

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

    /// <summary>
    /// POST /smartcards (walkthrough steps 14-15): binds the physical card <paramref name="cardId"/>
    /// to a smart card request, the first execution step (Approved → Executing, SPEC §4). A card
    /// bound elsewhere or in use is a 409 naming <c>cardid</c>; a card released by an ended request
    /// is bound again. Each binding takes the next key generation of the physical card, so its
    /// admin key is its own (issue #18.7); a card id another user held last is bound only by a CM
    /// manager, and then as a new record, the old holder's record retired.
    /// </summary>
    public async Task<(CmRequest Request, StoredSmartcard Card)> AssignAsync(Caller caller, Guid requestId, string? cardId, string? atr, string correlationId, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(caller);
        _budget.Spend(caller, CallerCost.Write); // POST /smartcards was unlimited (issue #18.4)

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

        // 3a. Who held this card id last (retired or released): another user's card is re-bound by
        //     a CM manager only, as a record of its own, so the old holder's record (and its uuid)
        //     stays theirs (issue #18.7). The binding's key generation follows the last one.
        //     A record in use that the first read did not see is a binder that won meanwhile: the
        //     same 409 as a card found bound.
        var last = await _cards.LastByCardIdAsync(canonical, ct).ConfigureAwait(false);
        if (last is not null && last.Uuid != existing?.Uuid && last.Status is not (SmartcardStatus.New or SmartcardStatus.Retired)
            && SmartcardLifecycle.Decide(last.Status, new CardCommand.Assign()) is CardDecision.Refused raced)
        {
            throw new OpenCmException(raced.Error);
        }

        var heldByOther = last is not null && last.UserUuid != request.TargetUserUuid;
        if (heldByOther && !await _access.IsManagerAsync(caller, ct).ConfigureAwait(false))
        {
            throw new OpenCmException(new DomainError(ErrorKind.Forbidden, "This card was last held by another user; only a CM manager may bind it again.", "cardid"));
        }

        var retire = heldByOther ? existing : null;
        var rebind = heldByOther ? null : existing;
        var template = await _templates.FindAsync(request.ProfileTemplateUuid, ct).ConfigureAwait(false);
        var card = new StoredSmartcard(rebind?.Uuid ?? Guid.CreateVersion7(now), canonical, canonicalAtr, SmartcardStatus.Assigned, request.TargetUserUuid,
            request.ProfileTemplateUuid, template?.Version ?? 1, request.Uuid,
            ParentUuid: kind.Link == CardLink.Parent ? request.OldSmartcardUuid : Guid.Empty,
            PermanentUuid: kind.Link == CardLink.Permanent ? request.OldSmartcardUuid : Guid.Empty, Created: rebind?.Created ?? now,
            PrimaryUuid: kind.Link == CardLink.Primary ? request.OldSmartcardUuid : Guid.Empty,
            KeyGeneration: (last?.KeyGeneration ?? 0) + 1);

        // 4. The request moves (or, already executing, takes the card) and the card is bound, in one unit of work.
        var to = move is Decision.Move m ? m.To : request.Status;
        var transition = new RequestTransition(request.Uuid, request.Version, request.Status, to, NewSmartcard: card.Uuid);
        var audit = new AuditEvent("StatusChanged", request.Uuid, caller.UserUuid, request.Status, to, now, correlationId, retire is null
            ? $"card assigned: {card.Uuid:D}"
            : $"card assigned: {card.Uuid:D}; the previous holder's record {retire.Uuid:D} retired");
        var applied = await _transactions.TryRunAsync(async (uow, c) =>
        {
            if (await TransitionWriter.TryApplyAsync(uow, transition, [], audit, c).ConfigureAwait(false) is null)
            {
                return false;
            }

            if (retire is not null && !await uow.Cards.TryMoveAsync(retire.Uuid, SmartcardStatus.New, SmartcardStatus.Retired, null, c).ConfigureAwait(false))
            {
                throw new WriteConflictException();
            }

            if (retire is not null)
            {
                await uow.Events.EnqueueAsync(TransitionWriter.CardMoved(retire.Uuid, SmartcardStatus.New, SmartcardStatus.Retired, now), c).ConfigureAwait(false);
            }

            var bound = rebind is null
                ? await uow.Cards.TryInsertAsync(card, c).ConfigureAwait(false)
                : await uow.Cards.TryRebindAsync(card, c).ConfigureAwait(false);
            if (!bound)
            {
                throw new WriteConflictException();
            }

            await uow.Events.EnqueueAsync(TransitionWriter.CardMoved(card.Uuid, rebind is null ? SmartcardStatus.None : SmartcardStatus.New, card.Status, now), c).ConfigureAwait(false);
            return true;
        }, ct).ConfigureAwait(false);
        if (!applied)
        {
            throw new OpenCmException(new DomainError(ErrorKind.Conflict, "The request or the card changed meanwhile; read them again.", "cardid"));
        }

        return (request with { Status = to, NewSmartcardUuid = card.Uuid, Version = request.Version + 1 }, card);
    }
}
