using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.Security.Sddl;

namespace OpenCM.Application.Tests;

public class RequestDescriptorBuilderTests
{
    private static readonly Sid Originator = Sid.Parse("S-1-5-21-1-2-3-1001");
    private static readonly Sid Target = Sid.Parse("S-1-5-21-1-2-3-1002");
    private static readonly Sid Approvers = Sid.Parse("S-1-5-21-1-2-3-1100");
    private static readonly Sid Agents = Sid.Parse("S-1-5-21-1-2-3-1101");
    private static readonly Sid Managers = Sid.Parse("S-1-5-21-1-2-3-1102");
    private static readonly Sid Contractors = Sid.Parse("S-1-5-21-1-2-3-1103");
    private static readonly Sid Stranger = Sid.Parse("S-1-5-21-1-2-3-1999");

    private static readonly WorkflowPolicy Policy = new()
    {
        Enabled = true,
        AuthorizedApprover = $"O:SYD:(A;;CR;;;{Approvers})",
        AuthorizedEnrollmentAgent = $"O:SYD:(D;;CR;;;{Contractors})(A;;CR;;;{Agents})",
    };

    private const RequestPermission Read = RequestPermission.ReadProperty | RequestPermission.ReadControl;

    private static RequestPermission Rights(SecurityDescriptor sd, params Sid[] sids) =>
        (RequestPermission)(AccessCheck.GrantedRights(sd, new HashSet<Sid>([.. sids, Sid.Everyone, Sid.AuthenticatedUsers])) & 0x301FF);

    public static TheoryData<bool, Sid[], RequestPermission> Roles() => new()
    {
        { false, [Originator], Read | RequestPermission.Cancel | RequestPermission.Abandon | RequestPermission.Execute },
        { false, [Target], Read | RequestPermission.Execute },
        { false, [Stranger, Approvers], Read | RequestPermission.Approve | RequestPermission.Deny },
        { false, [Stranger, Agents], Read | RequestPermission.Execute | RequestPermission.Abandon },
        { false, [Stranger, Managers], (RequestPermission)0x301FF },
        { false, [Stranger], RequestPermission.None },
        // A denied group loses the role's actions even through another group (read stays, so that a
        // deny in one role never hides the request from the same principal's other roles)…
        { false, [Stranger, Agents, Contractors], Read },
        { false, [Stranger, Approvers, Contractors], Read | RequestPermission.Approve | RequestPermission.Deny },
        // …but never the originator's own rights.
        { false, [Originator, Contractors], Read | RequestPermission.Cancel | RequestPermission.Abandon | RequestPermission.Execute },
        // With an enrollment agent required, only agents (and managers) execute.
        { true, [Originator], Read | RequestPermission.Cancel | RequestPermission.Abandon },
        { true, [Target], Read },
        { true, [Stranger, Agents], Read | RequestPermission.Execute | RequestPermission.Abandon },
    };

    [Theory]
    [MemberData(nameof(Roles))]
    public void Build_EachRole_GetsTheRightsOfSpecSection5(bool agentRequired, Sid[] caller, RequestPermission expected)
    {
        var sd = RequestDescriptorBuilder.Build(Policy with { EnrollAgentRequired = agentRequired }, Originator, Target, Managers, null);
        Assert.Equal(expected, Rights(sd, caller));
        Assert.Equal(Originator, sd.Owner);
    }

    [Fact]
    public void Build_OnBehalfType_TargetReadsButDoesNotExecute()
    {
        var sd = RequestDescriptorBuilder.Build(Policy, Originator, Target, Managers, null, targetExecutes: false);
        Assert.Equal(Read, Rights(sd, Target));
        Assert.True(Rights(sd, Originator).Has(RequestPermission.Execute));
        Assert.True(Rights(sd, Stranger, Agents).Has(RequestPermission.Execute));
    }

    [Fact]
    public void Build_SelfService_MergesOriginatorAndTargetIntoOneEntry()
    {
        var sd = RequestDescriptorBuilder.Build(new WorkflowPolicy { Enabled = true }, Originator, Originator, null, null);
        Assert.Equal($"O:{Originator}D:(A;;LCSWRPSDRC;;;{Originator})", sd.ToString());
    }

    [Fact]
    public void Build_NullDaclApproverPolicy_EveryoneMayApprove()
    {
        var sd = RequestDescriptorBuilder.Build(new WorkflowPolicy { AuthorizedApprover = "D:NO_ACCESS_CONTROL" }, Originator, Target, null, null);
        Assert.True(Rights(sd, Stranger).Has(RequestPermission.Approve));
    }

    [Fact]
    public void ReaderSids_Descriptor_OwnerAndEveryReadGrant()
    {
        var sd = RequestDescriptorBuilder.Build(Policy, Originator, Target, Managers, null);
        Assert.Equal(new HashSet<Sid> { Originator, Target, Approvers, Agents, Managers }, RequestDescriptorBuilder.ReaderSids(sd).ToHashSet());
    }

    [Theory]
    [InlineData("O:SYD:(A;;CR;;;WD)", true)]
    [InlineData("O:SYD:(A;;GA;;;AU)", true)]
    [InlineData("O:SYD:(A;;RC;;;WD)", false)]
    [InlineData("O:SYD:", false)]
    public void HoldsRole_CrAccessCheck(string descriptor, bool holds) =>
        Assert.Equal(holds, RequestDescriptorBuilder.HoldsRole(descriptor, new HashSet<Sid> { Stranger, Sid.Everyone, Sid.AuthenticatedUsers }, null));
}
