using OpenCM.Security.Sddl;

namespace OpenCM.Security.Sddl.Tests;

public class SddlParserTests
{
    // From the reference's get-request and cancel-abandon-complete-request examples, with their NULs.
    public const string ReferenceComplete =
        "O:S-1-5-21-2127521184-1604012920-1887927527-14134865D:(D;;LC;;;S-1-5-21-2127521184-1604012920-1887927527-14995557)(A;;DCSW;;;S-1-5-21-2127521184-1604012920-1887927527-5094533)(A;;DCSW;;;S-1-5-21-2127521184-1604012920-1887927527-5094534)(A;;DCSW;;;S-1-5-21-2127521184-1604012920-1887927527-5219125)(A;;SWRC;;;S-1-5-21-2127521184-1604012920-1887927527-5094533)(A;;RC;;;WD)(A;;CCDCLCSWSDRC;;;S-1-5-21-2127521184-1604012920-1887927527-14134865)(A;;DCSW;;;S-1-5-21-2127521184-1604012920-1887927527-14995557)(A;;CCDCSW;;;S-1-5-21-2127521184-1604012920-1887927527-14995557)\0\0\0\0\0\0\0\0\0";

    public const string ReferenceUnblock =
        "O:S-1-5-21-2127521184-1604012920-1887927527-14134865D:(D;;LC;;;S-1-5-21-2127521184-1604012920-1887927527-14995557)(A;;SWRC;;;S-1-5-21-2127521184-1604012920-1887927527-5094533)(A;;RC;;;WD)(A;;CCDCLCSWSDRC;;;S-1-5-21-2127521184-1604012920-1887927527-14134865)(A;;DCSW;;;S-1-5-21-2127521184-1604012920-1887927527-14995557)(A;;CCDCSW;;;S-1-5-21-2127521184-1604012920-1887927527-14995557)\0\0\0\0\0\0";

    [Theory]
    [InlineData(ReferenceComplete, 9)]
    [InlineData(ReferenceUnblock, 6)]
    public void Parse_ReferenceExamples_RoundTripWithoutNuls(string sddl, int aces)
    {
        var sd = SddlParser.Parse(sddl);
        Assert.Equal(aces, sd.Dacl!.Aces.Count);
        Assert.Equal("S-1-5-21-2127521184-1604012920-1887927527-14134865", sd.Owner!.Value.Value);
        Assert.Equal(sddl.TrimEnd('\0'), sd.ToString());
    }

    [Theory]
    [InlineData("O:BAG:SYD:(A;;GA;;;WD)", "S-1-5-32-544", "S-1-5-18")]
    [InlineData("O:S-1-5-21-1-2-3-1000D:", "S-1-5-21-1-2-3-1000", null)]
    public void Parse_OwnerAndGroupAliases_Resolve(string sddl, string owner, string? group)
    {
        var sd = SddlParser.Parse(sddl);
        Assert.Equal(owner, sd.Owner!.Value.Value);
        Assert.Equal(group, sd.Group?.Value);
    }

    [Fact]
    public void Parse_DomainAlias_ResolvesAgainstDomain()
    {
        var sd = SddlParser.Parse("O:DAD:(A;;RC;;;DU)", Sid.Parse("S-1-5-21-10-20-30"));
        Assert.Equal("S-1-5-21-10-20-30-512", sd.Owner!.Value.Value);
        Assert.Equal("S-1-5-21-10-20-30-513", sd.Dacl!.Aces[0].Sid.Value);
    }

    [Theory]
    [InlineData("D:NO_ACCESS_CONTROL", true)]
    [InlineData("O:SY", true)]
    [InlineData("O:SYD:", false)]
    [InlineData("D:PAI(A;OICI;0x1f01ff;;;SY)", false)]
    public void Parse_DaclForms_NullOnlyWhenAbsentOrNoAccessControl(string sddl, bool isNull) =>
        Assert.Equal(isNull, SddlParser.Parse(sddl).Dacl is null);

    [Theory]
    [InlineData("D:(A;;0x1f01ff;;;SY)", 0x1f01ffu)]
    [InlineData("D:(A;;131072;;;SY)", 0x20000u)]
    [InlineData("D:(A;;GRGW;;;SY)", 0xC0000000u)]
    [InlineData("D:(A;;FA;;;SY)", 0x1F01FFu)]
    public void Parse_RightForms_GiveMask(string sddl, uint mask) => Assert.Equal(mask, SddlParser.Parse(sddl).Dacl!.Aces[0].Mask);

    [Theory]
    [InlineData("", 0, "empty")]
    [InlineData("X:BA", 0, "component tag")]
    [InlineData("O:BAO:SY", 4, "twice")]
    [InlineData("O:ZZ", 2, "unknown SID alias")]
    [InlineData("O:DA", 2, "needs a domain SID")]
    [InlineData("O:S-2-5", 2, "not a SID")]
    [InlineData("D:(A;;RC;;;WD", 2, "not closed")]
    [InlineData("D:(A;;QQ;;;WD)", 6, "unknown right 'QQ'")]
    [InlineData("D:(A;;RC;;WD)", 3, "6 fields")]
    [InlineData("D:(XA;;RC;;;WD;(@User.Title==\"PM\"))", 3, "conditional ACEs")]
    [InlineData("D:(OA;;RP;bf967aba-0de6-11d0-a285-00aa003049e2;;WD)", 3, "object ACEs")]
    [InlineData("D:(A;;RC;bf967aba-0de6-11d0-a285-00aa003049e2;;WD)", 9, "object GUIDs")]
    [InlineData("D:(AU;SA;RC;;;WD)", 3, "system ACL")]
    [InlineData("D:(Q;;RC;;;WD)", 3, "unknown ACE type")]
    [InlineData("D:(A;XX;RC;;;WD)", 5, "unknown ACE flag")]
    [InlineData("D:Z(A;;RC;;;WD)", 2, "unknown ACL flag")]
    [InlineData("O:SYS:(AU;SA;RC;;;WD)", 4, "system ACLs")]
    [InlineData("D:(A;;0xZZ;;;WD)", 6, "hexadecimal")]
    [InlineData("D:(A;;RC;;;WD;(x))", 14, "resource attributes")]
    [InlineData("D:NO_ACCESS_CONTROL(A;;RC;;;WD)", 2, "cannot be followed")]
    public void Parse_Malformed_RefusedWithPosition(string sddl, int position, string reason)
    {
        var ex = Assert.Throws<SddlParseException>(() => SddlParser.Parse(sddl));
        Assert.Equal(position, ex.Position);
        Assert.Contains(reason, ex.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("O:BAD:(A;;0x200;;;WD)", "O:BAD:(A;;0x200;;;WD)")]
    [InlineData("D:(A;OICIIO;GA;;;CO)", "D:(A;OICIIO;GA;;;CO)")]
    [InlineData("O:S-1-5-32-544D:PAI(A;;RCSD;;;S-1-1-0)", "O:BAD:PAI(A;;SDRC;;;WD)")]
    [InlineData("D:NO_ACCESS_CONTROL", "D:NO_ACCESS_CONTROL")]
    public void Write_Descriptor_Canonical(string input, string expected) => Assert.Equal(expected, SddlParser.Parse(input).ToString());

    [Theory]
    [InlineData("S-1-5-21-1-2-3", true)]
    [InlineData("s-1-01-2", true)]
    [InlineData("S-1", false)]
    [InlineData("S-1-x", false)]
    [InlineData("S-1-5-99999999999", false)]
    [InlineData("", false)]
    public void Sid_TryParse_ValidatesForm(string text, bool ok) => Assert.Equal(ok, Sid.TryParse(text, out _));
}
