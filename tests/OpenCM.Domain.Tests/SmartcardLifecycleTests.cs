using OpenCM.Domain;

namespace OpenCM.Domain.Tests;

/// <summary>The card state machine against a hand-written table: every command from every status.</summary>
public class SmartcardLifecycleTests
{
    private static readonly SmartcardStatus[] Statuses =
        [SmartcardStatus.None, SmartcardStatus.New, SmartcardStatus.Assigned, SmartcardStatus.Active, SmartcardStatus.Suspended, SmartcardStatus.Disabled, SmartcardStatus.Retired, (SmartcardStatus)99];

    private static readonly Dictionary<string, CardCommand> Commands = new()
    {
        ["Assign"] = new CardCommand.Assign(),
        ["Activate"] = new CardCommand.Activate(),
        ["Release"] = new CardCommand.Release(),
        ["Suspend"] = new CardCommand.Suspend(),
        ["Reinstate"] = new CardCommand.Reinstate(),
        ["Disable"] = new CardCommand.Disable(),
        ["Retire"] = new CardCommand.Retire(),
        ["Unblock"] = new CardCommand.Service(RequestType.Unblock),
        ["OfflineUnblock"] = new CardCommand.Service(RequestType.OfflineUnblock),
        ["OnlineUpdate"] = new CardCommand.Service(RequestType.OnlineUpdate),
        ["Renew"] = new CardCommand.Service(RequestType.Renew),
    };

    // Rows: command; columns: None, New, Assigned, Active, Suspended, Disabled, Retired, undefined.
    // "→X" moves to X, "=" leaves it (idempotent or work on a card in use), "c" 409 Conflict naming
    // cardid, "t" 409 InvalidStatusTransition naming smartcard, "v" 400 naming type.
    private static readonly Dictionary<string, string[]> Table = new()
    {
        ["Assign"] = ["c", "→Assigned", "c", "c", "c", "c", "c", "c"],
        ["Activate"] = ["t", "t", "→Active", "=", "t", "t", "t", "t"],
        ["Release"] = ["t", "=", "→New", "t", "t", "t", "t", "t"],
        ["Suspend"] = ["t", "t", "t", "→Suspended", "=", "t", "t", "t"],
        ["Reinstate"] = ["t", "t", "t", "=", "→Active", "t", "t", "t"],
        ["Disable"] = ["t", "t", "t", "→Disabled", "→Disabled", "=", "t", "t"],
        ["Retire"] = ["t", "t", "t", "→Retired", "→Retired", "→Retired", "=", "t"],
        ["Unblock"] = ["t", "t", "t", "=", "t", "t", "t", "t"],
        ["OfflineUnblock"] = ["t", "t", "t", "=", "t", "t", "t", "t"],
        ["OnlineUpdate"] = ["t", "t", "t", "=", "t", "t", "t", "t"],
        ["Renew"] = ["v", "v", "v", "v", "v", "v", "v", "v"],
    };

    public static TheoryData<string, int> EveryCommandFromEveryStatus()
    {
        var data = new TheoryData<string, int>();
        foreach (var command in Commands.Keys)
        {
            for (var i = 0; i < Statuses.Length; i++)
            {
                data.Add(command, i);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(EveryCommandFromEveryStatus))]
    public void Decide_EveryCommandFromEveryStatus_MatchesTable(string command, int column)
    {
        var status = Statuses[column];
        var decision = SmartcardLifecycle.Decide(status, Commands[command]);
        var actual = decision switch
        {
            CardDecision.Move m when m.From == status => "→" + m.To,
            CardDecision.Unchanged u when u.Status == status => "=",
            CardDecision.Refused { Error: { Kind: ErrorKind.Conflict, Field: "cardid" } } => "c",
            CardDecision.Refused { Error: { Kind: ErrorKind.InvalidStatusTransition, Field: "smartcard" } } => "t",
            CardDecision.Refused { Error: { Kind: ErrorKind.ValidationFailed, Field: "type" } } => "v",
            _ => "unexpected " + decision,
        };
        Assert.Equal(Table[command][column], actual);
    }

    [Fact]
    public void Table_CoversEveryCommandAndStatus() =>
        Assert.All(Table, row => Assert.Equal(Statuses.Length, row.Value.Length));

    [Theory]
    [InlineData(RequestType.Retire, SmartcardStatus.Retired, "Retire")]
    [InlineData(RequestType.Revoke, SmartcardStatus.Disabled, "Disable")]
    [InlineData(RequestType.Revoke, SmartcardStatus.Suspended, "Suspend")]
    [InlineData(RequestType.TemporaryCards, SmartcardStatus.Suspended, null)]
    [InlineData(RequestType.Reinstate, SmartcardStatus.Active, "Reinstate")]
    [InlineData(RequestType.Retire, SmartcardStatus.Active, null)]
    [InlineData(RequestType.Enroll, SmartcardStatus.Retired, null)]
    [InlineData(RequestType.Unblock, SmartcardStatus.Active, null)]
    public void CommandFor_PutStatusUnderRequestType(RequestType type, SmartcardStatus target, string? expected) =>
        Assert.Equal(expected, SmartcardLifecycle.CommandFor(type, target)?.GetType().Name);

    [Fact]
    public void Decide_AWholeLife_AsSpecSection3()
    {
        var status = SmartcardStatus.New;
        foreach (var command in new CardCommand[] { new CardCommand.Assign(), new CardCommand.Activate(), new CardCommand.Suspend(), new CardCommand.Reinstate(), new CardCommand.Disable(), new CardCommand.Retire() })
        {
            status = Assert.IsType<CardDecision.Move>(SmartcardLifecycle.Decide(status, command)).To;
        }

        Assert.Equal(SmartcardStatus.Retired, status);
    }
}
