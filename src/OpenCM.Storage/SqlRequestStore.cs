using System.Data.Common;
using System.Text.Json;
using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.Security.Sddl;

namespace OpenCM.Storage;

/// <summary>Reading requests in SQL; writes are the unit of work's (<see cref="SqlUnitOfWork"/>). The same SQL runs on every provider.</summary>
public sealed class SqlRequestStore : IRequestStore
{
    private const string Columns =
        "seq, uuid, type, status, flags, data_collection, data_collection_flags, originator, target, submitted, completed, " +
        "new_profile, old_profile, new_card, old_card, priority, comment, template, descriptor, data_complete, approvals_needed, votes, version";

    /// <summary>The columns an insert names: all but the sequence the database assigns.</summary>
    internal static readonly string InsertColumns = Columns[5..];

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.General);
    private readonly StorageProvider _db;

    public SqlRequestStore(StorageProvider db) => _db = db;

    // The hottest read of the API (every GET, PUT and vote starts with it): on a lent connection with the statement kept prepared.
    public Task<CmRequest?> FindAsync(Guid id, CancellationToken ct = default) =>
        _db.ReadAsync((conn, c) => conn.FirstRowAsync($"SELECT {Columns} FROM requests WHERE uuid = @id", r => Read(r).Request, c, ("@id", Sql.Text(id))), ct);

    public async Task<IReadOnlyList<StoredRequest>> ListAsync(RequestQuery query, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        // On the provider's read path, so a database that stops answering mid-read is Unavailable (503), not an untyped error.
        return await _db.ReadAsync<IReadOnlyList<StoredRequest>>(async (conn, c) =>
        {

            // 1. One ordered index range scan per SID of the caller's token, each stopping at the limit.
            var filter = (query.Status is null ? "" : " AND r.status = @st") + (query.TargetUser is null ? "" : " AND r.target = @tu");
            var join = filter.Length == 0 ? "" : " JOIN requests r ON r.seq = rr.seq";
            // Newest first walks the same (sid, seq) index backwards, from before the position given.
            var (bound, order) = query.NewestFirst ? ("rr.seq < @after", "DESC") : ("rr.seq > @after", "");
            var after = query.NewestFirst && query.After <= 0 ? long.MaxValue : query.After;
            var seqs = new SortedSet<long>(query.NewestFirst ? Comparer<long>.Create((a, b) => b.CompareTo(a)) : Comparer<long>.Default);
            foreach (var sid in query.ReaderSids)
            {
                await using var cmd = conn.Command(
                    $"SELECT rr.seq FROM request_readers rr{join} WHERE rr.sid = @sid AND {bound}{filter} ORDER BY rr.seq {order} LIMIT @limit",
                    ("@sid", sid.Value), ("@after", after), ("@limit", query.Limit),
                    ("@st", query.Status is { } st ? (int)st : null), ("@tu", query.TargetUser is { } tu ? Sql.Text(tu) : null));
                await using var r = await cmd.ExecuteReaderAsync(c).ConfigureAwait(false);
                while (await r.ReadAsync(c).ConfigureAwait(false))
                {
                    seqs.Add(r.GetInt64(0));
                }
            }

            // 2. The first `limit` of their union, fetched in one query.
            var wanted = seqs.Take(query.Limit).ToArray();
            if (wanted.Length == 0)
            {
                return [];
            }

            var names = wanted.Select((_, i) => $"@s{i}").ToArray();
            await using var fetch = conn.Command(
                $"SELECT {Columns} FROM requests WHERE seq IN ({string.Join(',', names)}) ORDER BY seq {order}",
                [.. wanted.Select((s, i) => (names[i], (object?)s))]);
            await using var rows = await fetch.ExecuteReaderAsync(c).ConfigureAwait(false);
            var list = new List<StoredRequest>(wanted.Length);
            while (await rows.ReadAsync(c).ConfigureAwait(false))
            {
                list.Add(Read(rows));
            }

            return list;
        }, ct).ConfigureAwait(false);
    }

    private static StoredRequest Read(DbDataReader r) => new(r.GetInt64(0), new CmRequest
    {
        Uuid = r.Id(1),
        RequestType = (RequestType)r.GetInt32(2),
        Status = (RequestStatus)r.GetInt32(3),
        Flags = (RequestFlags)r.GetInt32(4),
        DataCollection = JsonSerializer.Deserialize<List<DataItem>>(r.GetString(5), Json) ?? [],
        DataCollectionFlags = r.GetInt32(6),
        OriginatorUserUuid = r.Id(7),
        TargetUserUuid = r.Id(8),
        Submitted = Sql.Time(r.GetInt64(9)),
        Completed = r.IsDBNull(10) ? null : Sql.Time(r.GetInt64(10)),
        NewProfileUuid = r.Id(11),
        OldProfileUuid = r.Id(12),
        NewSmartcardUuid = r.Id(13),
        OldSmartcardUuid = r.Id(14),
        Priority = r.GetInt32(15),
        Comment = r.GetString(16),
        ProfileTemplateUuid = r.Id(17),
        SecurityDescriptor = r.GetString(18),
        IsDataCollectionComplete = r.GetInt32(19) != 0,
        ApprovalsNeeded = r.GetInt32(20),
        Votes = JsonSerializer.Deserialize<List<ApprovalVote>>(r.GetString(21), Json) ?? [],
        Version = r.GetInt64(22),
    });
}
