using System.Data.Common;
using OpenCM.Application;

namespace OpenCM.Storage;

/// <summary>Issued certificates and their revocations in SQL.</summary>
public sealed class SqlCertificateStore : ICertificateStore
{
    private const string Columns = "serial, request_uuid, profile_uuid, user_uuid, template, der, thumbprint, not_before, not_after, status";
    private readonly StorageProvider _db;

    public SqlCertificateStore(StorageProvider db) => _db = db;

    public async Task<IReadOnlyList<RevokedCertificate>> ListRevokedAsync(CancellationToken ct = default)
    {
        await using var conn = await _db.OpenReadAsync(ct).ConfigureAwait(false);
        await using var cmd = conn.Command("SELECT serial, revoked_at, revocation_reason FROM certificates WHERE revoked_at IS NOT NULL ORDER BY revoked_at, serial");
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        var list = new List<RevokedCertificate>();
        while (await r.ReadAsync(ct).ConfigureAwait(false))
        {
            list.Add(new RevokedCertificate(r.GetString(0), Sql.Time(r.GetInt64(1)), r.IsDBNull(2) ? 0 : r.GetInt32(2)));
        }

        return list;
    }

    public Task<long> NextCrlNumberAsync(CancellationToken ct = default) =>
        _db.WriteAsync((tx, c) => tx.ScalarAsync<long>("UPDATE counters SET value = value + 1 WHERE name = 'crl' RETURNING value", c), ct);

    /// <summary>Records an issued certificate inside the caller's transaction (its request's execution step).</summary>
    public static Task InsertAsync(DbTransaction tx, StoredCertificate certificate, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return tx.ExecuteAsync(
            $"INSERT INTO certificates ({Columns}, revoked_at, revocation_reason) VALUES (@s, @r, @p, @u, @t, @der, @th, @nb, @na, @st, NULL, NULL)", ct,
            ("@s", certificate.SerialHex.ToUpperInvariant()), ("@r", Sql.Text(certificate.RequestUuid)), ("@p", Sql.Text(certificate.ProfileUuid)),
            ("@u", Sql.Text(certificate.UserUuid)), ("@t", certificate.Template), ("@der", certificate.Der), ("@th", certificate.Thumbprint),
            ("@nb", Sql.Ticks(certificate.NotBefore)), ("@na", Sql.Ticks(certificate.NotAfter)), ("@st", (int)certificate.Status));
    }

    /// <summary>Revokes a certificate inside the caller's transaction; false when it was already revoked or is unknown.</summary>
    public static async Task<bool> RevokeAsync(DbTransaction tx, string serialHex, DateTimeOffset at, int reason, CancellationToken ct) =>
        await tx.ExecuteAsync(
            "UPDATE certificates SET status = @st, revoked_at = @at, revocation_reason = @why WHERE serial = @s AND revoked_at IS NULL", ct,
            ("@st", (int)CertificateStatus.Revoked), ("@at", Sql.Ticks(at)), ("@why", reason), ("@s", serialHex.ToUpperInvariant())).ConfigureAwait(false) == 1;
}
