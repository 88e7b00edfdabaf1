namespace OpenCM.Domain;

/// <summary>A data item a workflow policy collects from the enrollee (SPEC §6).</summary>
/// <param name="Name">The item's name, as clients send it in <c>datacollection</c>.</param>
/// <param name="Description">Shown to the user.</param>
/// <param name="Required">Whether a value must be given.</param>
/// <param name="ValidationData">Optional regular expression the whole value must match.</param>
public sealed record DataCollectionItem(string Name, string Description, bool Required, string? ValidationData);

/// <summary>The workflow policy for one request type of a profile template (get-workflow-policy).</summary>
public sealed record WorkflowPolicy
{
    /// <summary>The flags a policy yields when it sets none, as in the reference examples (SPEC §3).</summary>
    public const int DefaultDataCollectionFlags = 32;

    public int ApprovalsNeeded { get; init; }

    /// <summary>SDDL: principals granted CR here may approve (SPEC §5).</summary>
    public string AuthorizedApprover { get; init; } = EmptyDescriptor;

    /// <summary>SDDL: principals granted CR here may act as enrollment agents.</summary>
    public string AuthorizedEnrollmentAgent { get; init; } = EmptyDescriptor;

    /// <summary>SDDL: principals granted CR here may initiate requests for others.</summary>
    public string AuthorizedInitiator { get; init; } = EmptyDescriptor;

    public bool CollectComments { get; init; }

    public bool CollectRequestPriority { get; init; }

    public int DefaultRequestPriority { get; init; }

    public IReadOnlyList<string> Documents { get; init; } = [];

    public bool Enabled { get; init; }

    public bool EnrollAgentRequired { get; init; }

    /// <summary>How one-time passwords are distributed; "None" when the policy uses none.</summary>
    public string OneTimePasswordPolicy { get; init; } = "None";

    /// <summary>Smart card personalization options; "None" for software profiles.</summary>
    public string Personalization { get; init; } = "None";

    public IReadOnlyList<DataCollectionItem> PolicyDataCollection { get; init; } = [];

    public bool SelfServiceEnabled { get; init; }

    public int DataCollectionFlags { get; init; } = DefaultDataCollectionFlags;

    /// <summary>An owner-only descriptor with an empty DACL: grants the role to nobody.</summary>
    public const string EmptyDescriptor = "O:SYD:";
}

/// <summary>A profile template (SPEC §6).</summary>
public sealed record ProfileTemplate
{
    public required Guid Uuid { get; init; }

    public required string Name { get; init; }

    public string Description { get; init; } = "";

    /// <summary>Incremented on every change.</summary>
    public int Version { get; init; } = 1;

    public bool IsSmartcardProfileTemplate { get; init; }

    public bool IsVirtualSmartcardProfileTemplate { get; init; }

    public IReadOnlyDictionary<RequestType, WorkflowPolicy> Policies { get; init; } = new Dictionary<RequestType, WorkflowPolicy>();

    /// <summary>The certificates an enrollment for this template issues, in order (SPEC §7).</summary>
    public IReadOnlyList<CertificateTemplate> CertificateTemplates { get; init; } = [];

    /// <summary>The card policy of a smart card template as imported; null for a software template.</summary>
    public SmartcardConfiguration? Smartcard { get; init; }

    /// <summary>
    /// The standard protocol front-ends (EST, SCEP, ACME) that may create requests for this
    /// template (issue #24), each once, in enum order; empty, the default, allows none.
    /// </summary>
    public IReadOnlyList<EnrollmentProtocol> Protocols { get; init; } = [];

    /// <summary>Whether <paramref name="protocol"/> may create requests for this template.</summary>
    public bool Allows(EnrollmentProtocol protocol) => Protocols.Contains(protocol);

    /// <summary>The card policy in force: as imported, or the defaults for a smart card template that states none; null for a software template.</summary>
    public SmartcardConfiguration? CardPolicy =>
        Smartcard ?? (IsSmartcardProfileTemplate || IsVirtualSmartcardProfileTemplate ? SmartcardConfiguration.DefaultFor(IsVirtualSmartcardProfileTemplate) : null);

    /// <summary>The policy for <paramref name="type"/>, or null when the template defines none.</summary>
    public WorkflowPolicy? PolicyFor(RequestType type) => Policies.TryGetValue(type, out var p) ? p : null;
}
