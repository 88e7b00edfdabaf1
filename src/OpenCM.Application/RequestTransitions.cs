using System.Globalization;
using OpenCM.Domain;

namespace OpenCM.Application;

/// <summary>Moving requests (SPEC §4): the seed's PUT /requests/{id}, and approvers' votes.</summary>
public sealed class RequestTransitions
{
    private const int MaxRaceRetries = 16;
    private readonly RequestContextLoader _contexts;
    private readonly ITransactions _transactions;
    private readonly ServerExecution _server;
    private readonly CaNoticeDelivery _notices;
    private readonly TimeProvider _clock;
    private readonly ICallerBudget _budget;
    private readonly TextLimits _limits;

    public RequestTransitions(
        RequestContextLoader contexts, ITransactions transactions, ServerExecution server, CaNoticeDelivery notices, TimeProvider clock,
        OpenCmOptions? options = null, ICallerBudget? budget = null)
    {
        _budget = budget ?? UnlimitedBudget.Instance;
        _limits = options?.TextLimits ?? TextLimits.Default;
        _contexts = contexts;
        _transactions = transactions;
        _server = server;
        _notices = notices;
        _clock = clock;
    }

    /// <summary>The seed's PUT /requests/{id}: Completed, Canceled or Abandoned.</summary>
    public Task<CmRequest> SetStatusAsync(Caller caller, Guid id, RequestStatus target, IReadOnlyCollection<long>? ifMatch, string correlationId, CancellationToken ct = default) =>
        DecideAndApplyAsync(caller, id, new LifecycleCommand.SetStatus(target), ifMatch, correlationId, ct);

    /// <summary>POST /requests/{id}/approvals: one approver's Approve or Deny.</summary>
    public Task<CmRequest> VoteAsync(Caller caller, Guid id, bool approve, string comment, string correlationId, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(caller);

        // The vote's comment is stored with the request and sent with every read of it (issue #18.1).
        if (_limits.CheckComment("comment", comment) is { } tooLong)
        {
            throw new OpenCmException(tooLong);
        }

        _budget.Spend(caller, CallerCost.Write); // issue #18.4: votes were unlimited
        LifecycleCommand command = approve
            ? new LifecycleCommand.Approve(caller.UserUuid, comment)
            : new LifecycleCommand.Deny(caller.UserUuid, comment);
        return DecideAndApplyAsync(caller, id, command, null, correlationId, ct);
    }

    private async Task<CmRequest> DecideAndApplyAsync(Caller caller, Guid id, LifecycleCommand command, IReadOnlyCollection<long>? ifMatch, string correlationId, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(caller);
        for (var attempt = 0; ; attempt++)
        {
            // 1. The request as the caller may see it (404 hides what they may not read), with
            //    what completing it reads when the command may complete it.
            var parts = command is LifecycleCommand.SetStatus { Target: RequestStatus.Completed } ? ContextParts.Completion : ContextParts.Request;
            var (context, rights, _) = await _contexts.LoadAsync(caller, id, parts, ct).ConfigureAwait(false);
            var request = context.Request;

            // 2. A client that sent If-Match acts only on the version it saw.
            if (ifMatch is not null && !ifMatch.Contains(request.Version))
            {
                throw new OpenCmException(new DomainError(ErrorKind.PreconditionFailed,
                    $"The request has changed (version {request.Version.ToString(CultureInfo.InvariantCulture)}); read it again.", CurrentStatus: request.Status));
            }

            // 3. The pure state machine decides over the whole context, with the move's effects.
            var now = _clock.GetUtcNow();
            var outcome = RequestLifecycle.Decide(context, command, rights, now);
            RequestTransition move;
            IReadOnlyList<Effect> effects = [];
            AuditEvent audit;
            CmRequest after;
            switch (outcome.Decision)
            {
                case Decision.Refused r:
                    throw new OpenCmException(r.Error);
                case Decision.Unchanged:
                    return request;
                case Decision.Move m:
                    after = request with
                    {
                        Status = m.To,
                        Completed = m.Completed ?? request.Completed,
                        Votes = m.Vote is null ? request.Votes : [.. request.Votes, m.Vote],
                        Version = request.Version + 1,
                    };
                    move = new RequestTransition(id, request.Version, m.From, m.To, m.Completed, m.Vote is null ? null : after.Votes);
                    effects = outcome.Effects;
                    audit = new AuditEvent("StatusChanged", id, caller.UserUuid, m.From, m.To, now, correlationId, Describe(command));
                    break;
                case Decision.Record rec:
                    after = request with { Votes = [.. request.Votes, rec.Vote], Version = request.Version + 1 };
                    move = new RequestTransition(id, request.Version, request.Status, request.Status, Votes: after.Votes);
                    audit = new AuditEvent("ApprovalRecorded", id, caller.UserUuid, request.Status, request.Status, now, correlationId, Describe(command));
                    break;
                default:
                    throw new InvalidOperationException("Unknown decision.");
            }

            // 4. Compare-and-set, effects and audit event in one unit of work. Losing the race
            //    means someone else changed the request: decide again on what they left.
            var applied = await _transactions.TryRunAsync((uow, c) => TransitionWriter.TryApplyAsync(uow, move, effects, audit, c), ct).ConfigureAwait(false);
            if (applied is not null)
            {
                // Committed: the CA hears of what was revoked even if the caller has gone.
                await _notices.DeliverAsync(applied, CancellationToken.None).ConfigureAwait(false);

                // The last approval of a type that needs no client starts its execution.
                return request.Status != RequestStatus.Approved && ServerExecution.RunsNow(after)
                    ? await _server.RunAsync(caller, after, correlationId, ct).ConfigureAwait(false)
                    : after;
            }

            if (ifMatch is not null)
            {
                throw new OpenCmException(new DomainError(ErrorKind.PreconditionFailed, "The request changed while this update was applied; read it again."));
            }

            if (attempt >= MaxRaceRetries)
            {
                throw new OpenCmException(new DomainError(ErrorKind.Conflict, "The request is changing too often to apply this update; try again."));
            }
        }
    }

    private static string Describe(LifecycleCommand command) => command switch
    {
        LifecycleCommand.SetStatus s => $"set status {s.Target}",
        LifecycleCommand.Approve => "approve",
        LifecycleCommand.Deny => "deny",
        _ => command.GetType().Name,
    };
}
