using OpenCM.Domain;

namespace OpenCM.Application;

/// <summary>Smart card use cases (issue #8; SPEC §3, §8): binding a card to a request, and reading cards.</summary>
public sealed class SmartcardService
{
    private readonly RequestQueries _requests;
    private readonly ISmartcardStore _cards;
    private readonly ITemplateStore _templates;
    private readonly ITransactions _transactions;
    private readonly AccessPolicy _access;
    private readonly TimeProvider _clock;

    public SmartcardService(RequestQueries requests, ISmartcardStore cards, ITemplateStore templates, ITransactions transactions, AccessPolicy access, TimeProvider clock)
    {
        _requests = requests;
        _cards = cards;
        _templates = templates;
        _transactions = transactions;
        _access = access;
        _clock = clock;
    }

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
            cards.Add((card, await _templates.FindAsync(card.TemplateUuid, ct).ConfigureAwait(false)));
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

        return (card, await _templates.FindAsync(card.TemplateUuid, ct).ConfigureAwait(false));
    }

    /// <summary>
    /// POST /smartcards (walkthrough steps 14-15): binds the physical card <paramref name="cardId"/>
    /// to a smart card request, the first execution step (Approved → Executing, SPEC §4). A card
    /// bound elsewhere or in use is a 409 naming <c>cardid</c>; a card released by an ended request
    /// is bound again.
    /// </summary>
    public async Task<(CmRequest Request, StoredSmartcard Card)> AssignAsync(Caller caller, Guid requestId, string cardId, string atr, string correlationId, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(caller);

        // 1. The request as the caller may see it; only a smart card request takes a card.
        var (request, rights) = await _requests.GetAsync(caller, requestId, ct).ConfigureAwait(false);
        if (!request.IsSmartcard)
        {
            throw new OpenCmException(new DomainError(ErrorKind.Conflict, "The request is not for a smart card.", "requestid", request.Status));
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

        // 3. The card: a known one only if it is free (New); else a new record.
        var canonical = SmartcardRules.CanonicalCardId(cardId);
        var existing = await _cards.FindByCardIdAsync(canonical, ct).ConfigureAwait(false);
        if (SmartcardLifecycle.Decide(existing?.Status ?? SmartcardStatus.New, new CardCommand.Assign()) is CardDecision.Refused cardRefused)
        {
            throw new OpenCmException(cardRefused.Error);
        }

        var template = await _templates.FindAsync(request.ProfileTemplateUuid, ct).ConfigureAwait(false);
        var card = existing is null
            ? new StoredSmartcard(Guid.NewGuid(), canonical, atr, SmartcardStatus.Assigned, request.TargetUserUuid, request.ProfileTemplateUuid,
                template?.Version ?? 1, request.Uuid, Guid.Empty, Guid.Empty, now)
            : existing with { Status = SmartcardStatus.Assigned, RequestUuid = request.Uuid, UserUuid = request.TargetUserUuid };

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
                : await uow.Cards.TryMoveAsync(card.Uuid, SmartcardStatus.New, SmartcardStatus.Assigned, request.Uuid, c).ConfigureAwait(false);
            return bound ? true : throw new WriteConflictException();
        }, ct).ConfigureAwait(false);
        if (!applied)
        {
            throw new OpenCmException(new DomainError(ErrorKind.Conflict, "The request or the card changed meanwhile; read them again.", "cardid"));
        }

        return (request with { Status = to, NewSmartcardUuid = card.Uuid, Version = request.Version + 1 }, card);
    }
}
