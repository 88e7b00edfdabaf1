using OpenCM.Security.Sddl;

namespace OpenCM.Application;

/// <summary>Kinds of directory principal.</summary>
public enum PrincipalKind
{
    User,
    Group,
}

/// <summary>A user or group of the directory (SPEC §5).</summary>
public sealed record Principal(Guid Uuid, string Name, Sid Sid, PrincipalKind Kind)
{
    /// <summary>The user's e-mail address (AD's <c>mail</c>), when the directory has one (issue #20.6).</summary>
    public string? Email { get; init; }

    /// <summary>The user's principal name (AD's <c>userPrincipalName</c>, e.g. alice@contoso.com), when the directory has one (issue #20.6).</summary>
    public string? Upn { get; init; }
}

/// <summary>A user with the groups it belongs to.</summary>
public sealed record DirectoryUser(Principal User, IReadOnlyList<Principal> Groups);

/// <summary>
/// Reading the directory of principals: all that the use cases need, and all that a read-only
/// directory (LDAP, Active Directory) has to implement. The embedded directory's changes are use
/// cases (<see cref="DirectoryAdministration"/>) writing in a unit of work, audited there.
/// </summary>
public interface IDirectory
{
    Task<Principal?> FindAsync(Guid uuid, CancellationToken ct = default);

    Task<Principal?> FindByNameAsync(string name, CancellationToken ct = default);

    /// <summary>The principal with <paramref name="sid"/>, or null.</summary>
    Task<Principal?> FindBySidAsync(Sid sid, CancellationToken ct = default);

    Task<IReadOnlyList<Principal>> GroupsOfAsync(Guid userUuid, CancellationToken ct = default);

    /// <summary>
    /// The enabled users <paramref name="sid"/> names: the user itself, or the members of the group
    /// it names (in Active Directory nested groups' members too), at most <paramref name="max"/>.
    /// Whom a template's approval descriptor reaches, for e-mail (issue #21.2).
    /// </summary>
    Task<IReadOnlyList<Principal>> UsersNamedByAsync(Sid sid, int max, CancellationToken ct = default);

    /// <summary>The domain whose SIDs this directory's principals carry.</summary>
    Task<Sid> DomainSidAsync(CancellationToken ct = default);
}

/// <summary>
/// What only a directory OpenCM keeps itself (the embedded default) reads beyond
/// <see cref="IDirectory"/>: every user, for <c>opencm users list</c>, and portal password hashes.
/// A read-only directory does not offer it. Changes go through <see cref="DirectoryAdministration"/>.
/// </summary>
public interface IDirectoryAdministration
{
    Task<IReadOnlyList<DirectoryUser>> ListUsersAsync(CancellationToken ct = default);

    /// <summary>
    /// Users whose name contains <paramref name="part"/> (any case), by name, at most
    /// <paramref name="max"/>: the help desk's search by part of a name (issue #23.13).
    /// </summary>
    Task<IReadOnlyList<Principal>> UsersNamedLikeAsync(string part, int max, CancellationToken ct = default);

    /// <summary>A user's password hash; null when the user has none (tokens only) or does not exist.</summary>
    Task<string?> PasswordHashAsync(Guid user, CancellationToken ct = default);
}
