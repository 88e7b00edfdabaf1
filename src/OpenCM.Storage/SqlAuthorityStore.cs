using System.Data.Common;
using OpenCM.Application;

namespace OpenCM.Storage;

/// <summary>The CAs this server holds, read in SQL (issue #20.1); the unit of work writes them.</summary>
public sealed class SqlAuthorityStore : IAuthorityStore
{
    internal const string Columns = "id, name, slug, state, key_ref, subject, certificate, chain, publication, created, activated";
    private readonly StorageProvider _db;

    public SqlAuthorityStore(StorageProvider db) => _db = db;

    public async Task<IReadOnlyList<StoredAuthority>> ListAsync(CancellationToken ct = default) =>
        await _db.ReadAsync<IReadOnlyList<StoredAuthority>>(async (conn, c) =>
        {
            await using var cmd = conn.Command($"SELECT {Columns} FROM certificate_authorities ORDER BY id");
            await using var r = await cmd.ExecuteReaderAsync(c).ConfigureAwait(false);
            var list = new List<StoredAuthority>();
            while (await r.ReadAsync(c).ConfigureAwait(false))
            {
                list.Add(Read(r));
            }

            return list;
        }, ct).ConfigureAwait(false);

    internal static StoredAuthority Read(DbDataReader r) => new(
        r.GetInt32(0), r.GetString(1), r.GetString(2), (AuthorityState)r.GetInt32(3), r.GetString(4), r.GetString(5),
        r.IsDBNull(6) ? null : (byte[])r.GetValue(6), r.IsDBNull(7) ? null : (byte[])r.GetValue(7), r.IsDBNull(8) ? null : r.GetString(8),
        Sql.Time(r.GetInt64(9)), r.IsDBNull(10) ? null : Sql.Time(r.GetInt64(10)));
}
