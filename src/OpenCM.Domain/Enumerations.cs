namespace OpenCM.Domain;

// Numeric wire values per SPEC §3. Values marked "published" below are fixed by Microsoft's
// examples or CLM's published request table; the rest are OpenCM's and must never change once released.

/// <summary>Status of a request (SPEC §3, §4).</summary>
public enum RequestStatus
{
    None = 0,
    Approved = 3, // published
    Denied = 4,
    Completed = 8, // published
    Failed = 9,
    Pending = 16,
    Canceled = 17,
    Executing = 18,
    Abandoned = 19, // OpenCM's
}

/// <summary>Type of a request (SPEC §3).</summary>
public enum RequestType
{
    None = 0,
    Enroll = 1, // published
    Duplicate = 2,
    OnlineUpdate = 3,
    TemporaryCards = 4,
    Unblock = 5,
    Retire = 6,
    Revoke = 7,
    Recover = 8,
    RecoverOnBehalf = 9,
    Renew = 10,
    Reinstate = 11,
    OfflineUnblock = 12,
}

/// <summary>Request option bits (SPEC §3: Flags 2 is IsSmartcard in the reference).</summary>
[Flags]
public enum RequestFlags
{
    None = 0,
    EnrollmentAgent = 1,
    Smartcard = 2, // published: Flags 2 is IsSmartcard
}

/// <summary>
/// Rights on a request, as access-mask bits of its security descriptor (SPEC §5).
/// Read is satisfied by either RP or RC.
/// </summary>
[Flags]
public enum RequestPermission
{
    None = 0,
    Approve = 0x1,           // CC
    Deny = 0x2,              // DC
    Abandon = 0x4,           // LC
    Execute = 0x8,           // SW
    ReadProperty = 0x10,     // RP
    Write = 0x20,            // WP
    ChangePriority = 0x40,   // DT
    DistributeSecrets = 0x80, // LO
    PrintDocuments = 0x100,  // CR
    Cancel = 0x10000,        // SD
    ReadControl = 0x20000,   // RC
}

/// <summary>Extension helpers for <see cref="RequestStatus"/>.</summary>
public static class RequestStatusExtensions
{
    /// <summary>Terminal states never change again (SPEC §4).</summary>
    public static bool IsTerminal(this RequestStatus status) => status is
        RequestStatus.Completed or RequestStatus.Canceled or RequestStatus.Abandoned or
        RequestStatus.Denied or RequestStatus.Failed;
}

/// <summary>Extension helpers for <see cref="RequestPermission"/>.</summary>
public static class RequestPermissionExtensions
{
    /// <summary>The caller may read the request: RP or RC (SPEC §5).</summary>
    public static bool CanRead(this RequestPermission granted) =>
        (granted & (RequestPermission.ReadProperty | RequestPermission.ReadControl)) != 0;

    public static bool Has(this RequestPermission granted, RequestPermission right) => (granted & right) == right;
}
