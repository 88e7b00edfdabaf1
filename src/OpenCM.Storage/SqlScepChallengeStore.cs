using System.Data.Common;
using OpenCM.Application;

namespace OpenCM.Storage;

/// <summary>SCEP challenge passwords in the table <c>scep_challenges</c> (issue #24.3): one row per challenge, keyed by the SHA-256 of its secret.</summary>
public sealed class SqlScepChallengeStore : IScepChallengeStore
{
    private const string Columns = "hash, template_uuid, user_uuid, issued_by, created, expires, used, transaction_id, key_hash";
    private readonly StorageProvider _db;

    public SqlScepChallengeStore(StorageProvider db) => _db = db;

    public Task AddAsync(ScepChallenge challenge, DateTimeOffset forgetBefore, AuditEvent? audit = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(challenge);
        return _db.WriteAsync(async (tx, c) =>
        {
            // Challenges never used that expired are forgotten as new ones are issued; used ones stay, as their transactions' way back.
            await tx.ExecuteAsync("DELETE FROM scep_challenges WHERE used IS NULL AND expires < @before", c, ("@before", Sql.Ticks(forgetBefore))).ConfigureAwait(false);
            if (audit is not null)
            {
                await AuditAppender.AppendAsync(tx, _db.AuditKey, audit, c).ConfigureAwait(false);
            }

            return await tx.ExecuteAsync(
                $"INSERT INTO scep_challenges ({Columns}) VALUES (@h, @t, @u, @by, @created, @expires, NULL, NULL, NULL)", c,
                ("@h", challenge.Hash), ("@t", Sql.Text(challenge.TemplateUuid)), ("@u", Sql.Text(challenge.UserUuid)), ("@by", challenge.IssuedBy),
                ("@created", Sql.Ticks(challenge.Created)), ("@expires", Sql.Ticks(challenge.Expires))).ConfigureAwait(false);
        }, ct);
    }

    public Task<ScepChallenge?> FindAsync(string hash, CancellationToken ct = default) =>
        _db.ReadAsync((conn, c) => conn.FirstRowAsync($"SELECT {Columns} FROM scep_challenges WHERE hash = @h", Read, c, ("@h", hash)), ct);

    public async Task<bool> TryRedeemAsync(string hash, string transactionId, string keyHash, DateTimeOffset now, CancellationToken ct = default) =>
        await _db.WriteAsync((tx, c) => tx.ExecuteAsync(
            "UPDATE scep_challenges SET used = @now, transaction_id = @tid, key_hash = @key "
            + "WHERE hash = @h AND used IS NULL AND expires > @now "
            + "AND NOT EXISTS (SELECT 1 FROM scep_challenges other WHERE other.transaction_id = @tid AND other.key_hash = @key)", c,
            ("@h", hash), ("@now", Sql.Ticks(now)), ("@tid", transactionId), ("@key", keyHash)), ct).ConfigureAwait(false) == 1;

    public Task<ScepChallenge?> FindByTransactionAsync(string transactionId, string keyHash, CancellationToken ct = default) =>
        _db.ReadAsync((conn, c) => conn.FirstRowAsync(
            $"SELECT {Columns} FROM scep_challenges WHERE transaction_id = @tid AND key_hash = @key ORDER BY used DESC",
            Read, c, ("@tid", transactionId), ("@key", keyHash)), ct);

    private static ScepChallenge Read(DbDataReader r) => new(
        r.GetString(0), r.Id(1), r.Id(2), r.GetString(3), Sql.Time(r.GetInt64(4)), Sql.Time(r.GetInt64(5)),
        r.IsDBNull(6) ? null : Sql.Time(r.GetInt64(6)), r.IsDBNull(7) ? null : r.GetString(7), r.IsDBNull(8) ? null : r.GetString(8));
}
