using OpenCM.Domain;

namespace OpenCM.Application;

/// <summary>Smart card use cases (issue #8; SPEC §3, §8): binding a card to a request, and reading cards.</summary>
public sealed class SmartcardService
{
    private readonly RequestQueries _requests;
    private readonly ISmartcardStore _cards;
    private readonly ITemplateStore _templates;
    private readonly ITransactions _transactions;
    private readonly TimeProvider _clock;

    public SmartcardService(RequestQueries requests, ISmartcardStore cards, ITemplateStore templates, ITransactions transactions, TimeProvider clock)
    {
        _requests = requests;
        _cards = cards;
        _templates = templates;
        _transactions = transactions;
        _clock = clock;
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
