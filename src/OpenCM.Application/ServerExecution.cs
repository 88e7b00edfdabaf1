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
    private readonly RequestContextLoader _contexts;
    private readonly ITransactions _transactions;
    private readonly CaNoticeDelivery _notices;
    private readonly TimeProvider _clock;

    public ServerExecution(IRequestStore requests, RequestContextLoader contexts, ITransactions transactions, CaNoticeDelivery notices, TimeProvider clock)
    {
        _requests = requests;
        _contexts = contexts;
        _transactions = transactions;
        _notices = notices;
        _clock = clock;
    }

    /// <summary>Whether <paramref name="request"/>, having just become Approved, runs on the server now.</summary>
    public static bool RunsNow(CmRequest request) =>
        request.Status == RequestStatus.Approved && RequestKinds.Of(request).ServerExecutes;

    /// <summary>Executes <paramref name="request"/> on the authority of <paramref name="caller"/>, who made it executable.</summary>
    public async Task<CmRequest> RunAsync(Caller caller, CmRequest request, string correlationId, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(caller);
        ArgumentNullException.ThrowIfNull(request);

        // 1. The server acts with the Execute right the approval (or creation) conferred, over
        //    the request's context as of now.
        var now = _clock.GetUtcNow();
        var context = await _contexts.LoadAsync(request, ContextParts.Completion, ct).ConfigureAwait(false);
        if (RequestLifecycle.Decide(context, new LifecycleCommand.BeginExecution(), RequestPermission.Execute, now) is not { Decision: Decision.Move begin } started)
        {
            return request;
        }

        var executing = request with { Status = begin.To, Version = request.Version + 1 };
        var finished = RequestLifecycle.Decide(context with { Request = executing }, new LifecycleCommand.FinishExecution(), RequestPermission.None, now);
        if (finished.Decision is not Decision.Move finish)
        {
            return request;
        }

        // 2. Both moves and their effects through the one path, in one unit of work; a lost
        //    compare-and-set anywhere abandons both.
        var applied = await _transactions.TryRunAsync(async (uow, c) =>
        {
            _ = await TransitionWriter.TryApplyAsync(uow, new RequestTransition(request.Uuid, request.Version, begin.From, begin.To), started.Effects,
                new AuditEvent("StatusChanged", request.Uuid, caller.UserUuid, begin.From, begin.To, now, correlationId, "executed by the server"), c).ConfigureAwait(false)
                ?? throw new WriteConflictException();
            return await TransitionWriter.TryApplyAsync(uow, new RequestTransition(request.Uuid, executing.Version, finish.From, finish.To, finish.Completed),
                finished.Effects,
                new AuditEvent("StatusChanged", request.Uuid, caller.UserUuid, finish.From, finish.To, now, correlationId,
                    finished.Describe() is { Length: > 0 } d ? d : "completed by the server"), c).ConfigureAwait(false)
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
}
