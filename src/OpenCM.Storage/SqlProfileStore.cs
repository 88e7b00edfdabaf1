using OpenCM.Application;
using OpenCM.Domain;

namespace OpenCM.Storage;

/// <summary>Software profiles and their certificates, for reading (writes happen inside request transitions).</summary>
public sealed class SqlProfileStore
{
    private readonly StorageProvider _db;

    public SqlProfileStore(StorageProvider db) => _db = db;

    public async Task<StoredProfile?> FindAsync(Guid id, CancellationToken ct = default)
    {
        await using var conn = await _db.OpenReadAsync(ct).ConfigureAwait(false);
        await using var cmd = conn.Command("SELECT uuid, template, user_uuid, status, request_uuid, created FROM profiles WHERE uuid = @u", ("@u", Sql.Text(id)));
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        return await r.ReadAsync(ct).ConfigureAwait(false)
            ? new StoredProfile(r.Id(0), r.Id(1), r.Id(2), (ProfileStatus)r.GetInt32(3), r.Id(4), Sql.Time(r.GetInt64(5)))
            : null;
    }

    public async Task<IReadOnlyList<(string SerialHex, CertificateStatus Status)>> CertificatesAsync(Guid profileId, CancellationToken ct = default)
    {
        await using var conn = await _db.OpenReadAsync(ct).ConfigureAwait(false);
        await using var cmd = conn.Command("SELECT serial, status FROM certificates WHERE profile_uuid = @p ORDER BY serial", ("@p", Sql.Text(profileId)));
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        var list = new List<(string, CertificateStatus)>();
        while (await r.ReadAsync(ct).ConfigureAwait(false))
        {
            list.Add((r.GetString(0), (CertificateStatus)r.GetInt32(1)));
        }

        return list;
    }

    /// <summary>The sealed private key archived for a certificate, if its key was server-generated.</summary>
    public async Task<string?> ArchivedKeyAsync(string serialHex, CancellationToken ct = default)
    {
        await using var conn = await _db.OpenReadAsync(ct).ConfigureAwait(false);
        await using var cmd = conn.Command("SELECT value FROM archived_keys WHERE serial = @s", ("@s", serialHex.ToUpperInvariant()));
        return await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) as string;
    }
}
