namespace OpenCM.Domain;

/// <summary>Status of a software profile (SPEC §3).</summary>
public enum ProfileStatus
{
    None = 0,
    New = 1,
    Active = 2,
    Suspended = 3,
    Disabled = 4,
    Retired = 5,
}

/// <summary>What a status change of a request does to what its execution built (SPEC §4, "Effects").</summary>
public enum ExecutionEffect
{
    /// <summary>Nothing was built, or nothing changes.</summary>
    None,

    /// <summary>Completed: the new profile becomes Active, its certificates current.</summary>
    Finalize,

    /// <summary>Canceled or Abandoned while executing: this execution's certificates are revoked
    /// (cessationOfOperation) and the profile it created is retired.</summary>
    Undo,
}

/// <summary>The effects of SPEC §4 as a pure function of the transition.</summary>
public static class ExecutionEffects
{
    public static ExecutionEffect For(RequestStatus from, RequestStatus to) => (from, to) switch
    {
        (RequestStatus.Executing, RequestStatus.Completed) => ExecutionEffect.Finalize,
        (RequestStatus.Executing, RequestStatus.Canceled or RequestStatus.Abandoned or RequestStatus.Failed) => ExecutionEffect.Undo,
        _ => ExecutionEffect.None,
    };
}
