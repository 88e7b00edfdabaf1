namespace OpenCM.Application;

/// <summary>Settings of the use cases (configuration section <c>OpenCM</c>).</summary>
public sealed class OpenCmOptions
{
    /// <summary>Members of this group get every right on every request (SPEC §5).</summary>
    public string ManagersGroup { get; set; } = "CM Managers";

    /// <summary>Page size when a list call gives no <c>top</c>, and the largest <c>top</c> accepted (SPEC §2).</summary>
    public int MaxPageSize { get; set; } = 1000;

    /// <summary>
    /// Requests one originator may have waiting for approval (Pending) from one template at a
    /// time (issue #18.5); one more is a 409 <c>Conflict</c> naming <c>profiletemplateuuid</c>. 0: no cap.
    /// </summary>
    public int MaxPendingRequestsPerTemplate { get; set; } = 20;

    /// <summary>Rows on one page of a portal list (approvals, my requests, the help desk's requests).</summary>
    public int PortalPageRows { get; set; } = 50;

    /// <summary>
    /// Bytes of request text (comments, data collection, votes) one portal list page carries: the
    /// page stops early past it and links on, however few its rows (issue #18.1, #18.5).
    /// </summary>
    public int PortalPageBytes { get; set; } = 256 * 1024;
}
