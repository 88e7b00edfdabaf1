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
/// Reads only: changes are <see cref="DirectoryAdministration"/>'s, in a unit of work (<see cref="IDirectoryWrites"/>).
/// </summary>
public sealed class SqlDirectory : IDirectory, IDirectoryAdministration
{
    private const string Columns = "uuid, name, sid, kind, email, upn";
    private readonly StorageProvider _db;

    public SqlDirectory(StorageProvider db) => _db = db;

    /// <summary>This installation's domain SID.</summary>
    public async Task<Sid> DomainSidAsync(CancellationToken ct = default)
    {
        // On the provider's read path, so a database that stops answering mid-read is Unavailable (503), not an untyped error.
        return await _db.ReadAsync<Sid>(async (conn, c) =>
        {
            await using var cmd = conn.Command("SELECT value FROM settings WHERE name = 'domain_sid'");
            var value = await cmd.ExecuteScalarAsync(c).ConfigureAwait(false) as string;
            return value is null ? await _db.WriteAsync((tx, c) => DomainSidAsync(tx, c), c).ConfigureAwait(false) : Sid.Parse(value);
        }, ct).ConfigureAwait(false);
    }

    public Task<Principal?> FindAsync(Guid uuid, CancellationToken ct = default) =>
        FindOneAsync("uuid = @v", Sql.Text(uuid), ct);

    public Task<Principal?> FindByNameAsync(string name, CancellationToken ct = default) =>
        FindOneAsync("name_key = @v", Key(name), ct);

    public Task<Principal?> FindBySidAsync(Sid sid, CancellationToken ct = default) =>
        FindOneAsync("sid = @v", sid.Value, ct);

    public async Task<IReadOnlyList<Principal>> GroupsOfAsync(Guid userUuid, CancellationToken ct = default)
    {
        // On the provider's read path, so a database that stops answering mid-read is Unavailable (503), not an untyped error.
        return await _db.ReadAsync<IReadOnlyList<Principal>>(async (conn, c) =>
        {
            await using var cmd = conn.Command(
                "SELECT p.uuid, p.name, p.sid, p.kind, p.email, p.upn FROM memberships m JOIN principals p ON p.uuid = m.group_uuid WHERE m.user_uuid = @u ORDER BY p.name",
                ("@u", Sql.Text(userUuid)));
            return await ReadAllAsync(cmd, c).ConfigureAwait(false);
        }, ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<Principal>> UsersNamedByAsync(Sid sid, int max, CancellationToken ct = default)
    {
        // The embedded directory has no nested groups: a user by its SID, or a group's direct members.
        return await _db.ReadAsync<IReadOnlyList<Principal>>(async (conn, c) =>
        {
            await using var cmd = conn.Command(
                $"SELECT {Columns} FROM principals WHERE kind = @k AND (sid = @s OR uuid IN " +
                "(SELECT m.user_uuid FROM memberships m JOIN principals g ON g.uuid = m.group_uuid WHERE g.sid = @s)) ORDER BY name LIMIT @max",
                ("@k", (int)PrincipalKind.User), ("@s", sid.Value), ("@max", Math.Max(0, max)));
            return await ReadAllAsync(cmd, c).ConfigureAwait(false);
        }, ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<DirectoryUser>> ListUsersAsync(CancellationToken ct = default)
    {
        // On the provider's read path, so a database that stops answering mid-read is Unavailable (503), not an untyped error.
        return await _db.ReadAsync<IReadOnlyList<DirectoryUser>>(async (conn, c) =>
        {
            await using var cmd = conn.Command($"SELECT {Columns} FROM principals WHERE kind = @k ORDER BY name", ("@k", (int)PrincipalKind.User));
            var users = await ReadAllAsync(cmd, c).ConfigureAwait(false);
            var result = new List<DirectoryUser>(users.Count);
            foreach (var u in users)
            {
                result.Add(new DirectoryUser(u, await GroupsOfAsync(u.Uuid, c).ConfigureAwait(false)));
            }

            return result;
        }, ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<Principal>> UsersNamedLikeAsync(string part, int max, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(part);
        // LIKE with its wildcards escaped, on the lower-cased name: case-insensitive in both providers (PostgreSQL's LIKE is not).
        var pattern = "%" + part.ToLowerInvariant().Replace("\\", "\\\\", StringComparison.Ordinal).Replace("%", "\\%", StringComparison.Ordinal).Replace("_", "\\_", StringComparison.Ordinal) + "%";
        return await _db.ReadAsync<IReadOnlyList<Principal>>(async (conn, c) =>
        {
            await using var cmd = conn.Command(
                $"SELECT {Columns} FROM principals WHERE kind = @k AND LOWER(name) LIKE @p ESCAPE '\\' ORDER BY name LIMIT @max",
                ("@k", (int)PrincipalKind.User), ("@p", pattern), ("@max", Math.Max(0, max)));
            return await ReadAllAsync(cmd, c).ConfigureAwait(false);
        }, ct).ConfigureAwait(false);
    }

    public Task<string?> PasswordHashAsync(Guid user, CancellationToken ct = default) =>
        _db.ReadAsync((conn, c) => conn.FirstRowAsync("SELECT password_hash FROM principals WHERE uuid = @v AND kind = " + (int)PrincipalKind.User,
            r => r.IsDBNull(0) ? null : r.GetString(0), c, ("@v", Sql.Text(user))), ct);

    /// <summary>This installation's domain SID, read inside <paramref name="tx"/>; made on first use.</summary>
    internal static async Task<Sid> DomainSidAsync(DbTransaction tx, CancellationToken ct)
    {
        if (await tx.FirstRowAsync("SELECT value FROM settings WHERE name = 'domain_sid'", r => r.GetString(0), ct).ConfigureAwait(false) is { } value)
        {
            return Sid.Parse(value);
        }

        // Three random sub-authorities, like a Windows machine or domain SID; the first writer's stays.
        var parts = Enumerable.Range(0, 3).Select(_ => ((uint)RandomNumberGenerator.GetInt32(1, int.MaxValue)).ToString(CultureInfo.InvariantCulture));
        await tx.ExecuteAsync("INSERT INTO settings (name, value) VALUES ('domain_sid', @v) ON CONFLICT (name) DO NOTHING", ct, ("@v", "S-1-5-21-" + string.Join('-', parts))).ConfigureAwait(false);
        return Sid.Parse(await tx.ScalarAsync<string>("SELECT value FROM settings WHERE name = 'domain_sid'", ct).ConfigureAwait(false));
    }

    /// <summary>A principal by name, read inside <paramref name="tx"/>.</summary>
    internal static async Task<Principal?> FindInAsync(DbTransaction tx, string name, CancellationToken ct)
    {
        // A command of its own: what the transaction held back (DeferredStatements) goes first.
        await DeferredStatements.FlushAsync(tx, ct).ConfigureAwait(false);
        await using var cmd = tx.Command($"SELECT {Columns} FROM principals WHERE name_key = @v", ("@v", Key(name)));
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

    private static Principal Read(DbDataReader r) => new(r.Id(0), r.GetString(1), Sid.Parse(r.GetString(2)), (PrincipalKind)r.GetInt32(3))
    {
        Email = r.IsDBNull(4) ? null : r.GetString(4),
        Upn = r.IsDBNull(5) ? null : r.GetString(5),
    };

    // Names are unique regardless of case, as Windows account names are.
    internal static string Key(string name) => name.Trim().ToUpperInvariant();
}
