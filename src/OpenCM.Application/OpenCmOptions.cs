using OpenCM.Domain;

namespace OpenCM.Application;

/// <summary>Settings of the use cases (configuration section <c>OpenCM</c>).</summary>
public sealed class OpenCmOptions
{
    /// <summary>The configuration section it is bound from (docs/configuration.md lists its keys).</summary>
    public const string Section = "OpenCM";

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

    /// <summary>
    /// The bytes of JSON one list page holds before it stops early with a next link (issue #18.1):
    /// rows alone did not bound a page of requests with long comments. At least one item is always sent.
    /// </summary>
    public int MaxPageBytes { get; set; } = DefaultMaxPageBytes;

    /// <summary>The caps on client-controlled free text (<c>OpenCM:TextLimits:CommentBytes</c> and the rest; docs/security.md).</summary>
    public TextLimits TextLimits { get; set; } = new();

    public const int DefaultMaxPageBytes = 1024 * 1024;
}
