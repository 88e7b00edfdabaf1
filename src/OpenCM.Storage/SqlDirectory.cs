using System.Data.Common;
using System.Globalization;
using System.Security.Cryptography;
using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.Security.Sddl;

namespace OpenCM.Storage;

/// <summary>
/// The embedded directory: users and groups with GUIDs and SIDs in this installation's own domain
/// (a random S-1-5-21-a-b-c made on first use; relative ids from 1000 up, as Windows allocates them).
/// </summary>
public sealed class SqlDirectory : IDirectory, IDirectoryAdministration
{
    private const string Columns = "uuid, name, sid, kind";
    private readonly StorageProvider _db;
    private readonly TimeProvider _clock;

    public SqlDirectory(StorageProvider db, TimeProvider clock)
    {
        _db = db;
        _clock = clock;
    }

    /// <summary>This installation's domain SID.</summary>
    public async Task<Sid> DomainSidAsync(CancellationToken ct = default)
    {
        await using var conn = await _db.OpenReadAsync(ct).ConfigureAwait(false);
        await using var cmd = conn.Command("SELECT value FROM settings WHERE name = 'domain_sid'");
        var value = await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) as string;
        return value is null ? await CreateDomainAsync(ct).ConfigureAwait(false) : Sid.Parse(value);
    }

    public Task<Principal?> FindAsync(Guid uuid, CancellationToken ct = default) =>
        FindOneAsync("uuid = @v", Sql.Text(uuid), ct);

    public Task<Principal?> FindByNameAsync(string name, CancellationToken ct = default) =>
        FindOneAsync("name_key = @v", Key(name), ct);

    public Task<Principal?> FindBySidAsync(Sid sid, CancellationToken ct = default) =>
        FindOneAsync("sid = @v", sid.Value, ct);

    public async Task<IReadOnlyList<Principal>> GroupsOfAsync(Guid userUuid, CancellationToken ct = default)
    {
        await using var conn = await _db.OpenReadAsync(ct).ConfigureAwait(false);
        await using var cmd = conn.Command(
            "SELECT p.uuid, p.name, p.sid, p.kind FROM memberships m JOIN principals p ON p.uuid = m.group_uuid WHERE m.user_uuid = @u ORDER BY p.name",
            ("@u", Sql.Text(userUuid)));
        return await ReadAllAsync(cmd, ct).ConfigureAwait(false);
    }

    public async Task<Principal> AddUserAsync(string name, IReadOnlyList<string> groups, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(groups);
        var domain = await DomainSidAsync(ct).ConfigureAwait(false);
        return await _db.WriteAsync(async (tx, c) =>
        {
            if (await FindInAsync(tx, Key(name), c).ConfigureAwait(false) is not null)
            {
                throw new OpenCmException(DomainError.Validation("name", $"A principal named '{name}' already exists."));
            }

            var user = await InsertAsync(tx, domain, name, PrincipalKind.User, c).ConfigureAwait(false);
            foreach (var groupName in groups.Distinct(StringComparer.OrdinalIgnoreCase))
            {
                var group = await FindInAsync(tx, Key(groupName), c).ConfigureAwait(false)
                    ?? await InsertAsync(tx, domain, groupName, PrincipalKind.Group, c).ConfigureAwait(false);
                if (group.Kind != PrincipalKind.Group)
                {
                    throw new OpenCmException(DomainError.Validation("group", $"'{groupName}' is a user, not a group."));
                }

                await tx.ExecuteAsync("INSERT INTO memberships (user_uuid, group_uuid) VALUES (@u, @g)", c,
                    ("@u", Sql.Text(user.Uuid)), ("@g", Sql.Text(group.Uuid))).ConfigureAwait(false);
            }

            return user;
        }, ct).ConfigureAwait(false);
    }

    public async Task<Principal> EnsureGroupAsync(string name, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var domain = await DomainSidAsync(ct).ConfigureAwait(false);
        return await _db.WriteAsync(async (tx, c) =>
            await FindInAsync(tx, Key(name), c).ConfigureAwait(false)
            ?? await InsertAsync(tx, domain, name, PrincipalKind.Group, c).ConfigureAwait(false), ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<DirectoryUser>> ListUsersAsync(CancellationToken ct = default)
    {
        await using var conn = await _db.OpenReadAsync(ct).ConfigureAwait(false);
        await using var cmd = conn.Command($"SELECT {Columns} FROM principals WHERE kind = @k ORDER BY name", ("@k", (int)PrincipalKind.User));
        var users = await ReadAllAsync(cmd, ct).ConfigureAwait(false);
        var result = new List<DirectoryUser>(users.Count);
        foreach (var u in users)
        {
            result.Add(new DirectoryUser(u, await GroupsOfAsync(u.Uuid, ct).ConfigureAwait(false)));
        }

        return result;
    }

    public Task<bool> RemoveUserAsync(Guid user, CancellationToken ct = default) => _db.WriteAsync(async (tx, c) =>
    {
        await tx.ExecuteAsync("DELETE FROM memberships WHERE user_uuid = @u", c, ("@u", Sql.Text(user))).ConfigureAwait(false);
        var removed = await tx.ExecuteAsync("DELETE FROM principals WHERE uuid = @u AND kind = @k", c, ("@u", Sql.Text(user)), ("@k", (int)PrincipalKind.User)).ConfigureAwait(false) == 1;
        if (removed)
        {
            await AuditAppender.AppendAsync(tx, new AuditEvent("UserRemoved", user, Guid.Empty, RequestStatus.None, RequestStatus.None, _clock.GetUtcNow(), "", ""), c).ConfigureAwait(false);
        }

        return removed;
    }, ct);

    public Task<bool> SetPasswordHashAsync(Guid user, string hash, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(hash);
        return _db.WriteAsync(async (tx, c) =>
        {
            var set = await tx.ExecuteAsync("UPDATE principals SET password_hash = @h WHERE uuid = @u AND kind = @k", c,
                ("@h", hash), ("@u", Sql.Text(user)), ("@k", (int)PrincipalKind.User)).ConfigureAwait(false) == 1;
            if (set)
            {
                await AuditAppender.AppendAsync(tx, new AuditEvent("PasswordSet", user, Guid.Empty, RequestStatus.None, RequestStatus.None, _clock.GetUtcNow(), "", ""), c).ConfigureAwait(false);
            }

            return set;
        }, ct);
    }

    public Task<string?> PasswordHashAsync(Guid user, CancellationToken ct = default) =>
        _db.ReadAsync((conn, c) => conn.FirstRowAsync("SELECT password_hash FROM principals WHERE uuid = @v AND kind = " + (int)PrincipalKind.User,
            r => r.IsDBNull(0) ? null : r.GetString(0), c, ("@v", Sql.Text(user))), ct);

    public Task<bool> RemoveMembershipAsync(Guid user, Guid group, CancellationToken ct = default) => _db.WriteAsync(async (tx, c) =>
    {
        var removed = await tx.ExecuteAsync("DELETE FROM memberships WHERE user_uuid = @u AND group_uuid = @g", c,
            ("@u", Sql.Text(user)), ("@g", Sql.Text(group))).ConfigureAwait(false) == 1;
        if (removed)
        {
            await AuditAppender.AppendAsync(tx, new AuditEvent("MembershipRemoved", user, Guid.Empty, RequestStatus.None, RequestStatus.None, _clock.GetUtcNow(), "",
                $"group={group:D}"), c).ConfigureAwait(false);
        }

        return removed;
    }, ct);

    private async Task<Sid> CreateDomainAsync(CancellationToken ct)
    {
        // Three random sub-authorities, like a Windows machine or domain SID.
        var parts = Enumerable.Range(0, 3).Select(_ => ((uint)RandomNumberGenerator.GetInt32(1, int.MaxValue)).ToString(CultureInfo.InvariantCulture));
        var candidate = "S-1-5-21-" + string.Join('-', parts);
        return await _db.WriteAsync(async (tx, c) =>
        {
            await tx.ExecuteAsync("INSERT INTO settings (name, value) VALUES ('domain_sid', @v) ON CONFLICT (name) DO NOTHING", c, ("@v", candidate)).ConfigureAwait(false);
            return Sid.Parse(await tx.ScalarAsync<string>("SELECT value FROM settings WHERE name = 'domain_sid'", c).ConfigureAwait(false));
        }, ct).ConfigureAwait(false);
    }

    private async Task<Principal> InsertAsync(DbTransaction tx, Sid domain, string name, PrincipalKind kind, CancellationToken ct)
    {
        var rid = await tx.ScalarAsync<long>("UPDATE counters SET value = value + 1 WHERE name = 'rid' RETURNING value", ct).ConfigureAwait(false);
        var principal = new Principal(Guid.NewGuid(), name.Trim(), Sid.InDomain(domain, (uint)rid), kind);
        await tx.ExecuteAsync("INSERT INTO principals (uuid, kind, name, name_key, sid, created) VALUES (@u, @k, @n, @nk, @s, @t)", ct,
            ("@u", Sql.Text(principal.Uuid)), ("@k", (int)kind), ("@n", principal.Name), ("@nk", Key(name)),
            ("@s", principal.Sid.Value), ("@t", Sql.Ticks(_clock.GetUtcNow()))).ConfigureAwait(false);
        await AuditAppender.AppendAsync(tx, new AuditEvent(kind == PrincipalKind.User ? "UserAdded" : "GroupAdded", principal.Uuid, Guid.Empty,
            RequestStatus.None, RequestStatus.None, _clock.GetUtcNow(), "", $"name={principal.Name} sid={principal.Sid}"), ct).ConfigureAwait(false);
        return principal;
    }

    private static async Task<Principal?> FindInAsync(DbTransaction tx, string key, CancellationToken ct)
    {
        await using var cmd = tx.Command($"SELECT {Columns} FROM principals WHERE name_key = @v", ("@v", key));
        var all = await ReadAllAsync(cmd, ct).ConfigureAwait(false);
        return all.Count == 0 ? null : all[0];
    }

    // Read by every certificatedata and request creation (the subject's user): on a lent connection with the statement kept prepared.
    private Task<Principal?> FindOneAsync(string where, string value, CancellationToken ct) =>
        _db.ReadAsync((conn, c) => conn.FirstRowAsync($"SELECT {Columns} FROM principals WHERE {where}", Read, c, ("@v", value)), ct);

    private static async Task<IReadOnlyList<Principal>> ReadAllAsync(DbCommand cmd, CancellationToken ct)
    {
        var list = new List<Principal>();
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
        {
            list.Add(Read(r));
        }

        return list;
    }

    private static Principal Read(DbDataReader r) => new(r.Id(0), r.GetString(1), Sid.Parse(r.GetString(2)), (PrincipalKind)r.GetInt32(3));

    // Names are unique regardless of case, as Windows account names are.
    private static string Key(string name) => name.Trim().ToUpperInvariant();
}
