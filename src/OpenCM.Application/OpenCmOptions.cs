using OpenCM.Domain;

namespace OpenCM.Application;

/// <summary>Settings of the use cases (configuration section <c>OpenCM</c>).</summary>
public sealed class OpenCmOptions
{
    /// <summary>Members of this group get every right on every request (SPEC §5).</summary>
    public string ManagersGroup { get; set; } = "CM Managers";

    /// <summary>Page size when a list call gives no <c>top</c>, and the largest <c>top</c> accepted (SPEC §2).</summary>
    public int MaxPageSize { get; set; } = 1000;

    /// <summary>
    /// The bytes of JSON one list page holds before it stops early with a next link (issue #18.1):
    /// rows alone did not bound a page of requests with long comments. At least one item is always sent.
    /// </summary>
    public int MaxPageBytes { get; set; } = DefaultMaxPageBytes;

    /// <summary>The caps on client-controlled free text (<c>OpenCM:TextLimits:CommentBytes</c> and the rest; docs/security.md).</summary>
    public TextLimits TextLimits { get; set; } = new();

    public const int DefaultMaxPageBytes = 1024 * 1024;
}
