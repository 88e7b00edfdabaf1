namespace OpenCM.Domain;

/// <summary>Status of a smart card (SPEC §3).</summary>
public enum SmartcardStatus
{
    None = 0,

    /// <summary>Known to OpenCM, bound to no request.</summary>
    New = 1,

    /// <summary>Bound to an executing request (POST /smartcards).</summary>
    Assigned = 2, // published

    /// <summary>In use: its request completed.</summary>
    Active = 3, // published

    /// <summary>Out of use until reinstated (certificates on hold, or a temporary card is out).</summary>
    Suspended = 4,

    /// <summary>Revoked for good; it can only be retired.</summary>
    Disabled = 5,

    /// <summary>Done with; terminal.</summary>
    Retired = 6, // published
}

/// <summary>What happens to a card.</summary>
public abstract record CardCommand
{
    private CardCommand()
    {
    }

    /// <summary>POST /smartcards: the card is bound to an executing request.</summary>
    public sealed record Assign : CardCommand;

    /// <summary>The request the card is bound to completed: the card goes into use.</summary>
    public sealed record Activate : CardCommand;

    /// <summary>The request ended without completing (canceled, abandoned, failed): the card is unbound again.</summary>
    public sealed record Release : CardCommand;

    /// <summary>Revoke with certificateHold, or a temporary card issued in its place.</summary>
    public sealed record Suspend : CardCommand;

    /// <summary>Back in use after a suspension.</summary>
    public sealed record Reinstate : CardCommand;

    /// <summary>Revoke for good.</summary>
    public sealed record Disable : CardCommand;

    public sealed record Retire : CardCommand;

    /// <summary>Unblock, OfflineUnblock or OnlineUpdate: work on a card in use that leaves its status as it is.</summary>
    public sealed record Service(RequestType Type) : CardCommand;
}

/// <summary>The outcome of a card command: exactly one of these, never a silent no-op.</summary>
public abstract record CardDecision
{
    private CardDecision()
    {
    }

    public sealed record Move(SmartcardStatus From, SmartcardStatus To) : CardDecision;

    /// <summary>The command asks for what is already true, or works on the card without moving it.</summary>
    public sealed record Unchanged(SmartcardStatus Status) : CardDecision;

    public sealed record Refused(DomainError Error) : CardDecision;
}

/// <summary>
/// The smart card state machine (SPEC §3, issue #8) as a pure, total function. Who acts next:
/// <list type="bullet">
/// <item>New: a client binds it to an executing request (Assign).</item>
/// <item>Assigned: the request completes (Activate) or ends without completing (Release).</item>
/// <item>Active: its owner or a help desk works on it (Service), or a request suspends, disables or retires it.</item>
/// <item>Suspended: a Reinstate brings it back; a Revoke disables it; a Retire ends it.</item>
/// <item>Disabled: only a Retire.</item>
/// <item>Retired: nobody; terminal.</item>
/// </list>
/// </summary>
public static class SmartcardLifecycle
{
    public static CardDecision Decide(SmartcardStatus status, CardCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        return (command, status) switch
        {
            (CardCommand.Assign, SmartcardStatus.New) => Move(status, SmartcardStatus.Assigned),
            (CardCommand.Assign, _) => Refused(ErrorKind.Conflict, "cardid", "The card is already bound to a request or in use; a card serves one request at a time."),

            (CardCommand.Activate, SmartcardStatus.Assigned) => Move(status, SmartcardStatus.Active),
            (CardCommand.Activate, SmartcardStatus.Active) => new CardDecision.Unchanged(status),

            (CardCommand.Release, SmartcardStatus.Assigned) => Move(status, SmartcardStatus.New),
            (CardCommand.Release, SmartcardStatus.New) => new CardDecision.Unchanged(status),

            (CardCommand.Suspend, SmartcardStatus.Active) => Move(status, SmartcardStatus.Suspended),
            (CardCommand.Suspend, SmartcardStatus.Suspended) => new CardDecision.Unchanged(status),

            (CardCommand.Reinstate, SmartcardStatus.Suspended) => Move(status, SmartcardStatus.Active),
            (CardCommand.Reinstate, SmartcardStatus.Active) => new CardDecision.Unchanged(status),

            (CardCommand.Disable, SmartcardStatus.Active or SmartcardStatus.Suspended) => Move(status, SmartcardStatus.Disabled),
            (CardCommand.Disable, SmartcardStatus.Disabled) => new CardDecision.Unchanged(status),

            (CardCommand.Retire, SmartcardStatus.Active or SmartcardStatus.Suspended or SmartcardStatus.Disabled) => Move(status, SmartcardStatus.Retired),
            (CardCommand.Retire, SmartcardStatus.Retired) => new CardDecision.Unchanged(status),

            (CardCommand.Service { Type: RequestType.Unblock or RequestType.OfflineUnblock or RequestType.OnlineUpdate }, SmartcardStatus.Active) => new CardDecision.Unchanged(status),
            (CardCommand.Service { Type: RequestType.Unblock or RequestType.OfflineUnblock or RequestType.OnlineUpdate }, _) =>
                Refused(ErrorKind.InvalidStatusTransition, "smartcard", $"Only a card in use can be worked on; this one is {status}."),
            (CardCommand.Service s, _) => Refused(ErrorKind.ValidationFailed, "type", $"{s.Type} is not work on a card in use."),

            (_, _) => Refused(ErrorKind.InvalidStatusTransition, "smartcard", $"A {status} card cannot be {Verb(command)}."),
        };
    }

    /// <summary>The command a PUT /requests/{rid}/smartcards/{id} asking for <paramref name="target"/> stands for under a card request of <paramref name="type"/> (<see cref="RequestKind.CommandFor"/>).</summary>
    public static CardCommand? CommandFor(RequestType type, SmartcardStatus target) => RequestKinds.Of(type, Medium.Smartcard).CommandFor(target);

    private static CardDecision.Move Move(SmartcardStatus from, SmartcardStatus to) => new(from, to);

    private static CardDecision.Refused Refused(ErrorKind kind, string field, string detail) => new(new DomainError(kind, detail, field));

    private static string Verb(CardCommand command) => command switch
    {
        CardCommand.Activate => "activated",
        CardCommand.Release => "released",
        CardCommand.Suspend => "suspended",
        CardCommand.Reinstate => "reinstated",
        CardCommand.Disable => "disabled",
        CardCommand.Retire => "retired",
        _ => command.GetType().Name.ToLowerInvariant(),
    };
}
