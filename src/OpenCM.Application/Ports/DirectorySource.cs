using OpenCM.Domain;

namespace OpenCM.Application;

/// <summary>
/// Which directory OpenCM reads (issue #19), and whether OpenCM administers it: the embedded
/// directory is OpenCM's own (users, groups and passwords changed through
/// <see cref="DirectoryAdministration"/>); Active Directory over LDAP is read-only from OpenCM.
/// </summary>
public sealed record DirectorySource(string Name, bool Administered)
{
    public static readonly DirectorySource Embedded = new("embedded", Administered: true);

    public static readonly DirectorySource Ldap = new("Active Directory (LDAP)", Administered: false);

    /// <summary>Refuses a change to a directory OpenCM does not administer, naming where it is made instead.</summary>
    public void EnsureAdministered()
    {
        if (!Administered)
        {
            throw new OpenCmException(new DomainError(ErrorKind.Conflict,
                $"The directory is {Name} (Directory:Source): users, groups, memberships and passwords are managed there, not by OpenCM."));
        }
    }
}
