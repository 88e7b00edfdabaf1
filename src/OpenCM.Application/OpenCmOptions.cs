namespace OpenCM.Application;

/// <summary>Settings of the use cases (configuration section <c>OpenCM</c>).</summary>
public sealed class OpenCmOptions
{
    /// <summary>Members of this group get every right on every request (SPEC §5).</summary>
    public string ManagersGroup { get; set; } = "CM Managers";

    /// <summary>Page size when a list call gives no <c>top</c>, and the largest <c>top</c> accepted (SPEC §2).</summary>
    public int MaxPageSize { get; set; } = 1000;
}
