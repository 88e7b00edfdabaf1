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
/// Reads of the directory of principals (embedded now; LDAP later). The embedded directory's
/// changes are use cases (<see cref="DirectoryAdministration"/>) writing in a unit of work.
/// </summary>
public interface IDirectory
{
    Task<Principal?> FindAsync(Guid uuid, CancellationToken ct = default);

    Task<Principal?> FindByNameAsync(string name, CancellationToken ct = default);

    Task<IReadOnlyList<Principal>> GroupsOfAsync(Guid userUuid, CancellationToken ct = default);

    Task<IReadOnlyList<DirectoryUser>> ListUsersAsync(CancellationToken ct = default);

    /// <summary>A user's password hash; null when the user has none (tokens only) or does not exist.</summary>
    Task<string?> PasswordHashAsync(Guid user, CancellationToken ct = default);
}
