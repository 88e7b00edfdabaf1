using System.Collections.Concurrent;
using System.DirectoryServices.Protocols;
using System.Net;
using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.Security.Sddl;

namespace OpenCM.ActiveDirectory;

/// <summary>
/// Active Directory (or any LDAP directory with AD's attributes) as OpenCM's directory, read-only
/// (issue #19): a user's uuid is its <c>objectGUID</c>, its SID <c>objectSid</c>, its name
/// <c>sAMAccountName</c> (found by <c>userPrincipalName</c> too); its groups are the transitive
/// <c>tokenGroups</c>, so nested groups count. A disabled account (userAccountControl bit 2) is
/// not found, so it loses its rights when what was read of it expires (<see cref="LdapOptions.CacheSeconds"/>).
/// Every failure to reach or bind the directory is <see cref="ErrorKind.Unavailable"/> (a 503),
/// never an answer from older reads and never an empty one.
/// </summary>
public sealed class LdapDirectory : IDirectory, IDisposable
{
    // Users (not computers, which are users to LDAP) and groups.
    private const string PersonOrGroup = "(|(&(objectClass=user)(!(objectClass=computer)))(objectClass=group))";
    private const int DisabledAccount = 0x2;
    private const int MaxNameLength = 256;
    private const int CacheSize = 10_000;
    private static readonly string[] PrincipalAttributes = ["objectGUID", "objectSid", "sAMAccountName", "objectClass", "userAccountControl", "mail", "userPrincipalName"];

    private readonly LdapOptions _options;
    private readonly TimeProvider _clock;
    private readonly LdapEndpoint _endpoint;
    private readonly NetworkCredential _credential;
    private readonly string? _trustDirectory;
    private readonly SemaphoreSlim _slots;
    private readonly ConcurrentBag<LdapConnection> _idle = [];
    private readonly ConcurrentDictionary<string, (object? Value, DateTimeOffset Until)> _cache = new(StringComparer.Ordinal);

    public LdapDirectory(LdapOptions options, TimeProvider clock)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _clock = clock;
        _endpoint = LdapEndpoint.Parse(options);
        if (string.IsNullOrWhiteSpace(options.BaseDn))
        {
            throw new LdapConfigurationException("Directory:Ldap:BaseDn is not set: name the directory's base, e.g. DC=contoso,DC=com.");
        }

        var password = options.BindPassword;
        if (password.Length == 0 && options.BindPasswordFile.Length > 0)
        {
            password = File.ReadAllText(options.BindPasswordFile).TrimEnd('\r', '\n');
        }

        _credential = new NetworkCredential(options.BindDn, password);
        _trustDirectory = _endpoint.Secure ? TrustDirectory(options.CaFile) : null;
        _slots = new SemaphoreSlim(Math.Max(1, options.MaxConnections));
    }

    private TimeSpan CacheTime => TimeSpan.FromSeconds(Math.Max(0, _options.CacheSeconds));

    public Task<Principal?> FindAsync(Guid uuid, CancellationToken ct = default) =>
        CachedAsync("uuid:" + uuid.ToString("N"), () => FindOneAsync($"(&{PersonOrGroup}(objectGUID={LdapFilter.Binary(uuid.ToByteArray())}))", ct));

    public Task<Principal?> FindByNameAsync(string name, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(name);

        // DOMAIN\name and name@realm name the same account as name; AD keeps the UPN whole.
        var account = name.Contains('\\', StringComparison.Ordinal) ? name[(name.LastIndexOf('\\') + 1)..] : name;
        if (account.Length is 0 or > MaxNameLength)
        {
            return Task.FromResult<Principal?>(null);
        }

        var value = LdapFilter.Escape(account);
        return CachedAsync("name:" + account.ToUpperInvariant(), () => FindOneAsync($"(&{PersonOrGroup}(|(sAMAccountName={value})(userPrincipalName={value})))", ct));
    }

    public Task<Principal?> FindBySidAsync(Sid sid, CancellationToken ct = default) =>
        CachedAsync("sid:" + sid.Value, () => FindOneAsync($"(&{PersonOrGroup}(objectSid={LdapFilter.Binary(BinarySid.Write(sid))}))", ct));

    public Task<IReadOnlyList<Principal>> GroupsOfAsync(Guid userUuid, CancellationToken ct = default) =>
        CachedAsync<IReadOnlyList<Principal>>("groups:" + userUuid.ToString("N"), async () =>
        {
            // 1. The user's own entry (enabled), then its tokenGroups: every group it is in,
            //    nested ones and its primary group included, computed by the directory.
            var sids = await RunAsync(conn =>
            {
                var user = Search(conn, _options.BaseDn, $"(&(objectClass=user)(objectGUID={LdapFilter.Binary(userUuid.ToByteArray())}))", SearchScope.Subtree, "userAccountControl");
                if (user is not [var entry] || IsDisabled(entry))
                {
                    return [];
                }

                var token = Search(conn, entry.DistinguishedName, "(objectClass=*)", SearchScope.Base, "tokenGroups");
                return token is [var t] ? Values(t, "tokenGroups").Select(b => BinarySid.TryRead(b, out var s) ? s : default).Where(s => s.Value is not null).ToList() : [];
            }, ct).ConfigureAwait(false);

            // 2. The groups those SIDs name, a bounded OR filter at a time.
            var groups = new List<Principal>(sids.Count);
            foreach (var chunk in sids.Chunk(64))
            {
                var filter = "(&(objectClass=group)(|" + string.Concat(chunk.Select(s => $"(objectSid={LdapFilter.Binary(BinarySid.Write(s))})")) + "))";
                groups.AddRange(await RunAsync(conn => Search(conn, _options.BaseDn, filter, SearchScope.Subtree, PrincipalAttributes).Select(ToPrincipal).OfType<Principal>().ToList(), ct).ConfigureAwait(false));
            }

            return groups.OrderBy(g => g.Name, StringComparer.OrdinalIgnoreCase).ToList();
        });

    public Task<IReadOnlyList<Principal>> UsersNamedByAsync(Sid sid, int max, CancellationToken ct = default) =>
        CachedAsync<IReadOnlyList<Principal>>("named:" + sid.Value + ":" + max.ToString(System.Globalization.CultureInfo.InvariantCulture), () => RunAsync<IReadOnlyList<Principal>>(conn =>
        {
            // 1. The entry the SID names: a user is itself; a group reaches its members.
            var named = Search(conn, _options.BaseDn, $"(&{PersonOrGroup}(objectSid={LdapFilter.Binary(BinarySid.Write(sid))}))", SearchScope.Subtree, PrincipalAttributes);
            if (named is not [var entry] || ToPrincipal(entry) is not { } principal)
            {
                return [];
            }

            if (principal.Kind == PrincipalKind.User)
            {
                return [principal];
            }

            // 2. Every enabled user in the group, nested groups included: AD's transitive
            //    membership rule (LDAP_MATCHING_RULE_IN_CHAIN) evaluates the chain on the server.
            var members = Search(conn, _options.BaseDn,
                $"(&(objectClass=user)(!(objectClass=computer))(memberOf:1.2.840.113556.1.4.1941:={LdapFilter.Escape(entry.DistinguishedName)}))",
                SearchScope.Subtree, PrincipalAttributes);
            return [.. members.Select(ToPrincipal).OfType<Principal>().OrderBy(p => p.Name, StringComparer.OrdinalIgnoreCase).Take(Math.Max(0, max))];
        }, ct));

    public async Task<Sid> DomainSidAsync(CancellationToken ct = default) =>
        await CachedAsync<Sid?>("domain", () => RunAsync<Sid?>(conn =>
        {
            var domain = Search(conn, _options.BaseDn, "(objectClass=*)", SearchScope.Base, "objectSid");
            return domain is [var d] && Values(d, "objectSid").FirstOrDefault() is { } bytes && BinarySid.TryRead(bytes, out var sid) ? sid : null;
        }, ct)).ConfigureAwait(false)
        ?? throw new OpenCmException(new DomainError(ErrorKind.Unavailable, "The directory's base names no domain (no objectSid at Directory:Ldap:BaseDn)."));

    /// <summary>
    /// Binds and reads the domain, for the server's start: a wrong password or base is a
    /// configuration error, said clearly, rather than a 503 on every call later.
    /// </summary>
    public async Task CheckAsync(CancellationToken ct = default)
    {
        try
        {
            await RunAsync(conn => Search(conn, _options.BaseDn, "(objectClass=*)", SearchScope.Base, "objectSid"), ct).ConfigureAwait(false);
        }
        catch (OpenCmException e) when (e.InnerException is LdapException { ErrorCode: 49 })
        {
            throw new LdapConfigurationException($"The directory at {_endpoint.Display} refused the bind as '{_options.BindDn}': check Directory:Ldap:BindDn and its password.");
        }
        catch (OpenCmException e) when (e.InnerException is DirectoryOperationException)
        {
            throw new LdapConfigurationException($"The directory at {_endpoint.Display} has no entry '{_options.BaseDn}' (Directory:Ldap:BaseDn).");
        }
    }

    /// <summary>Whether the directory answers now (a bind and a read of the base, never from the cache): readiness.</summary>
    public async Task<bool> ProbeAsync(CancellationToken ct = default)
    {
        try
        {
            await RunAsync(conn => Search(conn, _options.BaseDn, "(objectClass=*)", SearchScope.Base, "objectSid"), ct).ConfigureAwait(false);
            return true;
        }
        catch (OpenCmException e) when (e.Error.Kind == ErrorKind.Unavailable)
        {
            return false;
        }
    }

    public void Dispose()
    {
        while (_idle.TryTake(out var conn))
        {
            conn.Dispose();
        }

        _slots.Dispose();
    }

    private async Task<T> CachedAsync<T>(string key, Func<Task<T>> read)
    {
        var now = _clock.GetUtcNow();
        if (_cache.TryGetValue(key, out var hit) && hit.Until > now)
        {
            return (T)hit.Value!;
        }

        var value = await read().ConfigureAwait(false);
        if (_cache.Count >= CacheSize)
        {
            _cache.Clear();
        }

        _cache[key] = (value, now + CacheTime);
        return value;
    }

    private Task<Principal?> FindOneAsync(string filter, CancellationToken ct) =>
        RunAsync(conn => Search(conn, _options.BaseDn, filter, SearchScope.Subtree, PrincipalAttributes) is [var one] ? ToPrincipal(one) : null, ct);

    private const int ServerDown = 81; // LDAP_SERVER_DOWN: the connection is gone

    // One operation on a pooled, bound connection; any failure of the directory is Unavailable,
    // and the connection that saw it is dropped rather than reused. A connection the DC dropped
    // ("server down", LDAP 81: a pooled one it closed while idle, as AD does after
    // MaxConnIdleTime, or one cut while the DC was busy; seen in CI, 2026-12-05) gets one more
    // try on a new connection at once: every operation here is a read or a bind.
    private async Task<T> RunAsync<T>(Func<LdapConnection, T> operation, CancellationToken ct)
    {
        await _slots.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            return await Task.Run(() =>
            {
                for (var attempt = 1; ; attempt++)
                {
                    LdapConnection? conn = null;
                    try
                    {
                        conn = attempt == 1 && _idle.TryTake(out var pooled) ? pooled : Connect();
                        var result = operation(conn);
                        _idle.Add(conn);
                        return result;
                    }
                    catch (LdapException e) when (e.ErrorCode == ServerDown && attempt == 1)
                    {
                        conn?.Dispose();
                    }
                    catch (Exception e) when (e is LdapException or DirectoryOperationException or ObjectDisposedException)
                    {
                        conn?.Dispose();
                        throw new OpenCmException(new DomainError(ErrorKind.Unavailable, "The directory cannot be reached now; try again shortly."), e);
                    }
                }
            }, ct).ConfigureAwait(false);
        }
        finally
        {
            _slots.Release();
        }
    }

    private LdapConnection Connect()
    {
        var conn = new LdapConnection(new LdapDirectoryIdentifier(_endpoint.Host, _endpoint.Port, fullyQualifiedDnsHostName: true, connectionless: false), _credential, AuthType.Basic)
        {
            Timeout = TimeSpan.FromSeconds(Math.Max(1, _options.TimeoutSeconds)),
            AutoBind = false,
        };
        try
        {
            conn.SessionOptions.ProtocolVersion = 3;
            conn.SessionOptions.ReferralChasing = ReferralChasingOptions.None;
            // On Windows the system's store decides (WinLDAP has no CA directory); elsewhere libldap
            // trusts the configured CA alone.
            if (_trustDirectory is not null && !OperatingSystem.IsWindows())
            {
                conn.SessionOptions.TrustedCertificatesDirectory = _trustDirectory;
                conn.SessionOptions.StartNewTlsSessionContext();
            }

            if (_endpoint.Ldaps)
            {
                conn.SessionOptions.SecureSocketLayer = true;
            }
            else if (_options.StartTls)
            {
                conn.SessionOptions.StartTransportLayerSecurity(null);
            }

            conn.Bind();
            return conn;
        }
        catch
        {
            conn.Dispose();
            throw;
        }
    }

    private List<SearchResultEntry> Search(LdapConnection conn, string baseDn, string filter, SearchScope scope, params string[] attributes)
    {
        var request = new SearchRequest(baseDn, filter, scope, attributes) { SizeLimit = scope == SearchScope.Base ? 1 : 1000 };
        try
        {
            var response = (SearchResponse)conn.SendRequest(request, TimeSpan.FromSeconds(Math.Max(1, _options.TimeoutSeconds)));
            return [.. response.Entries.Cast<SearchResultEntry>()];
        }
        catch (DirectoryOperationException e) when (e.Response?.ResultCode == ResultCode.NoSuchObject)
        {
            return [];
        }
    }

    private static Principal? ToPrincipal(SearchResultEntry entry)
    {
        var guid = Values(entry, "objectGUID").FirstOrDefault();
        var sidBytes = Values(entry, "objectSid").FirstOrDefault();
        var name = Strings(entry, "sAMAccountName").FirstOrDefault();
        if (guid is not { Length: 16 } || sidBytes is null || !BinarySid.TryRead(sidBytes, out var sid) || string.IsNullOrEmpty(name) || IsDisabled(entry))
        {
            return null;
        }

        var kind = Strings(entry, "objectClass").Contains("group", StringComparer.OrdinalIgnoreCase) ? PrincipalKind.Group : PrincipalKind.User;
        // mail and userPrincipalName: what a template's subject and SANs may name (issue #20.6).
        return new Principal(new Guid(guid), name, sid, kind)
        {
            Email = Strings(entry, "mail").FirstOrDefault() is { Length: > 0 } mail ? mail : null,
            Upn = Strings(entry, "userPrincipalName").FirstOrDefault() is { Length: > 0 } upn ? upn : null,
        };
    }

    private static bool IsDisabled(SearchResultEntry entry) =>
        Strings(entry, "userAccountControl").FirstOrDefault() is { } uac && int.TryParse(uac, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var flags)
        && (flags & DisabledAccount) != 0;

    private static IEnumerable<byte[]> Values(SearchResultEntry entry, string name) =>
        entry.Attributes.Contains(name) ? entry.Attributes[name].GetValues(typeof(byte[])).Cast<byte[]>() : [];

    private static IEnumerable<string> Strings(SearchResultEntry entry, string name) =>
        entry.Attributes.Contains(name) ? entry.Attributes[name].GetValues(typeof(string)).Cast<string>() : [];

    // libldap (GnuTLS on Debian) trusts every PEM in a directory it is given: the configured CA
    // alone, in a directory of its own, so that the system's roots are not trusted for the DC.
    private static string? TrustDirectory(string caFile)
    {
        if (caFile.Length == 0)
        {
            return null;
        }

        if (!File.Exists(caFile))
        {
            throw new LdapConfigurationException($"Directory:Ldap:CaFile '{caFile}' does not exist.");
        }

        var dir = Path.Combine(Path.GetTempPath(), "opencm-ldap-ca-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(dir);
        File.Copy(caFile, Path.Combine(dir, "ca.pem"));
        return dir;
    }
}

/// <summary>The LDAP settings cannot work as given: said at start, with what to fix.</summary>
public sealed class LdapConfigurationException(string message) : Exception(message);

/// <summary>Where the directory is, read from <see cref="LdapOptions.Url"/>.</summary>
internal sealed record LdapEndpoint(string Host, int Port, bool Ldaps, bool Secure, string Display)
{
    public static LdapEndpoint Parse(LdapOptions options)
    {
        if (!Uri.TryCreate(options.Url, UriKind.Absolute, out var uri) || uri.Scheme is not ("ldap" or "ldaps") || uri.Host.Length == 0)
        {
            throw new LdapConfigurationException("Directory:Ldap:Url must be ldaps://host[:port] (or ldap://host[:port] with Directory:Ldap:StartTls=true).");
        }

        var ldaps = uri.Scheme == "ldaps";
        if (!ldaps && !options.StartTls && !options.AllowPlaintext)
        {
            throw new LdapConfigurationException(
                "Directory:Ldap:Url is plain ldap:// without StartTLS: set Directory:Ldap:StartTls=true, use ldaps://, or (for a lab only) Directory:Ldap:AllowPlaintext=true.");
        }

        var port = uri.IsDefaultPort || uri.Port <= 0 ? (ldaps ? 636 : 389) : uri.Port;
        return new LdapEndpoint(uri.Host, port, ldaps, ldaps || options.StartTls, $"{uri.Scheme}://{uri.Host}:{port}");
    }
}
