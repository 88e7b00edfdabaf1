using OpenCM.Security.Sddl;

namespace OpenCM.Security.Sddl.Tests;

public class AccessCheckTests
{
    private const string Dom = "S-1-5-21-2127521184-1604012920-1887927527-";
    private static readonly Sid Owner = Sid.Parse(Dom + "14134865");
    private static readonly Sid Approver = Sid.Parse(Dom + "14995557");
    private static readonly Sid Agent = Sid.Parse(Dom + "5094533");
    private static readonly Sid Stranger = Sid.Parse(Dom + "777");

    private static HashSet<Sid> Token(params Sid[] sids) => [.. sids, Sid.Everyone, Sid.AuthenticatedUsers];

    public static TheoryData<string, Sid[], uint, bool> Cases() => new()
    {
        // Reference descriptor: the owner holds CC DC LC SW SD RC.
        { SddlParserTests.ReferenceComplete, [Owner], 0x1 | 0x2 | 0x4 | 0x8 | 0x10000 | 0x20000, true },
        // The approver is denied LC (Abandon) by the first ACE, and granted DC SW and CC later.
        { SddlParserTests.ReferenceComplete, [Approver], 0x4, false },
        { SddlParserTests.ReferenceComplete, [Approver], 0x1 | 0x2 | 0x8, true },
        // Everyone may read control (RC) through (A;;RC;;;WD).
        { SddlParserTests.ReferenceComplete, [Stranger], 0x20000, true },
        { SddlParserTests.ReferenceComplete, [Stranger], 0x8, false },
        { SddlParserTests.ReferenceComplete, [Agent], 0x8 | 0x20000, true },
        // Deny before allow wins; allow before deny grants the bit.
        { "D:(D;;SW;;;WD)(A;;SW;;;WD)", [Stranger], 0x8, false },
        { "D:(A;;SW;;;WD)(D;;SW;;;WD)", [Stranger], 0x8, true },
        // A deny of a bit not asked for does not matter.
        { "D:(D;;LC;;;WD)(A;;SW;;;WD)", [Stranger], 0x8, true },
        // Empty DACL grants nothing; null DACL everything.
        { "O:SYD:", [Stranger], 0x20000, false },
        { "D:NO_ACCESS_CONTROL", [Stranger], 0x10000, true },
        { "O:SY", [Stranger], 0x8, true },
        // The owner implicitly reads control, even under an empty DACL, but nothing more.
        { $"O:{Dom}777D:", [Stranger], 0x20000, true },
        { $"O:{Dom}777D:", [Stranger], 0x8, false },
        // OWNER RIGHTS replaces the owner's implicit rights.
        { $"O:{Dom}777D:(A;;SW;;;OW)", [Stranger], 0x20000, false },
        { $"O:{Dom}777D:(A;;SW;;;OW)", [Stranger], 0x8, true },
        // Generic rights map through the directory-object mapping: GR = RC|LC|RP, GA = all.
        { "D:(A;;GR;;;WD)", [Stranger], 0x10, true },
        { "D:(A;;GR;;;WD)", [Stranger], 0x8, false },
        { "D:(A;;GA;;;AU)", [Stranger], 0x1 | 0x100 | 0x10000, true },
        { "D:(A;;CR;;;WD)", [Stranger], GenericMapping.GenericExecute, false },
        // Inherit-only ACEs do not apply to the object.
        { "D:(A;IO;SW;;;WD)", [Stranger], 0x8, false },
        // Group membership comes from the token; aliases match well-known SIDs.
        { "D:(A;;SW;;;BA)", [Stranger, Sid.Administrators], 0x8, true },
        { "D:(A;;SW;;;BA)", [Stranger], 0x8, false },
        // Asking for nothing is never granted.
        { "D:NO_ACCESS_CONTROL", [Stranger], 0, false },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void IsGranted_Descriptor_FollowsWindowsSemantics(string sddl, Sid[] sids, uint desired, bool expected) =>
        Assert.Equal(expected, AccessCheck.IsGranted(SddlParser.Parse(sddl), Token(sids), desired));

    [Fact]
    public void GrantedRights_ReferenceApprover_AllButDeniedBits()
    {
        var granted = AccessCheck.GrantedRights(SddlParser.Parse(SddlParserTests.ReferenceComplete), Token(Approver));
        Assert.Equal(0x1u | 0x2 | 0x8 | 0x20000, granted);
    }
}
