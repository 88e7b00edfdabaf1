using BenchmarkDotNet.Attributes;
using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.Storage;
using OpenCM.Storage.Sqlite;

namespace OpenCM.Bench;

/// <summary>
/// Durable transitions through the SQLite store alone (compare-and-set + hash-chained audit
/// event, group commit), without HTTP: what the single writer can do, one at a time and with 64
/// concurrent writers sharing commits.
/// </summary>
[ShortRunJob]
public class WriteBenchmarks
{
    private const int Operations = 20000;
    private string _dir = null!;
    private SqliteStorage _db = null!;
    private SqlTransactions _store = null!;
    private Guid[] _ids = [];

    [Params(1, 64)]
    public int Writers { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _dir = Path.Combine(Path.GetTempPath(), "opencm-bench", "write-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
        _db = new SqliteStorage(Path.Combine(_dir, "opencm.db"));
        _db.MigrateAsync(TimeProvider.System).GetAwaiter().GetResult();
        _store = new SqlTransactions(_db);
    }

    [IterationSetup]
    public void Fresh()
    {
        _ids = new Guid[Operations];
        Parallel.For(0, Operations, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
        {
            var request = new CmRequest
            {
                Uuid = Guid.CreateVersion7(), // as RequestCreation makes them: time-ordered
                RequestType = RequestType.Enroll,
                Status = RequestStatus.Approved,
                SecurityDescriptor = "O:S-1-5-21-1-2-3-1000D:(A;;RPRC;;;S-1-5-21-1-2-3-1000)",
            };
            _ids[i] = request.Uuid;
            _store.RunAsync(async (uow, c) =>
            {
                await uow.Requests.InsertAsync(request, [], c);
                await uow.Audit.AppendAsync(Audit(request.Uuid), c);
                return 0;
            }).GetAwaiter().GetResult();
        });
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _db.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Directory.Delete(_dir, true);
    }

    // The path every request transition takes: TransitionWriter in a unit of work (compare-and-set, effects, audit).
    [Benchmark(OperationsPerInvoke = Operations, Description = "TryTransition (durable, audited)")]
    public async Task Transitions()
    {
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, Writers).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < Operations)
            {
                var id = _ids[i];
                var applied = await _store.TryRunAsync((uow, c) => TransitionWriter.TryApplyAsync(uow,
                    new RequestTransition(id, 1, RequestStatus.Approved, RequestStatus.Canceled, DateTimeOffset.UtcNow), [], Audit(id), c));
                if (applied is null)
                {
                    throw new InvalidOperationException("lost a compare-and-set that nobody raced");
                }
            }
        })));
    }

    private static AuditEvent Audit(Guid id) =>
        new("StatusChanged", id, Guid.Empty, RequestStatus.Approved, RequestStatus.Canceled, DateTimeOffset.UtcNow, "bench", "set status Canceled");
}
