using OpenCM.Security.Sddl;

namespace OpenCM.Application;

/// <summary>
/// The authenticated caller of a use case: a user GUID, its SID, and the token of SIDs an access
/// check uses (user, groups, Everyone, Authenticated Users).
/// </summary>
public sealed class Caller
{
    public Caller(Guid userUuid, Sid userSid, IEnumerable<Sid> groupSids, string name)
    {
        UserUuid = userUuid;
        UserSid = userSid;
        Name = name;
        var token = new HashSet<Sid>(groupSids) { userSid, Sid.Everyone, Sid.AuthenticatedUsers };
        Token = token;
    }

    public Guid UserUuid { get; }

    public Sid UserSid { get; }

    public string Name { get; }

    public IReadOnlySet<Sid> Token { get; }
}
