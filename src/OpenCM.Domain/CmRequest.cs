namespace OpenCM.Domain;

/// <summary>One name/value pair of a request's data collection.</summary>
public sealed record DataItem(string Name, string? Value);

/// <summary>A MIM CM request (Microsoft.Clm.Shared.Requests.Request) plus OpenCM's bookkeeping.</summary>
public sealed record CmRequest
{
    public required Guid Uuid { get; init; }

    public required RequestType RequestType { get; init; }

    public required RequestStatus Status { get; init; }

    public RequestFlags Flags { get; init; }

    public IReadOnlyList<DataItem> DataCollection { get; init; } = [];

    public int DataCollectionFlags { get; init; } = WorkflowPolicy.DefaultDataCollectionFlags;

    public Guid OriginatorUserUuid { get; init; }

    public Guid TargetUserUuid { get; init; }

    public DateTimeOffset Submitted { get; init; }

    /// <summary>Set when the request enters a terminal state; null while open.</summary>
    public DateTimeOffset? Completed { get; init; }

    public Guid NewProfileUuid { get; init; }

    public Guid OldProfileUuid { get; init; }

    public Guid NewSmartcardUuid { get; init; }

    public Guid OldSmartcardUuid { get; init; }

    public int Priority { get; init; }

    public string Comment { get; init; } = "";

    public Guid ProfileTemplateUuid { get; init; }

    /// <summary>SDDL, canonical form, no trailing NULs.</summary>
    public string SecurityDescriptor { get; init; } = "";

    public bool IsDataCollectionComplete { get; init; }

    /// <summary>How many distinct approvals move the request from Pending to Approved.</summary>
    public int ApprovalsNeeded { get; init; }

    public IReadOnlyList<ApprovalVote> Votes { get; init; } = [];

    /// <summary>Incremented by every change; guards compare-and-set updates and is the ETag.</summary>
    public long Version { get; init; } = 1;

    public bool IsSmartcard => (Flags & RequestFlags.Smartcard) != 0;

    public bool IsEnrollmentAgent => (Flags & RequestFlags.EnrollmentAgent) != 0;

    public LifecycleState Lifecycle => new(Status, ApprovalsNeeded, Votes, OriginatorUserUuid, TargetUserUuid);
}
