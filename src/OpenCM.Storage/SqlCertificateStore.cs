using OpenCM.Application;

namespace OpenCM.Storage;

/// <summary>Revocations and CRL numbering in SQL (certificates are written by the unit of work).</summary>
public sealed class SqlCertificateStore : ICertificateStore
{
    private readonly StorageProvider _db;

    public SqlCertificateStore(StorageProvider db) => _db = db;

    public async Task<IReadOnlyList<RevokedCertificate>> ListRevokedAsync(int authorityId, CancellationToken ct = default)
    {
        // On the provider's read path, so a database that stops answering mid-read is Unavailable (503), not an untyped error.
        return await _db.ReadAsync<IReadOnlyList<RevokedCertificate>>(async (conn, c) =>
        {
            await using var cmd = conn.Command(
                "SELECT serial, revoked_at, revocation_reason FROM certificates WHERE revoked_at IS NOT NULL AND (ca_id = @ca OR ca_id IS NULL) ORDER BY revoked_at, serial",
                ("@ca", authorityId));
            await using var r = await cmd.ExecuteReaderAsync(c).ConfigureAwait(false);
            var list = new List<RevokedCertificate>();
            while (await r.ReadAsync(c).ConfigureAwait(false))
            {
                list.Add(new RevokedCertificate(r.GetString(0), Sql.Time(r.GetInt64(1)), r.IsDBNull(2) ? 0 : r.GetInt32(2)));
            }

            return list;
        }, ct).ConfigureAwait(false);
    }

    public async Task<SerialStatus?> FindStatusAsync(string serialHex, CancellationToken ct = default)
    {
        // By the primary key: one indexed read, so an OCSP flood of distinct serials stays cheap.
        return await _db.ReadAsync(async (conn, c) =>
        {
            await using var cmd = conn.Command("SELECT status, revoked_at, revocation_reason, ca_id FROM certificates WHERE serial = @serial", ("@serial", serialHex));
            await using var r = await cmd.ExecuteReaderAsync(c).ConfigureAwait(false);
            return await r.ReadAsync(c).ConfigureAwait(false)
                ? new SerialStatus((CertificateStatus)r.GetInt32(0), r.IsDBNull(1) ? null : Sql.Time(r.GetInt64(1)), r.IsDBNull(2) ? 0 : r.GetInt32(2), r.IsDBNull(3) ? null : r.GetInt32(3))
                : null;
        }, ct).ConfigureAwait(false);
    }

    public Task<long> NextCrlNumberAsync(CancellationToken ct = default) =>
        _db.WriteAsync((tx, c) => tx.ScalarAsync<long>("UPDATE counters SET value = value + 1 WHERE name = 'crl' RETURNING value", c), ct);
}
