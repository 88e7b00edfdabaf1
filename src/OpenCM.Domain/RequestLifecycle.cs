namespace OpenCM.Domain;

/// <summary>One approver's vote on a pending request (SPEC §4, approvals extension).</summary>
public sealed record ApprovalVote(Guid Approver, bool Approve, DateTimeOffset At, string Comment);

/// <summary>What the lifecycle needs to know about a request to decide a command.</summary>
/// <param name="Status">Current status.</param>
/// <param name="ApprovalsNeeded">Distinct approvals that move Pending to Approved.</param>
/// <param name="Votes">Votes recorded so far, one per approver.</param>
/// <param name="Originator">Who created the request; they may not vote on it (dual control).</param>
/// <param name="Target">Whom the request is for; they may not vote on it either.</param>
public sealed record LifecycleState(RequestStatus Status, int ApprovalsNeeded, IReadOnlyList<ApprovalVote> Votes, Guid Originator = default, Guid Target = default);

/// <summary>A command on a request's lifecycle.</summary>
public abstract record LifecycleCommand
{
    private LifecycleCommand()
    {
    }

    /// <summary>The seed's PUT /requests/{id}: Completed, Canceled or Abandoned.</summary>
    public sealed record SetStatus(RequestStatus Target) : LifecycleCommand;

    /// <summary>An approver approves (POST /requests/{id}/approvals).</summary>
    public sealed record Approve(Guid Approver, string Comment) : LifecycleCommand;

    /// <summary>An approver denies (POST /requests/{id}/approvals).</summary>
    public sealed record Deny(Guid Approver, string Comment) : LifecycleCommand;

    /// <summary>The first execution step (card assignment, certificate data, server-side work).</summary>
    public sealed record BeginExecution : LifecycleCommand;

    /// <summary>Server-side execution finished by itself.</summary>
    public sealed record FinishExecution : LifecycleCommand;

    /// <summary>An execution step failed; the error is recorded by the caller.</summary>
    public sealed record FailExecution : LifecycleCommand;
}

/// <summary>The outcome of deciding a command: exactly one of these, never a silent no-op.</summary>
public abstract record Decision
{
    private Decision()
    {
    }

    /// <summary>The status changes. <paramref name="Vote"/> is recorded with it when an approval caused it.</summary>
    public sealed record Move(RequestStatus From, RequestStatus To, DateTimeOffset? Completed, ApprovalVote? Vote) : Decision;

    /// <summary>An approval is counted; more are needed, so the status stays Pending.</summary>
    public sealed record Record(ApprovalVote Vote) : Decision;

    /// <summary>The command asks for what is already true: an idempotent success, nothing written.</summary>
    public sealed record Unchanged(RequestStatus Status) : Decision;

    /// <summary>The command is refused; nothing changes.</summary>
    public sealed record Refused(DomainError Error) : Decision;
}

/// <summary>
/// The request state machine of SPEC §4 as a pure, total function: every (state, command, rights)
/// gives a <see cref="Decision"/>; time is a parameter. Who acts next in each state:
/// <list type="bullet">
/// <item>Pending: approvers other than the originator and the target, once each (approve or deny); the originator may cancel.</item>
/// <item>Approved: the client or enrollment agent starts execution; the originator may cancel or abandon.</item>
/// <item>Executing: the client completes (PUT Completed) or gives up (Canceled, Abandoned); the server fails it on error.</item>
/// <item>Completed, Canceled, Abandoned, Denied, Failed: nobody; these are terminal.</item>
/// </list>
/// </summary>
public static class RequestLifecycle
{
    /// <summary>A new request's status: Approved when no approvals are needed, else Pending.</summary>
    public static RequestStatus InitialStatus(int approvalsNeeded) =>
        approvalsNeeded <= 0 ? RequestStatus.Approved : RequestStatus.Pending;

    /// <summary>The right the seed's PUT needs for each target status (SPEC §4).</summary>
    public static RequestPermission RightFor(RequestStatus target) => target switch
    {
        RequestStatus.Completed => RequestPermission.Execute,
        RequestStatus.Canceled => RequestPermission.Cancel,
        RequestStatus.Abandoned => RequestPermission.Abandon,
        _ => RequestPermission.None,
    };

    /// <summary>Whether <paramref name="from"/> may move to <paramref name="to"/> by the seed's PUT.</summary>
    public static bool IsAllowedPut(RequestStatus from, RequestStatus to) => (from, to) switch
    {
        (RequestStatus.Executing, RequestStatus.Completed) => true,
        (RequestStatus.Pending or RequestStatus.Approved or RequestStatus.Executing, RequestStatus.Canceled) => true,
        (RequestStatus.Approved or RequestStatus.Executing, RequestStatus.Abandoned) => true,
        _ => false,
    };

    /// <summary>Decides <paramref name="command"/> against <paramref name="state"/> for a caller holding <paramref name="granted"/>.</summary>
    public static Decision Decide(LifecycleState state, LifecycleCommand command, RequestPermission granted, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(command);
        return command switch
        {
            LifecycleCommand.SetStatus c => SetStatus(state, c.Target, granted, now),
            LifecycleCommand.Approve c => Approve(state, c, granted, now),
            LifecycleCommand.Deny c => Deny(state, c, granted, now),
            LifecycleCommand.BeginExecution => Begin(state, granted),
            LifecycleCommand.FinishExecution => ServerMove(state, RequestStatus.Completed, now),
            LifecycleCommand.FailExecution => ServerMove(state, RequestStatus.Failed, now),
            _ => throw new ArgumentOutOfRangeException(nameof(command)),
        };
    }

    /// <summary>
    /// Decides <paramref name="command"/> over the whole execution context (issue #17): the state
    /// machine's decision, refused when it would complete a smart card request whose card is not
    /// known (<see cref="RequestKind.RequireCard"/>), with the effects of the move. What a portal
    /// offers, what the API enforces and what completion does are this one function.
    /// </summary>
    public static Outcome Decide(RequestContext context, LifecycleCommand command, RequestPermission granted, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(context);
        var request = context.Request;
        var decision = Decide(request.Lifecycle, command, granted, now);
        if (decision is not Decision.Move m)
        {
            return new Outcome(decision, []);
        }

        var kind = context.Kind;
        if (m.To == RequestStatus.Completed && kind.RequireCard(request, "completing it") is { } noCard)
        {
            return new Outcome(new Decision.Refused(noCard), []);
        }

        if (!ExecutionEffects.ChangesOldProfile(m.From, m.To))
        {
            return new Outcome(m, ExecutionEffects.For(m.From, m.To, request.NewProfileUuid, null, now, request.NewSmartcardUuid));
        }

        // Completing: what the kind does to the profile and card the request names, and to the
        // permanent card of a temporary card it ends.
        var reason = ProfileRules.RevocationReason(request.DataCollection);
        var profile = context.NamedProfile is { } p ? kind.ProfileOnCompletion(p.Uuid, p.Status, reason) : null;
        var card = context.NamedCard is { } c ? kind.CardOnCompletion(c.Uuid, c.Status, reason) : null;
        IReadOnlyList<Effect> linked = context.PermanentCard is { } permanent
            ? SmartcardRules.PermanentCardBack(request.RequestType, reason, permanent.Uuid, permanent.Status, context.PermanentProfile?.Uuid ?? Guid.Empty,
                context.PermanentProfile?.Status, now)
            : [];
        return new Outcome(m, ExecutionEffects.For(m.From, m.To, request.NewProfileUuid, profile, now, request.NewSmartcardUuid, card, linked), profile, card, linked.Count > 0);
    }

    private static Decision SetStatus(LifecycleState state, RequestStatus target, RequestPermission granted, DateTimeOffset now)
    {
        // 1. Only the three statuses of the seed page can be asked for.
        var right = RightFor(target);
        if (right == RequestPermission.None)
        {
            return new Decision.Refused(DomainError.Validation(
                "status", $"Status '{target}' cannot be set; use Completed, Canceled or Abandoned."));
        }

        // 2. Rights before state: a caller without the right learns nothing more (SPEC §4).
        if (!granted.Has(right))
        {
            return new Decision.Refused(DomainError.Forbidden($"Setting the status to {target} needs the {right} right on this request."));
        }

        // 3. Asking for the status the request already has is an idempotent success.
        if (state.Status == target)
        {
            return new Decision.Unchanged(target);
        }

        // 4. Only the transitions drawn in SPEC §4.
        if (!IsAllowedPut(state.Status, target))
        {
            return new Decision.Refused(DomainError.Transition(
                state.Status, $"A request in status {state.Status} cannot become {target}."));
        }

        return new Decision.Move(state.Status, target, now, null);
    }

    private static Decision Approve(LifecycleState state, LifecycleCommand.Approve c, RequestPermission granted, DateTimeOffset now)
    {
        if (!granted.Has(RequestPermission.Approve))
        {
            return new Decision.Refused(DomainError.Forbidden("Approving needs the Approve right on this request."));
        }

        if (DualControl(state, c.Approver, "approve") is { } refused)
        {
            return refused;
        }

        // Each approver votes once: the same vote again is an idempotent success, another is refused.
        if (state.Votes.Any(v => v.Approver == c.Approver && v.Approve))
        {
            return new Decision.Unchanged(state.Status);
        }

        if (state.Votes.Any(v => v.Approver == c.Approver))
        {
            return new Decision.Refused(new DomainError(ErrorKind.Conflict, "You have already voted on this request; each approver votes once.", "decision", state.Status));
        }

        if (state.Status != RequestStatus.Pending)
        {
            return new Decision.Refused(DomainError.Transition(
                state.Status, $"Only a Pending request can be approved; this one is {state.Status}."));
        }

        var vote = new ApprovalVote(c.Approver, true, now, c.Comment);
        var approvals = state.Votes.Count(v => v.Approve) + 1;
        return approvals >= state.ApprovalsNeeded
            ? new Decision.Move(RequestStatus.Pending, RequestStatus.Approved, null, vote)
            : new Decision.Record(vote);
    }

    private static Decision Deny(LifecycleState state, LifecycleCommand.Deny c, RequestPermission granted, DateTimeOffset now)
    {
        if (!granted.Has(RequestPermission.Deny))
        {
            return new Decision.Refused(DomainError.Forbidden("Denying needs the Deny right on this request."));
        }

        if (DualControl(state, c.Approver, "deny") is { } refused)
        {
            return refused;
        }

        if (state.Status == RequestStatus.Denied && state.Votes.Any(v => v.Approver == c.Approver && !v.Approve))
        {
            return new Decision.Unchanged(state.Status);
        }

        // Each approver votes once: an approval is not taken back by a denial.
        if (state.Votes.Any(v => v.Approver == c.Approver && v.Approve))
        {
            return new Decision.Refused(new DomainError(ErrorKind.Conflict, "You have already approved this request; each approver votes once.", "decision", state.Status));
        }

        if (state.Status != RequestStatus.Pending)
        {
            return new Decision.Refused(DomainError.Transition(
                state.Status, $"Only a Pending request can be denied; this one is {state.Status}."));
        }

        // One Deny is final (SPEC §4).
        return new Decision.Move(RequestStatus.Pending, RequestStatus.Denied, now, new ApprovalVote(c.Approver, false, now, c.Comment));
    }

    // Dual control: neither who asked nor whom it is for may decide on a request, whatever their roles.
    private static Decision.Refused? DualControl(LifecycleState state, Guid approver, string verb) =>
        approver == state.Originator ? new Decision.Refused(DomainError.Forbidden($"The originator of a request cannot {verb} it{(verb == "deny" ? "; cancel it instead" : "")}."))
        : approver == state.Target && state.Target != Guid.Empty ? new Decision.Refused(DomainError.Forbidden($"The user a request is for cannot {verb} it."))
        : null;

    private static Decision Begin(LifecycleState state, RequestPermission granted)
    {
        if (!granted.Has(RequestPermission.Execute))
        {
            return new Decision.Refused(DomainError.Forbidden("Executing needs the Execute right on this request."));
        }

        return state.Status switch
        {
            RequestStatus.Approved => new Decision.Move(RequestStatus.Approved, RequestStatus.Executing, null, null),
            RequestStatus.Executing => new Decision.Unchanged(RequestStatus.Executing),
            _ => new Decision.Refused(DomainError.Transition(
                state.Status, $"Execution can start only on an Approved request; this one is {state.Status}.")),
        };
    }

    // Server actions are authorized by the execution step that triggered them.
    private static Decision ServerMove(LifecycleState state, RequestStatus to, DateTimeOffset now) =>
        state.Status == RequestStatus.Executing
            ? new Decision.Move(RequestStatus.Executing, to, now, null)
            : new Decision.Refused(DomainError.Transition(
                state.Status, $"Only an Executing request can become {to}; this one is {state.Status}."));
}
