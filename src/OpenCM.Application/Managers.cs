namespace OpenCM.Application;

/// <summary>CM managers: members of the configured group, who hold every right (SPEC §5).</summary>
public static class Managers
{
    /// <summary>Whether <paramref name="caller"/>'s token holds the managers group's SID.</summary>
    public static async Task<bool> IsManagerAsync(this IDirectory directory, Caller caller, OpenCmOptions options, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(directory);
        ArgumentNullException.ThrowIfNull(caller);
        ArgumentNullException.ThrowIfNull(options);
        return await directory.FindByNameAsync(options.ManagersGroup, ct).ConfigureAwait(false) is { Kind: PrincipalKind.Group } g && caller.Token.Contains(g.Sid);
    }
}
