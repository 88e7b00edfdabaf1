using System.Diagnostics.Metrics;
using Microsoft.Extensions.Time.Testing;
using OpenCM.Application;
using OpenCM.Application.Telemetry;
using OpenCM.Domain;
using OpenCM.Storage;
using OpenCM.Storage.Sqlite;
using OpenCM.TestKit;

namespace OpenCM.Server.Tests;

/// <summary>
/// Issue #21.1: metrics count what COMMITTED, on a real SQLite database: a move whose
/// compare-and-set lost, or whose unit of work was abandoned after it, is never counted.
/// </summary>
public sealed class MeteredTransactionsTests : IAsyncLifetime, IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly FakeTimeProvider _clock = new(Samples.Now.AddHours(2));
    private readonly TestMeterFactory _factory = new();
    private StorageProvider _db = null!;
    private OpenCmMetrics _metrics = null!;
    private Recorded _recorded = null!;
    private MeteredTransactions _transactions = null!;

    public async Task InitializeAsync()
    {
        _db = new SqliteStorage(_dir.File("opencm.db")) { AuditKey = Samples.AuditKey };
        await _db.MigrateAsync(Samples.Clock());
        _metrics = new OpenCmMetrics(_factory);
        _recorded = new Recorded(_metrics.Meter);
        _transactions = new MeteredTransactions(new SqlTransactions(_db), _metrics, new SqlRequestStore(_db), _clock, id => $"ca{id}");
    }

    public async Task DisposeAsync() => await _db.DisposeAsync();

    public void Dispose()
    {
        _recorded.Dispose();
        _metrics.Dispose();
        _factory.Dispose();
        _dir.Dispose();
    }

    public static TheoryData<string, long, RequestStatus> LostMoves() => new()
    {
        { "stale version", 7, RequestStatus.Pending },
        { "another status", 1, RequestStatus.Approved },
    };

    [Theory]
    [MemberData(nameof(LostMoves))]
    public async Task Transition_CompareAndSetLost_NothingCounted(string why, long version, RequestStatus from)
    {
        var request = await CreateAsync(RequestStatus.Pending);
        var moved = await _transactions.RunAsync((uow, c) => uow.Requests.TryTransitionAsync(new RequestTransition(request.Uuid, version, from, RequestStatus.Approved), c));
        Assert.False(moved, why);
        Assert.Empty(_recorded.Named("opencm.request.transitions"));
        Assert.Empty(_recorded.Named("opencm.request.approval.duration"));
    }

    [Fact]
    public async Task Transition_UnitAbandonedAfterIt_NothingCounted()
    {
        var request = await CreateAsync(RequestStatus.Pending);
        var applied = await _transactions.TryRunAsync<bool>(async (uow, c) =>
        {
            Assert.True(await uow.Requests.TryTransitionAsync(new RequestTransition(request.Uuid, 1, RequestStatus.Pending, RequestStatus.Approved), c));
            throw new WriteConflictException();
        });
        Assert.False(applied);
        Assert.Empty(_recorded.Named("opencm.request.transitions"));
        Assert.Empty(_recorded.Named("opencm.request.approval.duration"));
    }

    [Fact]
    public async Task Transition_PendingToApprovedCommitted_CountedWithTheWaitSinceSubmission()
    {
        var request = await CreateAsync(RequestStatus.Pending);
        Assert.True(await _transactions.RunAsync((uow, c) => uow.Requests.TryTransitionAsync(new RequestTransition(request.Uuid, 1, RequestStatus.Pending, RequestStatus.Approved), c)));

        var move = Assert.Single(_recorded.Named("opencm.request.transitions"));
        Assert.Equal((1d, "from=Pending,to=Approved"), (move.Value, move.Tags));
        var waited = Assert.Single(_recorded.Named("opencm.request.approval.duration"));
        Assert.Equal((_clock.GetUtcNow() - request.Submitted).TotalSeconds, waited.Value, precision: 3);
        Assert.Empty(_recorded.Named("opencm.request.age"));
        Assert.Equal("type=Enroll", Assert.Single(_recorded.Named("opencm.requests.created")).Tags);
    }

    [Fact]
    public async Task Transition_ToAFinalStatus_AgeAtCompletionByStatus()
    {
        var request = await CreateAsync(RequestStatus.Approved);
        var completed = request.Submitted.AddMinutes(90);
        Assert.True(await _transactions.RunAsync((uow, c) => uow.Requests.TryTransitionAsync(new RequestTransition(request.Uuid, 1, RequestStatus.Approved, RequestStatus.Canceled, completed), c)));
        var age = Assert.Single(_recorded.Named("opencm.request.age"));
        Assert.Equal((90 * 60d, "status=Canceled"), (age.Value, age.Tags));
        Assert.Empty(_recorded.Named("opencm.request.approval.duration"));
    }

    [Fact]
    public async Task Certificate_ReservedThenStored_CountedOnceByTemplateAndCa()
    {
        var serial = CertificateIssuance.NewSerialNumber();
        await _transactions.RunAsync(async (uow, c) =>
        {
            await uow.Certificates.ReserveAsync(new CertificateReservation(serial, Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid(), "User"), c);
            return 0;
        });
        Assert.Empty(_recorded.Named("opencm.certificates.issued"));
        var issued = new IssuedCertificate(serial, [0x30, 0x03, 0x02, 0x01, 0x01], "TP", Samples.Now, Samples.Now.AddDays(30), AuthorityId: 1);
        Assert.True(await _transactions.RunAsync((uow, c) => uow.Certificates.RecordIssuedAsync(issued, c)));
        Assert.False(await _transactions.RunAsync((uow, c) => uow.Certificates.RecordIssuedAsync(issued, c)));
        Assert.Equal("ca=ca1,template=User", Assert.Single(_recorded.Named("opencm.certificates.issued")).Tags);
    }

    private async Task<CmRequest> CreateAsync(RequestStatus status)
    {
        var request = Samples.Request(status: status) with { Version = 1 };
        await _transactions.RunAsync(async (uow, c) =>
        {
            await uow.Requests.InsertAsync(request, [], c);
            await uow.Audit.AppendAsync(Samples.Audit(request.Uuid), c);
            return 0;
        });
        return request;
    }
}

/// <summary>Meters for a test, disposed with it.</summary>
internal sealed class TestMeterFactory : IMeterFactory
{
    private readonly List<Meter> _meters = [];

    public Meter Create(MeterOptions options)
    {
        var meter = new Meter(options.Name, options.Version, options.Tags, this);
        _meters.Add(meter);
        return meter;
    }

    public void Dispose() => _meters.ForEach(m => m.Dispose());
}

/// <summary>What one meter's instruments recorded: name, value and the tags as "k=v,k=v" sorted.</summary>
internal sealed class Recorded : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly List<(string Name, double Value, string Tags)> _all = [];

    public Recorded(Meter meter)
    {
        _listener.InstrumentPublished = (i, l) =>
        {
            if (ReferenceEquals(i.Meter, meter))
            {
                l.EnableMeasurementEvents(i);
            }
        };
        _listener.SetMeasurementEventCallback<long>((i, v, t, _) => Add(i, v, t));
        _listener.SetMeasurementEventCallback<double>((i, v, t, _) => Add(i, v, t));
        _listener.SetMeasurementEventCallback<int>((i, v, t, _) => Add(i, v, t));
        _listener.Start();
    }

    /// <summary>Reads the observable instruments now.</summary>
    public void Observe() => _listener.RecordObservableInstruments();

    public IReadOnlyList<(string Name, double Value, string Tags)> Named(string name)
    {
        lock (_all)
        {
            return [.. _all.Where(r => r.Name == name)];
        }
    }

    public void Dispose() => _listener.Dispose();

    private void Add(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var text = string.Join(',', tags.ToArray().Select(t => $"{t.Key}={t.Value}").Order(StringComparer.Ordinal));
        lock (_all)
        {
            _all.Add((instrument.Name, value, text));
        }
    }
}

/// <summary>Issue #21.1: refusals and outages as the operator's alerts need them.</summary>
public sealed class RefusalAndOutageMetricsTests : IDisposable
{
    private readonly TestMeterFactory _factory = new();
    private readonly OpenCmMetrics _metrics;
    private readonly Recorded _recorded;

    public RefusalAndOutageMetricsTests()
    {
        _metrics = new OpenCmMetrics(_factory);
        _recorded = new Recorded(_metrics.Meter);
    }

    public void Dispose()
    {
        _recorded.Dispose();
        _metrics.Dispose();
        _factory.Dispose();
    }

    [Fact]
    public void Budget_OverTheBurst_RefusalCountedByLimitNotByUser()
    {
        using var budget = new Hosting.TokenBucketBudget(new Hosting.RateLimitOptions { ExpensiveBurst = 1, ExpensivePerMinute = 1, WriteBurst = 1, WritePerMinute = 1 }, _metrics);
        var caller = new Caller(Guid.NewGuid(), Samples.UserSid(1000), [], "alice");
        budget.Spend(caller, CallerCost.Expensive);
        Assert.Throws<OpenCmException>(() => budget.Spend(caller, CallerCost.Expensive));
        budget.Spend(caller, CallerCost.Write);
        Assert.Throws<OpenCmException>(() => budget.Spend(caller, CallerCost.Write));
        Assert.Equal(["limit=expensive", "limit=write"], _recorded.Named("opencm.rate_limit.refusals").Select(r => r.Tags));
    }

    [Fact]
    public void Dependency_DownTwiceWithAnUpBetween_TwoOutagesAndTheLastStateUp()
    {
        foreach (var up in new[] { true, false, false, true, false, true })
        {
            _metrics.DependencyObserved(OpenCmMetrics.Database, up);
        }

        _metrics.DependencyObserved(OpenCmMetrics.Directory, false);
        Assert.Equal(["dependency=database", "dependency=database", "dependency=directory"], _recorded.Named("opencm.dependency.outages").Select(r => r.Tags));
        _recorded.Observe();
        Assert.Equal([(1d, "dependency=database"), (0d, "dependency=directory")], _recorded.Named("opencm.dependency.up").Select(r => (r.Value, r.Tags)).OrderBy(r => r.Tags, StringComparer.Ordinal));
    }
}
