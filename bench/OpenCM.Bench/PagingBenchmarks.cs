using BenchmarkDotNet.Attributes;
using Microsoft.Data.Sqlite;
using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.Security.Sddl;
using OpenCM.Storage;
using OpenCM.Storage.Sqlite;

namespace OpenCM.Bench;

/// <summary>
/// GET /requests paging cost at 10 thousand and 1 million stored requests, through the use case
/// (reader-index scan, fetch, exact access check). The keyset design should make the two sizes cost
/// the same per page, for the first page and a deep one alike.
/// </summary>
[MemoryDiagnoser]
[ShortRunJob]
public class PagingBenchmarks
{
    private const int Users = 1000;
    private const int Top = 100;
    private static readonly Sid Domain = Sid.Parse("S-1-5-21-7-7-7");
    private static readonly Sid Managers = Sid.InDomain(Domain, 512);
    private SqliteStorage _db = null!;
    private RequestQueries _service = null!;
    private Caller _user = null!;
    private Caller _manager = null!;

    [Params(10_000, 1_000_000)]
    public int Rows { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var path = Path.Combine(Path.GetTempPath(), "opencm-bench", $"paging-{Rows}.db");
        if (!File.Exists(path))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            Populate(path, Rows);
        }

        _db = new SqliteStorage(path);
        _service = new RequestQueries(new SqlRequestStore(_db), new OpenCmOptions());
        _user = new Caller(Guid.NewGuid(), Sid.InDomain(Domain, 1000 + 7), [], "user7");
        _manager = new Caller(Guid.NewGuid(), Sid.InDomain(Domain, 99_999), [Managers], "manager");
    }

    [GlobalCleanup]
    public void Cleanup() => _db.DisposeAsync().AsTask().GetAwaiter().GetResult();

    [Benchmark(Description = "user: first page")]
    public Task<RequestListPage> UserFirstPage() => _service.ListAsync(_user, new RequestListFilter(null, null, 0, Top));

    [Benchmark(Description = "user: page at 90%")]
    public Task<RequestListPage> UserDeepPage() => _service.ListAsync(_user, new RequestListFilter(null, null, Rows * 9L / 10, Top));

    [Benchmark(Description = "manager: first page")]
    public Task<RequestListPage> ManagerFirstPage() => _service.ListAsync(_manager, new RequestListFilter(null, null, 0, Top));

    [Benchmark(Description = "manager: page at 90%")]
    public Task<RequestListPage> ManagerDeepPage() => _service.ListAsync(_manager, new RequestListFilter(null, null, Rows * 9L / 10, Top));

    [Benchmark(Description = "manager: status=Pending (1 in 10)")]
    public Task<RequestListPage> ManagerStatusFilter() => _service.ListAsync(_manager, new RequestListFilter(RequestStatus.Pending, null, 0, Top));

    // Rows as the product writes them: each request readable by its originator (one of 1,000 users) and the managers.
    private static void Populate(string path, int rows)
    {
        var storage = new SqliteStorage(path);
        storage.MigrateAsync(TimeProvider.System).GetAwaiter().GetResult();
        storage.DisposeAsync().AsTask().GetAwaiter().GetResult();

        using var conn = new SqliteConnection($"Data Source={path};Pooling=False");
        conn.Open();
        using var tx = conn.BeginTransaction();
        using var insert = conn.CreateCommand();
        insert.Transaction = tx;
        insert.CommandText =
            "INSERT INTO requests (seq, uuid, type, status, flags, data_collection, data_collection_flags, originator, target, submitted, completed, " +
            "new_profile, old_profile, new_card, old_card, priority, comment, template, descriptor, data_complete, approvals_needed, votes, version) " +
            "VALUES ($seq, $uuid, 1, $status, 0, '[]', 32, $user, $user, $t, NULL, $z, $z, $z, $z, 0, '', $z, $sd, 1, 0, '[]', 1)";
        using var reader = conn.CreateCommand();
        reader.Transaction = tx;
        reader.CommandText = "INSERT INTO request_readers (sid, seq) VALUES ($sid, $seq)";
        var p = new Dictionary<string, SqliteParameter>();
        foreach (var name in new[] { "$seq", "$uuid", "$status", "$user", "$t", "$z", "$sd" })
        {
            p[name] = insert.Parameters.Add(new SqliteParameter { ParameterName = name });
        }

        var rsid = reader.Parameters.Add(new SqliteParameter { ParameterName = "$sid" });
        var rseq = reader.Parameters.Add(new SqliteParameter { ParameterName = "$seq" });
        p["$z"].Value = Guid.Empty.ToString("D");
        for (var i = 1; i <= rows; i++)
        {
            var user = Sid.InDomain(Domain, (uint)(1000 + (i % Users)));
            p["$seq"].Value = i;
            p["$uuid"].Value = Guid.NewGuid().ToString("D");
            p["$status"].Value = i % 10 == 0 ? (int)RequestStatus.Pending : (int)RequestStatus.Completed;
            p["$user"].Value = Guid.NewGuid().ToString("D");
            p["$t"].Value = DateTime.UtcNow.Ticks;
            p["$sd"].Value = $"O:{user}D:(A;;0x301ff;;;{Managers})(A;;LCSWRPSDRC;;;{user})";
            insert.ExecuteNonQuery();
            foreach (var sid in new[] { user, Managers })
            {
                rsid.Value = sid.Value;
                rseq.Value = i;
                reader.ExecuteNonQuery();
            }
        }

        tx.Commit();
    }
}
