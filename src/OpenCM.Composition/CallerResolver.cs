using System.Security.Claims;
using Microsoft.Extensions.Caching.Memory;
using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.Security.Sddl;

namespace OpenCM.Composition;

/// <summary>
/// One way of knowing who calls (issue #17.5): this server's own tokens and portal sessions, an
/// authority's tokens; Kerberos/Negotiate is another. Sources are asked in the order they are
/// registered (<see cref="OpenCmComposition.AddOpenCmCore"/>); adding one is a registration.
/// </summary>
public interface ICallerSource
{
    /// <summary>
    /// The caller <paramref name="principal"/> names, when this source answers for it; null to
    /// let the next source try. A principal this source answers for but refuses throws
    /// Unauthenticated or Forbidden.
    /// </summary>
    ValueTask<Caller?> TryResolveAsync(ClaimsPrincipal principal, CancellationToken ct);
}

/// <summary>
/// Turns a validated principal (a bearer token's claims, a portal session's) into a
/// <see cref="Caller"/> (SPEC §5) through the chain of <see cref="ICallerSource"/>s: the first
/// that answers decides. Every front-end resolves through it, once per HTTP request.
/// </summary>
public sealed class CallerResolver
{
    /// <summary>How long a local user's groups are kept before the directory is read again.</summary>
    public static readonly TimeSpan DirectoryRefresh = TimeSpan.FromSeconds(30);

    private readonly ICallerSource[] _sources;

    public CallerResolver(IEnumerable<ICallerSource> sources) => _sources = [.. sources];

    public async Task<Caller> ResolveAsync(ClaimsPrincipal principal, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(principal);
        foreach (var source in _sources)
        {
            if (await source.TryResolveAsync(principal, ct).ConfigureAwait(false) is { } caller)
            {
                return caller;
            }
        }

        throw Denied(ErrorKind.Unauthenticated, "The token names no user GUID (objectguid, oid or sub).");
    }

    /// <summary>
    /// The user GUID a validated token names: the first claim that holds one (<c>objectguid</c>,
    /// which ADFS sends as base64 of the 16 bytes, then <c>oid</c>, then <c>sub</c>). Null when it names none.
    /// </summary>
    public static Guid? UserUuid(ClaimsPrincipal principal)
    {
        ArgumentNullException.ThrowIfNull(principal);
        return FirstGuid(principal, ClaimNames.ObjectGuid, ClaimNames.ObjectGuidUri, ClaimNames.Oid, ClaimNames.Subject);
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

    internal static string? First(ClaimsPrincipal principal, params string[] types) =>
        types.Select(t => principal.FindFirst(t)?.Value).FirstOrDefault(v => !string.IsNullOrEmpty(v));

    internal static OpenCmException Denied(ErrorKind kind, string detail) => new(new DomainError(kind, detail));
}

/// <summary>
/// This server's own tokens and password sessions (issuer <see cref="AuthOptions.Issuer"/>): the
/// directory is the truth. The user's SID and groups are read from it (kept at most
/// <see cref="CallerResolver.DirectoryRefresh"/>), so a user removed from it, or from a group,
/// loses what that gave within that time rather than when the token expires (issue #7.7). A
/// directory that keeps what it read itself (Active Directory, <c>Directory:Ldap:CacheSeconds</c>)
/// is asked every time, so that its cache time alone bounds how long a removed right lasts (issue #19).
/// </summary>
public sealed class LocalCallerSource : ICallerSource, IDisposable
{
    private readonly IDirectory _directory;
    private readonly AuthOptions _options;
    private readonly TimeProvider _clock;
    private readonly bool _keep;
    private readonly MemoryCache _local = new(new MemoryCacheOptions { SizeLimit = 10_000 });

    public LocalCallerSource(IDirectory directory, AuthOptions options, DirectorySource source, TimeProvider clock)
    {
        ArgumentNullException.ThrowIfNull(source);
        _directory = directory;
        _options = options;
        _clock = clock;
        _keep = source.Administered;
    }

    public void Dispose() => _local.Dispose();

    public async ValueTask<Caller?> TryResolveAsync(ClaimsPrincipal principal, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(principal);
        if (!string.Equals(principal.FindFirst("iss")?.Value, _options.Issuer, StringComparison.Ordinal) || CallerResolver.UserUuid(principal) is not { } uuid)
        {
            return null;
        }

        var local = await LocalUserAsync(uuid, ct).ConfigureAwait(false)
            ?? throw CallerResolver.Denied(ErrorKind.Unauthenticated, "The token's user is no longer in the directory.");
        return new Caller(uuid, local.Sid, local.Groups, local.Name);
    }

    private async Task<LocalUser?> LocalUserAsync(Guid uuid, CancellationToken ct)
    {
        var now = _clock.GetUtcNow();
        if (_keep && _local.TryGetValue(uuid, out LocalUser? cached) && cached is not null && now - cached.ReadAt < CallerResolver.DirectoryRefresh)
        {
            return cached.User is null ? null : cached;
        }

        var user = await _directory.FindAsync(uuid, ct).ConfigureAwait(false);
        var entry = user is { Kind: PrincipalKind.User }
            ? new LocalUser(user, user.Sid, [.. (await _directory.GroupsOfAsync(uuid, ct).ConfigureAwait(false)).Select(g => g.Sid)], user.Name, now)
            : new LocalUser(null, Sid.Everyone, [], "", now);
        if (_keep)
        {
            _local.Set(uuid, entry, new MemoryCacheEntryOptions { Size = 1, SlidingExpiration = CallerResolver.DirectoryRefresh * 4 });
        }

        return entry.User is null ? null : entry;
    }

    private sealed record LocalUser(Principal? User, Sid Sid, IReadOnlyList<Sid> Groups, string Name, DateTimeOffset ReadAt);
}

/// <summary>
/// An OIDC authority's token (ADFS, Entra ID, Keycloak), or a portal session signed in through
/// it: the SID from <c>primarysid</c> and the groups from <c>groupsid</c>, the directory filling
/// in what the token lacks. It answers for any principal that names a user GUID, so it goes last.
/// </summary>
public sealed class AuthorityCallerSource : ICallerSource
{
    private readonly IDirectory _directory;

    public AuthorityCallerSource(IDirectory directory) => _directory = directory;

    public async ValueTask<Caller?> TryResolveAsync(ClaimsPrincipal principal, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(principal);
        if (CallerResolver.UserUuid(principal) is not { } uuid)
        {
            return null;
        }

        var sidText = CallerResolver.First(principal, ClaimNames.PrimarySid, ClaimNames.PrimarySidUri);
        var groupTexts = principal.Claims.Where(c => c.Type is ClaimNames.GroupSid or ClaimNames.GroupSidUri).Select(c => c.Value).ToList();
        Principal? known = null;
        if (sidText is null || groupTexts.Count == 0)
        {
            known = await _directory.FindAsync(uuid, ct).ConfigureAwait(false);
        }

        Sid sid;
        if (sidText is not null)
        {
            sid = Sid.TryParse(sidText, out var parsed) ? parsed : throw CallerResolver.Denied(ErrorKind.Unauthenticated, "The token's primarysid is not a SID.");
        }
        else
        {
            sid = known?.Sid ?? throw CallerResolver.Denied(ErrorKind.Forbidden, "The token carries no SID and the user is not in the directory.");
        }

        IEnumerable<Sid> groups = groupTexts.Select(g => Sid.TryParse(g, out var s) ? s : throw CallerResolver.Denied(ErrorKind.Unauthenticated, "A groupsid claim is not a SID."));
        if (groupTexts.Count == 0 && known is not null)
        {
            groups = (await _directory.GroupsOfAsync(uuid, ct).ConfigureAwait(false)).Select(g => g.Sid);
        }

        var name = CallerResolver.First(principal, ClaimNames.Name, ClaimTypes.Name, "upn", "unique_name") ?? known?.Name ?? uuid.ToString("D");
        return new Caller(uuid, sid, groups.ToList(), name);
    }
}
