using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenCM.Application;
using OpenCM.Bench.Seed;
using OpenCM.Composition;
using OpenCM.Domain;
using OpenCM.Security.Sddl;
using OpenCM.TestKit;

namespace OpenCM.Bench.Seed.Tests;

/// <summary>
/// The seeding tool of the scale benchmark (issue #25) writes what the server would: the audit
/// chain verifies as <c>opencm audit verify</c> checks it, every request reads back through the
/// request store, and the ids it hands the benchmark are the ones it says.
/// </summary>
public sealed class SeederTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private SeedOptions Options(long count, int batch) => new(Path.Combine(_dir.Path, "data"), count)
    {
        Initialize = true,
        Batch = batch,
        Users = 7,
        IdsDirectory = Path.Combine(_dir.Path, "ids"),
        GetSample = 50,
    };

    // The composition `opencm audit verify` opens a data directory with (the key from master.key).
    private ServiceProvider OpenAsCli()
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["OpenCM:DataDirectory"] = Path.Combine(_dir.Path, "data") })
            .Build();
        return new ServiceCollection().AddSingleton<IConfiguration>(configuration).AddOpenCmCore().BuildServiceProvider();
    }

    [Theory]
    [InlineData(1, 100)] // one request: a batch of one
    [InlineData(250, 100)] // full batches and a partial last one
    [InlineData(300, 10_000)] // one batch holding everything
    public async Task Seed_FreshDataDirectory_AuditChainVerifies(long count, int batch)
    {
        var result = await Seeder.RunAsync(Options(count, batch));

        await using var services = OpenAsCli();
        await OpenCmComposition.StartAsync(services);
        var verification = await AuditChain.VerifyAsync(services.GetRequiredService<IAuditLog>(), services.GetRequiredService<AuditChainKey>());
        Assert.True(verification.IsIntact, $"broken at {verification.FirstBad}: {verification.Reason}");
        Assert.Equal(count, result.Requests);
        Assert.Equal(count, result.ByStatus.Values.Sum());

        // Every seeded request's events are in the chain: created first, then one per transition.
        Assert.Equal(result.AuditEvents, await CountAsync("SELECT COUNT(*) FROM audit_events WHERE kind IN ('RequestCreated', 'StatusChanged')"));
        Assert.Equal(count, await CountAsync("SELECT COUNT(*) FROM requests"));
    }

    [Fact]
    public async Task Seed_TwiceIntoOneDataDirectory_ChainStillVerifiesAndCountsAdd()
    {
        await Seeder.RunAsync(Options(120, 50));
        await Seeder.RunAsync(Options(80, 50) with { Initialize = false });

        await using var services = OpenAsCli();
        await OpenCmComposition.StartAsync(services);
        Assert.True((await AuditChain.VerifyAsync(services.GetRequiredService<IAuditLog>(), services.GetRequiredService<AuditChainKey>())).IsIntact);
        Assert.Equal(200, await CountAsync("SELECT COUNT(*) FROM requests WHERE comment = ''"));
    }

    [Fact]
    public async Task Seed_Requests_ReadBackAsTheServerStoresThem()
    {
        var result = await Seeder.RunAsync(Options(400, 64));

        await using var services = OpenAsCli();
        await OpenCmComposition.StartAsync(services);
        var requests = services.GetRequiredService<IRequestStore>();
        var audit = services.GetRequiredService<IAuditLog>();

        // The benchmark's PUT ids: each cancellable request once, each Pending or Approved.
        var cancellable = Directory.GetFiles(Path.Combine(_dir.Path, "ids"), "ids-*.txt").SelectMany(File.ReadAllLines).Select(Guid.Parse).ToList();
        Assert.Equal(cancellable.Count, cancellable.Distinct().Count());
        Assert.Equal(result.ByStatus[RequestStatus.Pending] + result.ByStatus[RequestStatus.Approved], cancellable.Count);
        foreach (var id in cancellable)
        {
            var request = await requests.FindAsync(id);
            Assert.NotNull(request);
            Assert.Contains(request.Status, new[] { RequestStatus.Pending, RequestStatus.Approved });
        }

        // The GET ids: requests that exist, with a descriptor that parses, an owner, and their life in the audit log.
        var sample = File.ReadAllLines(Path.Combine(_dir.Path, "ids", "get-ids.txt")).Select(Guid.Parse).ToList();
        Assert.NotEmpty(sample);
        foreach (var id in sample)
        {
            var request = await requests.FindAsync(id);
            Assert.NotNull(request);
            Assert.Equal(request.OriginatorUserUuid, SecurityDescriptor.Parse(request.SecurityDescriptor).Owner is { } owner
                ? (await services.GetRequiredService<IDirectory>().FindBySidAsync(owner))?.Uuid : null);
            var events = await audit.ForSubjectAsync(id);
            Assert.Equal("RequestCreated", events[0].Event.Kind);
            Assert.Equal(request.Status, events[^1].Event.NewStatus);
            Assert.Equal(request.Version, events.Count);
        }

        // Owners are spread over the users, times over the years before the pinned end, none later.
        Assert.True(await CountAsync("SELECT COUNT(DISTINCT originator) FROM requests") > 1);
        var until = new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero).UtcTicks;
        Assert.Equal(0, await CountAsync($"SELECT COUNT(*) FROM requests WHERE submitted > {until} OR completed > {until}"));
    }

    private async Task<long> CountAsync(string sql)
    {
        await using var conn = new SqliteConnection($"Data Source={Path.Combine(_dir.Path, "data", "opencm.db")};Mode=ReadOnly;Pooling=false");
        await conn.OpenAsync();
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        return (long)(await cmd.ExecuteScalarAsync())!;
    }
}
