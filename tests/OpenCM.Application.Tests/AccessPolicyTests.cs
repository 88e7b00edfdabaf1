using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.Security.Sddl;
using OpenCM.TestKit;

namespace OpenCM.Application.Tests;

/// <summary>Who may do what (SPEC §5): every right for every kind of principal, against a hand-written oracle.</summary>
public class AccessPolicyTests
{
    public enum Kind
    {
        Originator,
        Target,
        Approver,
        EnrollmentAgent,
        Manager,
        Initiator,
        Stranger,
    }

    private static readonly FakeDirectory Directory = new();
    private static readonly Principal ManagersGroup = Directory.Add("CM Managers", PrincipalKind.Group);
    private static readonly Principal Approvers = Directory.Add("CM Approvers", PrincipalKind.Group);
    private static readonly Principal Agents = Directory.Add("Enrollment Agents", PrincipalKind.Group);
    private static readonly Principal HelpDesk = Directory.Add("Help Desk", PrincipalKind.Group);
    private static readonly Principal OriginatorUser = Directory.Add("olivia", PrincipalKind.User);
    private static readonly Principal TargetUser = Directory.Add("tom", PrincipalKind.User);

    private static WorkflowPolicy Policy(bool agentRequired = false, bool selfService = true) => new()
    {
        Enabled = true,
        SelfServiceEnabled = selfService,
        EnrollAgentRequired = agentRequired,
        AuthorizedApprover = $"O:SYD:(A;;CR;;;{Approvers.Sid})",
        AuthorizedEnrollmentAgent = $"O:SYD:(A;;CR;;;{Agents.Sid})",
        AuthorizedInitiator = $"O:SYD:(A;;CR;;;{HelpDesk.Sid})",
    };

    private static Caller As(Kind kind) => kind switch
    {
        Kind.Originator => new Caller(OriginatorUser.Uuid, OriginatorUser.Sid, [], "olivia"),
        Kind.Target => new Caller(TargetUser.Uuid, TargetUser.Sid, [], "tom"),
        Kind.Approver => Member(Approvers),
        Kind.EnrollmentAgent => Member(Agents),
        Kind.Manager => Member(ManagersGroup),
        Kind.Initiator => Member(HelpDesk),
        _ => Member(null),
    };

    private static Caller Member(Principal? group)
    {
        var id = Guid.NewGuid();
        return new Caller(id, Sid.Parse($"S-1-5-21-9-9-9-{5000 + Math.Abs(id.GetHashCode() % 1000)}"), group is null ? [] : [group.Sid], "someone");
    }

    // SPEC §5, written out: what each kind holds on a request made by the originator for the target.
    private const RequestPermission Read = RequestPermission.ReadProperty | RequestPermission.ReadControl;

    private static RequestPermission Oracle(Kind kind, bool agentRequired) => kind switch
    {
        Kind.Originator => Read | RequestPermission.Cancel | RequestPermission.Abandon | (agentRequired ? 0 : RequestPermission.Execute),
        Kind.Target => Read | (agentRequired ? 0 : RequestPermission.Execute),
        Kind.Approver => Read | RequestPermission.Approve | RequestPermission.Deny,
        Kind.EnrollmentAgent => Read | RequestPermission.Execute | RequestPermission.Abandon,
        Kind.Manager => AccessPolicy.AllRequestRights,

        // Initiating is a role on the template's policy, not a right on the request.
        _ => RequestPermission.None,
    };

    private static readonly RequestPermission[] EveryRight =
    [
        RequestPermission.Approve, RequestPermission.Deny, RequestPermission.Abandon, RequestPermission.Execute, RequestPermission.ReadProperty,
        RequestPermission.Write, RequestPermission.ChangePriority, RequestPermission.DistributeSecrets, RequestPermission.PrintDocuments,
        RequestPermission.Cancel, RequestPermission.ReadControl,
    ];

    public static TheoryData<Kind, RequestPermission, bool> EveryRightForEveryKind()
    {
        var data = new TheoryData<Kind, RequestPermission, bool>();
        foreach (var kind in Enum.GetValues<Kind>())
        {
            foreach (var right in EveryRight)
            {
                data.Add(kind, right, false);
                data.Add(kind, right, true);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(EveryRightForEveryKind))]
    public void RightsOn_EachRightEachPrincipal_MatchesSpecSection5(Kind kind, RequestPermission right, bool agentRequired)
    {
        var descriptor = RequestDescriptorBuilder.Build(Policy(agentRequired), OriginatorUser.Sid, TargetUser.Sid, ManagersGroup.Sid, null);
        var request = Samples.Request() with { SecurityDescriptor = descriptor.ToString() };
        Assert.Equal(Oracle(kind, agentRequired).Has(right), AccessPolicy.RightsOn(request, As(kind)).Has(right));
    }

    [Fact]
    public void AllRequestRights_IsEveryNamedRight() =>
        Assert.Equal((RequestPermission)0x301FF, EveryRight.Aggregate(RequestPermission.None, (all, r) => all | r));

    [Theory]
    [InlineData(Kind.Target, true, true, true)]
    [InlineData(Kind.Target, false, true, false)]
    [InlineData(Kind.Originator, true, false, false)]
    [InlineData(Kind.Initiator, false, false, true)]
    [InlineData(Kind.Initiator, true, true, true)]
    [InlineData(Kind.Manager, true, false, false)]
    [InlineData(Kind.Approver, true, false, false)]
    [InlineData(Kind.Stranger, true, true, true)]
    [InlineData(Kind.Stranger, false, true, false)]
    public void MayInitiate_SelfServiceOrInitiatorRole(Kind kind, bool selfService, bool forSelf, bool allowed)
    {
        var caller = As(kind);
        Assert.Equal(allowed, AccessPolicy.MayInitiate(Policy(selfService: selfService), caller, forSelf ? caller.UserUuid : TargetUser.Uuid));
    }

    [Theory]
    [InlineData(Kind.Stranger, true, true)]
    [InlineData(Kind.Stranger, false, false)]
    [InlineData(Kind.Initiator, false, true)]
    [InlineData(Kind.Manager, false, true)]
    [InlineData(Kind.Approver, false, false)]
    public async Task MaySeeTemplate_AnEnabledPolicyTheyMayInitiateOrManager(Kind kind, bool selfService, bool visible)
    {
        var template = new ProfileTemplate { Uuid = Guid.NewGuid(), Name = "T", Policies = new Dictionary<RequestType, WorkflowPolicy> { [RequestType.Enroll] = Policy(selfService: selfService) } };
        Assert.Equal(visible, await new AccessPolicy(Directory, new OpenCmOptions()).MaySeeTemplateAsync(template, As(kind)));
    }

    [Fact]
    public async Task MaySeeTemplate_DisabledPolicy_OnlyManagers()
    {
        var template = new ProfileTemplate { Uuid = Guid.NewGuid(), Name = "T", Policies = new Dictionary<RequestType, WorkflowPolicy> { [RequestType.Enroll] = Policy() with { Enabled = false } } };
        var policy = new AccessPolicy(Directory, new OpenCmOptions());
        Assert.False(await policy.MaySeeTemplateAsync(template, As(Kind.Target)));
        Assert.True(await policy.MaySeeTemplateAsync(template, As(Kind.Manager)));
    }

    [Theory]
    [InlineData(Kind.Target, true)]
    [InlineData(Kind.Manager, true)]
    [InlineData(Kind.Originator, false)]
    [InlineData(Kind.Approver, false)]
    [InlineData(Kind.EnrollmentAgent, false)]
    [InlineData(Kind.Stranger, false)]
    public async Task MayReadProfile_OwnerOrManager(Kind kind, bool allowed)
    {
        var profile = new StoredProfile(Guid.NewGuid(), Guid.NewGuid(), 1, TargetUser.Uuid, Guid.Empty, ProfileStatus.Active, Guid.NewGuid(), Samples.Now);
        Assert.Equal(allowed, await new AccessPolicy(Directory, new OpenCmOptions()).MayReadProfileAsync(profile, As(kind)));
    }

    [Fact]
    public async Task IsManager_GroupCreatedAfterFirstCheck_FoundThen()
    {
        var directory = new FakeDirectory();
        var policy = new AccessPolicy(directory, new OpenCmOptions { ManagersGroup = "Late Managers" });
        var stranger = As(Kind.Stranger);
        Assert.False(await policy.IsManagerAsync(stranger));
        var group = directory.Add("Late Managers", PrincipalKind.Group);
        Assert.True(await policy.IsManagerAsync(new Caller(Guid.NewGuid(), Sid.Parse("S-1-5-21-9-9-9-7777"), [group.Sid], "m")));
        Assert.False(await policy.IsManagerAsync(stranger));
    }

    [Fact]
    public async Task IsManager_UserNamedLikeTheGroup_NotAManager()
    {
        var directory = new FakeDirectory();
        var impostor = directory.Add("CM Managers", PrincipalKind.User);
        var policy = new AccessPolicy(directory, new OpenCmOptions());
        Assert.False(await policy.IsManagerAsync(new Caller(impostor.Uuid, impostor.Sid, [], "CM Managers")));
    }
}
