using OpenCM.Domain;

namespace OpenCM.Application;

/// <summary>
/// Runs the request types that need no client (Revoke, Retire, Reinstate) as soon as they are
/// Approved: Approved → Executing → Completed with what completion does to the profile the
/// request names, both moves and their audit events in one unit of work (SPEC §4).
/// </summary>
public sealed class ServerExecution
{
    private readonly IRequestStore _requests;
    private readonly IProfileStore _profiles;
    private readonly ISmartcardStore _cards;
    private readonly ITransactions _transactions;
    private readonly CaNoticeDelivery _notices;
    private readonly TimeProvider _clock;

    public ServerExecution(IRequestStore requests, IProfileStore profiles, ISmartcardStore cards, ITransactions transactions, CaNoticeDelivery notices, TimeProvider clock)
    {
        _requests = requests;
        _profiles = profiles;
        _cards = cards;
        _transactions = transactions;
        _notices = notices;
        _clock = clock;
    }

    /// <summary>Whether <paramref name="request"/>, having just become Approved, runs on the server now.</summary>
    public static bool RunsNow(CmRequest request) =>
        request.Status == RequestStatus.Approved && ProfileRules.IsServerExecuted(request.RequestType, request.IsSmartcard);

    /// <summary>Executes <paramref name="request"/> on the authority of <paramref name="caller"/>, who made it executable.</summary>
    public async Task<CmRequest> RunAsync(Caller caller, CmRequest request, string correlationId, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(caller);
        ArgumentNullException.ThrowIfNull(request);

        // 1. The server acts with the Execute right the approval (or creation) conferred.
        var now = _clock.GetUtcNow();
        if (RequestLifecycle.Decide(request.Lifecycle, new LifecycleCommand.BeginExecution(), RequestPermission.Execute, now) is not Decision.Move begin)
        {
            return request;
        }

        var executing = request with { Status = begin.To, Version = request.Version + 1 };
        if (RequestLifecycle.Decide(executing.Lifecycle, new LifecycleCommand.FinishExecution(), RequestPermission.None, now) is not Decision.Move finish)
        {
            return request;
        }

        // 2. Both moves and their effects through the one path, in one unit of work; a lost
        //    compare-and-set anywhere abandons both.
        var plan = await OnCompletionAsync(_profiles, _cards, request, now, ct).ConfigureAwait(false);
        var applied = await _transactions.TryRunAsync(async (uow, c) =>
        {
            _ = await TransitionWriter.TryApplyAsync(uow, new RequestTransition(request.Uuid, request.Version, begin.From, begin.To), [],
                new AuditEvent("StatusChanged", request.Uuid, caller.UserUuid, begin.From, begin.To, now, correlationId, "executed by the server"), c).ConfigureAwait(false)
                ?? throw new WriteConflictException();
            return await TransitionWriter.TryApplyAsync(uow, new RequestTransition(request.Uuid, executing.Version, finish.From, finish.To, finish.Completed),
                plan.Effects(finish.From, finish.To, request, now),
                new AuditEvent("StatusChanged", request.Uuid, caller.UserUuid, finish.From, finish.To, now, correlationId,
                    plan.Describe() is { Length: > 0 } d ? d : "completed by the server"), c).ConfigureAwait(false)
                ?? throw new WriteConflictException();
        }, ct).ConfigureAwait(false);
        if (applied is not null)
        {
            // Committed: the CA hears of it even if the caller has gone.
            await _notices.DeliverAsync(applied, CancellationToken.None).ConfigureAwait(false);
            return executing with { Status = finish.To, Completed = finish.Completed, Version = executing.Version + 1 };
        }

        // 3. Someone acted first (cancelled it, or the profile moved): report what is true now.
        return await _requests.FindAsync(request.Uuid, ct).ConfigureAwait(false) ?? request;
    }

    /// <summary>
    /// What completing <paramref name="request"/> does, as of now, to the existing profile and
    /// card it names, and beyond them (a temporary card's end brings its permanent card back).
    /// </summary>
    public static async Task<CompletionPlan> OnCompletionAsync(IProfileStore profiles, ISmartcardStore cards, CmRequest request, DateTimeOffset at, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(profiles);
        ArgumentNullException.ThrowIfNull(cards);
        ArgumentNullException.ThrowIfNull(request);
        var reason = ProfileRules.RevocationReason(request.DataCollection);
        var profile = request.OldProfileUuid != Guid.Empty && await profiles.FindAsync(request.OldProfileUuid, ct).ConfigureAwait(false) is { } old
            ? ProfileRules.OnCompletion(request.RequestType, old.Uuid, old.Status, reason, onCard: old.SmartcardUuid != Guid.Empty)
            : null;
        var named = request.OldSmartcardUuid != Guid.Empty ? await cards.FindAsync(request.OldSmartcardUuid, ct).ConfigureAwait(false) : null;
        var card = named is null ? null : SmartcardRules.OnCompletion(request.RequestType, named.Uuid, named.Status, reason);

        // A temporary card ending for good: its permanent card and that card's live profile.
        IReadOnlyList<Effect> linked = [];
        if (named is { PermanentUuid: var permanentId } && permanentId != Guid.Empty && await cards.FindAsync(permanentId, ct).ConfigureAwait(false) is { } permanent)
        {
            var live = CardProfiles.Live(await profiles.ForSmartcardAsync(permanent.Uuid, ct).ConfigureAwait(false));
            linked = SmartcardRules.PermanentCardBack(request.RequestType, reason, permanent.Uuid, permanent.Status, live?.Uuid ?? Guid.Empty, live?.Status, at);
        }

        return new CompletionPlan(profile, card, linked);
    }
}

/// <summary>What completing a request does beyond the request: to the profile and card it names, and linked effects.</summary>
public sealed record CompletionPlan(ProfileTransition? Profile, CardTransition? Card, IReadOnlyList<Effect> Linked)
{
    public static readonly CompletionPlan None = new(null, null, []);

    /// <summary>The effects of the move, with this plan's part when it completes the request.</summary>
    public IReadOnlyList<Effect> Effects(RequestStatus from, RequestStatus to, CmRequest request, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(request);
        return ExecutionEffects.For(from, to, request.NewProfileUuid, Profile, at, request.NewSmartcardUuid, Card, Linked);
    }

    /// <summary>For the audit event: what moved beside the request.</summary>
    public string Describe() => string.Join("; ", new[]
    {
        Profile is null ? null : $"profile {Profile.Profile:D} {Profile.From} -> {Profile.To}",
        Card is null ? null : $"smartcard {Card.Card:D} {Card.From} -> {Card.To}",
        Linked.Count == 0 ? null : "permanent card reinstated",
    }.Where(d => d is not null));
}
