using System.Security.Claims;
using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.Security.Sddl;

namespace OpenCM.Server.Auth;

/// <summary>
/// Turns a validated token into a <see cref="Caller"/> (SPEC §5): the user GUID from
/// <c>objectguid</c>, <c>oid</c> or <c>sub</c>; the SID from <c>primarysid</c>; group SIDs from
/// <c>groupsid</c>. What the token lacks is looked up in the directory.
/// </summary>
public sealed class CallerResolver
{
    private readonly IDirectory _directory;

    public CallerResolver(IDirectory directory) => _directory = directory;

    public async Task<Caller> ResolveAsync(ClaimsPrincipal principal, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(principal);

        // 1. Who: the first claim that holds a GUID (objectguid may be base64 of the 16 bytes, as ADFS sends it).
        var uuid = FirstGuid(principal, ClaimNames.ObjectGuid, ClaimNames.ObjectGuidUri, ClaimNames.Oid, ClaimNames.Subject)
            ?? throw Denied(ErrorKind.Unauthenticated, "The token names no user GUID (objectguid, oid or sub).");

        // 2. The SID and groups from the token, or else from the directory.
        var sidText = First(principal, ClaimNames.PrimarySid, ClaimNames.PrimarySidUri);
        var groupTexts = principal.Claims.Where(c => c.Type is ClaimNames.GroupSid or ClaimNames.GroupSidUri).Select(c => c.Value).ToList();
        Principal? known = null;
        if (sidText is null || groupTexts.Count == 0)
        {
            known = await _directory.FindAsync(uuid, ct).ConfigureAwait(false);
        }

        Sid sid;
        if (sidText is not null)
        {
            sid = Sid.TryParse(sidText, out var parsed) ? parsed : throw Denied(ErrorKind.Unauthenticated, "The token's primarysid is not a SID.");
        }
        else
        {
            sid = known?.Sid ?? throw Denied(ErrorKind.Forbidden, "The token carries no SID and the user is not in the directory.");
        }

        IEnumerable<Sid> groups = groupTexts.Select(g => Sid.TryParse(g, out var s) ? s : throw Denied(ErrorKind.Unauthenticated, "A groupsid claim is not a SID."));
        if (groupTexts.Count == 0 && known is not null)
        {
            groups = (await _directory.GroupsOfAsync(uuid, ct).ConfigureAwait(false)).Select(g => g.Sid);
        }

        var name = First(principal, ClaimNames.Name, ClaimTypes.Name, "upn", "unique_name") ?? known?.Name ?? uuid.ToString("D");
        return new Caller(uuid, sid, groups.ToList(), name);
    }

    private static Guid? FirstGuid(ClaimsPrincipal principal, params string[] types)
    {
        foreach (var type in types)
        {
            var value = principal.FindFirst(type)?.Value;
            if (value is null)
            {
                continue;
            }

            if (Guid.TryParse(value, out var id))
            {
                return id;
            }

            var bytes = new byte[16];
            if (Convert.TryFromBase64String(value, bytes, out var written) && written == 16)
            {
                return new Guid(bytes);
            }
        }

        return null;
    }

    private static string? First(ClaimsPrincipal principal, params string[] types) =>
        types.Select(t => principal.FindFirst(t)?.Value).FirstOrDefault(v => !string.IsNullOrEmpty(v));

    private static OpenCmException Denied(ErrorKind kind, string detail) => new(new DomainError(kind, detail));
}
