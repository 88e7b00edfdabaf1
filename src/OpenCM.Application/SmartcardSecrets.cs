using OpenCM.Domain;

namespace OpenCM.Application;

/// <summary>
/// A card's secrets for whoever executes the request that works on it (issue #8; SPEC §8;
/// walkthrough steps 18-19): the diversified admin key, the server-proposed PIN and the answer to
/// the card's admin challenge. Reads, audited without the secret; the one exception is the first
/// answer to an approved Unblock's challenge, which starts its execution explicitly and audited.
/// </summary>
public sealed class SmartcardSecrets
{
    private readonly RequestContextLoader _contexts;
    private readonly ISmartcardStore _cards;
    private readonly ITransactions _transactions;
    private readonly ISmartcardKeys _keys;
    private readonly TimeProvider _clock;

    public SmartcardSecrets(RequestContextLoader contexts, ISmartcardStore cards, ITransactions transactions, ISmartcardKeys keys, TimeProvider clock)
    {
        _contexts = contexts;
        _cards = cards;
        _transactions = transactions;
        _keys = keys;
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

        var key = await _keys.DiversifiedKeyAsync(policy.AdminKeyDiversificationAlgorithm, card.CardId, card.KeyGeneration, ct).ConfigureAwait(false);
        await AuditAsync(caller, request, card, "AdminKeyIssued", "diversified admin key handed out", correlationId).ConfigureAwait(false);
        return key;
    }

    /// <summary>
    /// GET /requests/{rid}/smartcards/{id}/authenticationresponse (walkthrough step 19): the
    /// response to the card's admin challenge (8 bytes for a Base CSP card, a GIDS card's 40;
    /// decision 0013) under the policy's default admin key or the card's diversified one. The same
    /// rules as the diversified key; audited without keys.
    /// </summary>
    public async Task<byte[]> AuthenticationResponseAsync(Caller caller, Guid requestId, Guid cardUuid, string cardId, byte[] challenge, bool diversified, string correlationId, CancellationToken ct = default)
    {
        SmartcardRules.CheckChallenge(challenge);

        var (request, card, policy, begin) = await ExecutingCardAsync(caller, requestId, cardUuid, cardId, CardCall.Challenge, ct).ConfigureAwait(false);
        if (diversified && !policy.DiversifyAdminKey)
        {
            throw new OpenCmException(new DomainError(ErrorKind.Conflict, "This template's cards keep the default admin key; ask with diversified=false.", "diversified"));
        }

        var key = diversified
            ? await _keys.DiversifiedKeyAsync(policy.AdminKeyDiversificationAlgorithm, card.CardId, card.KeyGeneration, ct).ConfigureAwait(false)
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

    // The card calls of an execution: two read-only GETs of a card secret, and the admin
    // challenge answered, which is the one call that starts an execution (an Unblock's; a
    // Retire's challenges are answered as reads, issue #22).
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
        if (inPlace && !context.Kind.AnswersCardChallenge && !(context.Kind.WipesCard && call == CardCall.Challenge))
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
        if (inPlace && context.Kind.WipesCard)
        {
            // Retire: the client wipes the card (its containers cleared, its admin key set back to
            // the policy's default) under answers to its challenges while the request is Approved;
            // only the card status the client sets afterwards moves the request (issue #22).
            if (request.Status != RequestStatus.Approved || card.Status == SmartcardStatus.Retired)
            {
                throw new OpenCmException(DomainError.Transition(request.Status, "A Retire's card challenges are answered only while it is Approved."));
            }
        }
        else if (inPlace && call == CardCall.Challenge && request.Status == RequestStatus.Approved)
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
}
