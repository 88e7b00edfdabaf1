using System.Data.Common;
using OpenCM.Application;
using OpenCM.Domain;

namespace OpenCM.Storage;

/// <summary>Smart cards in SQL, for reading.</summary>
public sealed class SqlSmartcardStore : ISmartcardStore
{
    private const string Columns = "uuid, card_id, atr, status, user_uuid, template, template_version, request_uuid, parent_uuid, permanent_uuid, created, primary_uuid, key_generation";
    private readonly StorageProvider _db;

    public SqlSmartcardStore(StorageProvider db) => _db = db;

    public Task<StoredSmartcard?> FindAsync(Guid uuid, CancellationToken ct = default) => FindOneAsync("uuid = @v", Sql.Text(uuid), ct);

    public Task<StoredSmartcard?> FindByCardIdAsync(string cardId, CancellationToken ct = default) =>
        FindOneAsync("card_id = @v AND status <> " + (int)SmartcardStatus.Retired, cardId, ct);

    public Task<StoredSmartcard?> LastByCardIdAsync(string cardId, CancellationToken ct = default) =>
        _db.ReadAsync((conn, c) => conn.FirstRowAsync(
            $"SELECT {Columns} FROM smartcards WHERE card_id = @v ORDER BY key_generation DESC, created DESC, uuid DESC LIMIT 1", Read, c, ("@v", cardId)), ct);

    public async Task<IReadOnlyList<StoredSmartcard>> ForUserAsync(Guid user, CancellationToken ct = default)
    {
        // On the provider's read path, so a database that stops answering mid-read is Unavailable (503), not an untyped error.
        return await _db.ReadAsync<IReadOnlyList<StoredSmartcard>>(async (conn, c) =>
        {
            await using var cmd = conn.Command($"SELECT {Columns} FROM smartcards WHERE user_uuid = @u ORDER BY created, uuid", ("@u", Sql.Text(user)));
            await using var r = await cmd.ExecuteReaderAsync(c).ConfigureAwait(false);
            var list = new List<StoredSmartcard>();
            while (await r.ReadAsync(c).ConfigureAwait(false))
            {
                list.Add(Read(r));
            }

            return list;
        }, ct).ConfigureAwait(false);
    }

    private Task<StoredSmartcard?> FindOneAsync(string where, string value, CancellationToken ct) =>
        _db.ReadAsync((conn, c) => conn.FirstRowAsync($"SELECT {Columns} FROM smartcards WHERE {where}", Read, c, ("@v", value)), ct);

    private static StoredSmartcard Read(DbDataReader r) => new(
        r.Id(0), r.GetString(1), r.GetString(2), (SmartcardStatus)r.GetInt32(3), r.Id(4), r.Id(5), r.GetInt32(6), r.Id(7), r.Id(8), r.Id(9), Sql.Time(r.GetInt64(10)), r.Id(11), r.GetInt32(12));
}
