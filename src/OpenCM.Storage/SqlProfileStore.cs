using System.Data.Common;
using OpenCM.Application;
using OpenCM.Domain;

namespace OpenCM.Storage;

/// <summary>Software profiles and their certificates in SQL, for reading (reserved serials, not signed yet, are left out).</summary>
public sealed class SqlProfileStore : IProfileStore
{
    private const string ProfileColumns = "uuid, template, template_version, user_uuid, parent_uuid, status, request_uuid, created, smartcard_uuid";
    private const string CertificateColumns = "serial, request_uuid, profile_uuid, user_uuid, template, der, thumbprint, not_before, not_after, status";
    private readonly StorageProvider _db;

    public SqlProfileStore(StorageProvider db) => _db = db;

    public async Task<StoredProfile?> FindAsync(Guid id, CancellationToken ct = default)
    {
        var found = await ProfilesAsync("uuid = @v", Sql.Text(id), null, ct).ConfigureAwait(false);
        return found.Count == 0 ? null : found[0];
    }

    public Task<IReadOnlyList<StoredProfile>> ForUserAsync(Guid user, ProfileStatus? status, CancellationToken ct = default) =>
        ProfilesAsync("user_uuid = @v", Sql.Text(user), status, ct);

    public Task<IReadOnlyList<StoredProfile>> ForRequestAsync(Guid request, CancellationToken ct = default) =>
        ProfilesAsync("request_uuid = @v", Sql.Text(request), null, ct);

    public Task<IReadOnlyList<StoredProfile>> ForSmartcardAsync(Guid card, CancellationToken ct = default) =>
        ProfilesAsync("smartcard_uuid = @v", Sql.Text(card), null, ct);

    public Task<IReadOnlyList<StoredCertificate>> CertificatesOfProfileAsync(Guid profile, CancellationToken ct = default) =>
        CertificatesAsync("profile_uuid = @v", Sql.Text(profile), ct);

    public Task<IReadOnlyList<StoredCertificate>> CertificatesOfUserAsync(Guid user, CancellationToken ct = default) =>
        CertificatesAsync("user_uuid = @v", Sql.Text(user), ct);

    public async Task<StoredCertificate?> CertificateBySerialAsync(string serialHex, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(serialHex);
        var found = await CertificatesAsync("serial = @v", serialHex.ToUpperInvariant(), ct).ConfigureAwait(false);
        return found.Count == 0 ? null : found[0];
    }

    public async Task<string?> ArchivedKeyAsync(string serialHex, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(serialHex);
        // On the provider's read path, so a database that stops answering mid-read is Unavailable (503), not an untyped error.
        return await _db.ReadAsync<string?>(async (conn, c) =>
        {
            await using var cmd = conn.Command("SELECT value FROM archived_keys WHERE serial = @s", ("@s", serialHex.ToUpperInvariant()));
            return await cmd.ExecuteScalarAsync(c).ConfigureAwait(false) as string;
        }, ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlySet<string>> ArchivedSerialsAsync(IReadOnlyCollection<string> serials, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(serials);
        var found = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        if (serials.Count == 0)
        {
            return found;
        }

        var names = serials.Select((_, i) => $"@s{i}").ToArray();
        // On the provider's read path, so a database that stops answering mid-read is Unavailable (503), not an untyped error.
        return await _db.ReadAsync<IReadOnlySet<string>>(async (conn, c) =>
        {
            await using var cmd = conn.Command($"SELECT serial FROM archived_keys WHERE serial IN ({string.Join(',', names)})",
                [.. serials.Select((s, i) => (names[i], (object?)s.ToUpperInvariant()))]);
            await using var r = await cmd.ExecuteReaderAsync(c).ConfigureAwait(false);
            while (await r.ReadAsync(c).ConfigureAwait(false))
            {
                found.Add(r.GetString(0));
            }

            return found;
        }, ct).ConfigureAwait(false);
    }

    private async Task<IReadOnlyList<StoredProfile>> ProfilesAsync(string where, string value, ProfileStatus? status, CancellationToken ct)
    {
        // On the provider's read path, so a database that stops answering mid-read is Unavailable (503), not an untyped error.
        return await _db.ReadAsync<IReadOnlyList<StoredProfile>>(async (conn, c) =>
        {
            await using var cmd = conn.Command(
                $"SELECT {ProfileColumns} FROM profiles WHERE {where}{(status is null ? "" : " AND status = @st")} ORDER BY created, uuid",
                ("@v", value), ("@st", status is { } s ? (int)s : null));
            await using var r = await cmd.ExecuteReaderAsync(c).ConfigureAwait(false);
            var list = new List<StoredProfile>();
            while (await r.ReadAsync(c).ConfigureAwait(false))
            {
                list.Add(new StoredProfile(r.Id(0), r.Id(1), r.GetInt32(2), r.Id(3), r.Id(4), (ProfileStatus)r.GetInt32(5), r.Id(6), Sql.Time(r.GetInt64(7)), r.Id(8)));
            }

            return list;
        }, ct).ConfigureAwait(false);
    }

    private async Task<IReadOnlyList<StoredCertificate>> CertificatesAsync(string where, string value, CancellationToken ct)
    {
        // On the provider's read path, so a database that stops answering mid-read is Unavailable (503), not an untyped error.
        return await _db.ReadAsync<IReadOnlyList<StoredCertificate>>(async (conn, c) =>
        {
            await using var cmd = conn.Command($"SELECT {CertificateColumns} FROM certificates WHERE {where} AND der IS NOT NULL ORDER BY not_before, serial", ("@v", value));
            await using var r = await cmd.ExecuteReaderAsync(c).ConfigureAwait(false);
            var list = new List<StoredCertificate>();
            while (await r.ReadAsync(c).ConfigureAwait(false))
            {
                list.Add(Read(r));
            }

            return list;
        }, ct).ConfigureAwait(false);
    }

    private static StoredCertificate Read(DbDataReader r) => new(
        new IssuedCertificate(r.GetString(0), (byte[])r[5], r.GetString(6), Sql.Time(r.GetInt64(7)), Sql.Time(r.GetInt64(8))),
        r.Id(1), r.Id(2), r.Id(3), r.GetString(4), (CertificateStatus)r.GetInt32(9));
}
