using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.Security.Sddl;

namespace OpenCM.TestKit;

/// <summary>Builders of domain objects for tests.</summary>
public static class Samples
{
    public static readonly DateTimeOffset Now = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);

    /// <summary>A clock pinned at <see cref="Now"/>, for code that takes its time from the caller.</summary>
    public static TimeProvider Clock() => new Microsoft.Extensions.Time.Testing.FakeTimeProvider(Now);

    public static CmRequest Request(Guid? id = null, RequestStatus status = RequestStatus.Approved, Guid? target = null, string? descriptor = null) => new()
    {
        Uuid = id ?? Guid.NewGuid(),
        RequestType = RequestType.Enroll,
        Status = status,
        Flags = RequestFlags.Smartcard,
        DataCollection = [new DataItem("Request Reason", "VPN"), new DataItem("Empty", null)],
        OriginatorUserUuid = Guid.Parse("8f1590dc-d932-4b66-8e68-2e91c5880780"),
        TargetUserUuid = target ?? Guid.Parse("8f1590dc-d932-4b66-8e68-2e91c5880780"),
        Submitted = Now.AddTicks(9300000),
        Priority = 3,
        Comment = "c",
        ProfileTemplateUuid = Guid.Parse("a039b4d0-5ce8-4eff-8651-181c6576fda3"),
        SecurityDescriptor = descriptor ?? "O:S-1-5-21-1-2-3-1000D:(A;;RPRC;;;S-1-5-21-1-2-3-1000)",
        IsDataCollectionComplete = true,
        ApprovalsNeeded = 2,
        Votes = [new ApprovalVote(Guid.Parse("11111111-1111-1111-1111-111111111111"), true, Now, "fine")],
    };

    public static AuditEvent Audit(Guid subject, string kind = "Test", RequestStatus from = RequestStatus.None, RequestStatus to = RequestStatus.None) =>
        new(kind, subject, Guid.Empty, from, to, Now, "corr-1", "detail");

    /// <summary>The audit chain key of the tests' databases (a master key of 32 bytes 0x42); production derives it from the installation's master key.</summary>
    public static readonly AuditChainKey AuditKey = AuditChainKey.Derive(Enumerable.Repeat((byte)0x42, 32).ToArray());

    public static Sid UserSid(int rid) => Sid.Parse($"S-1-5-21-1-2-3-{rid}");
}
