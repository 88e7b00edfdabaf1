namespace OpenCM.Application;

/// <summary>
/// The <see cref="Caller"/> a protocol identity stands for (issue #24.1): an EST client
/// certificate's owner, a SCEP challenge's user, an ACME account's bound principal. The directory
/// gives the SID and groups, so the same SDDL rights apply as to that user's own requests.
/// </summary>
public sealed class DirectoryCallers
{
    private readonly IDirectory _directory;

    public DirectoryCallers(IDirectory directory) => _directory = directory;

    /// <summary>The user <paramref name="userUuid"/> as a caller, or null when the directory has no such user (any more).</summary>
    public async Task<Caller?> ForUserAsync(Guid userUuid, CancellationToken ct = default)
    {
        var user = await _directory.FindAsync(userUuid, ct).ConfigureAwait(false);
        if (user is not { Kind: PrincipalKind.User })
        {
            return null;
        }

        var groups = await _directory.GroupsOfAsync(userUuid, ct).ConfigureAwait(false);
        return new Caller(user.Uuid, user.Sid, groups.Select(g => g.Sid), user.Name);
    }
}
