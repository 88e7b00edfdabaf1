using OpenCM.Security.Sddl;

namespace OpenCM.Application;

/// <summary>Kinds of directory principal.</summary>
public enum PrincipalKind
{
    User,
    Group,
}

/// <summary>A user or group of the directory (SPEC §5).</summary>
public sealed record Principal(Guid Uuid, string Name, Sid Sid, PrincipalKind Kind);

/// <summary>A user with the groups it belongs to.</summary>
public sealed record DirectoryUser(Principal User, IReadOnlyList<Principal> Groups);

/// <summary>
/// Reading the directory of principals: all that the use cases need, and all that a read-only
/// directory (LDAP, Active Directory) has to implement. Changing it is <see cref="IDirectoryAdministration"/>.
/// </summary>
public interface IDirectory
{
    Task<Principal?> FindAsync(Guid uuid, CancellationToken ct = default);

    Task<Principal?> FindByNameAsync(string name, CancellationToken ct = default);

    /// <summary>The principal with <paramref name="sid"/>, or null.</summary>
    Task<Principal?> FindBySidAsync(Sid sid, CancellationToken ct = default);

    Task<IReadOnlyList<Principal>> GroupsOfAsync(Guid userUuid, CancellationToken ct = default);

    /// <summary>The domain whose SIDs this directory's principals carry.</summary>
    Task<Sid> DomainSidAsync(CancellationToken ct = default);
}

/// <summary>
/// Administering a directory OpenCM keeps itself (the embedded default): users, groups,
/// memberships and portal passwords, for the first start and <c>opencm users</c>. A read-only
/// directory does not offer it.
/// </summary>
public interface IDirectoryAdministration
{
    /// <summary>Creates a user; groups that do not exist yet are created, each with its own SID.</summary>
    Task<Principal> AddUserAsync(string name, IReadOnlyList<string> groups, CancellationToken ct = default);

    /// <summary>Creates a group if it does not exist and returns it.</summary>
    Task<Principal> EnsureGroupAsync(string name, CancellationToken ct = default);

    Task<IReadOnlyList<DirectoryUser>> ListUsersAsync(CancellationToken ct = default);

    /// <summary>Removes a user and their memberships; false when no such user exists. Their requests keep the user's GUID.</summary>
    Task<bool> RemoveUserAsync(Guid user, CancellationToken ct = default);

    /// <summary>Takes a user out of a group; false when they were not in it.</summary>
    Task<bool> RemoveMembershipAsync(Guid user, Guid group, CancellationToken ct = default);

    /// <summary>
    /// Stores a user's password hash (made by the host's hasher; the directory never sees the
    /// password), audited without it; false when no such user exists.
    /// </summary>
    Task<bool> SetPasswordHashAsync(Guid user, string hash, CancellationToken ct = default);

    /// <summary>A user's password hash; null when the user has none (tokens only) or does not exist.</summary>
    Task<string?> PasswordHashAsync(Guid user, CancellationToken ct = default);
}
