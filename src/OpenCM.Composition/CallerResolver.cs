using System.Security.Claims;
using Microsoft.Extensions.Caching.Memory;
using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.Security.Sddl;

namespace OpenCM.Composition;

/// <summary>
/// Turns a validated token into a <see cref="Caller"/> (SPEC §5): the user GUID from
/// <c>objectguid</c>, <c>oid</c> or <c>sub</c>. For a token this server minted, the directory is
/// the truth: the user's SID and groups are read from it (kept at most
/// <see cref="DirectoryRefresh"/>), so a user removed from it, or from a group, loses what that
/// gave within that time rather than when the token expires (issue #7.7). For an authority's
/// token, the SID comes from <c>primarysid</c> and groups from <c>groupsid</c>, the directory
/// filling in what the token lacks.
/// </summary>
public sealed class CallerResolver : IDisposable
{
    /// <summary>How long a local user's groups are kept before the directory is read again.</summary>
    public static readonly TimeSpan DirectoryRefresh = TimeSpan.FromSeconds(30);

    private readonly IDirectory _directory;
    private readonly AuthOptions _options;
    private readonly TimeProvider _clock;
    private readonly MemoryCache _local = new(new MemoryCacheOptions { SizeLimit = 10_000 });

    public CallerResolver(IDirectory directory, AuthOptions options, TimeProvider clock)
    {
        _directory = directory;
        _options = options;
        _clock = clock;
    }

    public void Dispose() => _local.Dispose();

    public async Task<Caller> ResolveAsync(ClaimsPrincipal principal, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(principal);

        // 1. Who: the first claim that holds a GUID (objectguid may be base64 of the 16 bytes, as ADFS sends it).
        var uuid = UserUuid(principal) ?? throw Denied(ErrorKind.Unauthenticated, "The token names no user GUID (objectguid, oid or sub).");

        // 2. A token of this server's own: the directory says who the user is now.
        if (string.Equals(principal.FindFirst("iss")?.Value, _options.Issuer, StringComparison.Ordinal))
        {
            var local = await LocalUserAsync(uuid, ct).ConfigureAwait(false)
                ?? throw Denied(ErrorKind.Unauthenticated, "The token's user is no longer in the directory.");
            return new Caller(uuid, local.Sid, local.Groups, local.Name);
        }

        // 3. An authority's token: the SID and groups from the token, or else from the directory.
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

    private async Task<LocalUser?> LocalUserAsync(Guid uuid, CancellationToken ct)
    {
        var now = _clock.GetUtcNow();
        if (_local.TryGetValue(uuid, out LocalUser? cached) && cached is not null && now - cached.ReadAt < DirectoryRefresh)
        {
            return cached.User is null ? null : cached;
        }

        var user = await _directory.FindAsync(uuid, ct).ConfigureAwait(false);
        var entry = user is { Kind: PrincipalKind.User }
            ? new LocalUser(user, user.Sid, [.. (await _directory.GroupsOfAsync(uuid, ct).ConfigureAwait(false)).Select(g => g.Sid)], user.Name, now)
            : new LocalUser(null, Sid.Everyone, [], "", now);
        _local.Set(uuid, entry, new MemoryCacheEntryOptions { Size = 1, SlidingExpiration = DirectoryRefresh * 4 });
        return entry.User is null ? null : entry;
    }

    /// <summary>
    /// The user GUID a validated token names, read as <see cref="ResolveAsync"/> reads it, without
    /// the directory: what per-user limits are keyed by. Null when it names none.
    /// </summary>
    public static Guid? UserUuid(ClaimsPrincipal principal)
    {
        ArgumentNullException.ThrowIfNull(principal);
        return FirstGuid(principal, ClaimNames.ObjectGuid, ClaimNames.ObjectGuidUri, ClaimNames.Oid, ClaimNames.Subject);
    }

    private sealed record LocalUser(Principal? User, Sid Sid, IReadOnlyList<Sid> Groups, string Name, DateTimeOffset ReadAt);

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
