using System.Diagnostics.Metrics;
using OpenCM.Domain;

namespace OpenCM.Application.Telemetry;

/// <summary>
/// OpenCM's instruments (issue #21.1): one <see cref="Meter"/> named <see cref="MeterName"/>,
/// made through the host's <see cref="IMeterFactory"/>. Every label is from a closed set (a
/// request type or status, a template or CA name an administrator configured, a key backend, a
/// dependency): never a user, serial, id, token or PIN. Callers record only what was committed;
/// the database-derived gauges read <see cref="Observed"/>, which a sampler refreshes (cached,
/// so a scrape storm costs no database work).
/// </summary>
public sealed class OpenCmMetrics : IDisposable
{
    public const string MeterName = "OpenCM";

    /// <summary>The statuses the queue gauge reports: the requests that still wait for someone.</summary>
    public static readonly IReadOnlyList<RequestStatus> QueueStatuses = [RequestStatus.Pending, RequestStatus.Approved, RequestStatus.Executing];

    /// <summary>The dependencies whose outages are counted.</summary>
    public const string Database = "database";

    /// <summary>The directory (embedded or Active Directory).</summary>
    public const string Directory = "directory";

    private readonly Counter<long> _created;
    private readonly Counter<long> _transitions;
    private readonly Histogram<double> _approval;
    private readonly Histogram<double> _age;
    private readonly Counter<long> _issued;
    private readonly Histogram<double> _signing;
    private readonly Counter<long> _signingErrors;
    private readonly Counter<long> _crlBuilt;
    private readonly Counter<long> _ocsp;
    private readonly Counter<long> _rateLimited;
    private readonly Counter<long> _outages;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, double> _crlNextUpdate = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DateTimeOffset> _crlBuiltAt = new(StringComparer.Ordinal);
    private readonly Dictionary<string, bool> _up = new(StringComparer.Ordinal);
    private double? _ocspNextUpdate;

    public OpenCmMetrics(IMeterFactory factory)
    {
        ArgumentNullException.ThrowIfNull(factory);
        Meter = factory.Create(MeterName);
        _created = Meter.CreateCounter<long>("opencm.requests.created", "{request}", "Requests created, by type.");
        _transitions = Meter.CreateCounter<long>("opencm.request.transitions", "{transition}", "Committed request status changes, by from and to status.");
        _approval = Meter.CreateHistogram<double>("opencm.request.approval.duration", "s", "Time from submission to Approved, for requests that waited in Pending.");
        _age = Meter.CreateHistogram<double>("opencm.request.age", "s", "A request's age when it reached its final status, by that status.");
        _issued = Meter.CreateCounter<long>("opencm.certificates.issued", "{certificate}", "Certificates signed and stored, by certificate template and CA.");
        _signing = Meter.CreateHistogram<double>("opencm.signing.duration", "s", "Time the CA key took to sign a certificate, by key backend and CA.");
        _signingErrors = Meter.CreateCounter<long>("opencm.signing.errors", "{error}", "Signatures the CA key refused or failed, by key backend and CA.");
        _crlBuilt = Meter.CreateCounter<long>("opencm.crl.built", "{crl}", "CRLs built and signed, by CA.");
        _ocsp = Meter.CreateCounter<long>("opencm.ocsp.responses", "{response}", "OCSP answers, by response status.");
        _rateLimited = Meter.CreateCounter<long>("opencm.rate_limit.refusals", "{refusal}", "Calls refused by a rate limit, by limit.");
        _outages = Meter.CreateCounter<long>("opencm.dependency.outages", "{outage}", "Times a dependency was seen going down, by dependency.");
        Meter.CreateObservableGauge("opencm.requests", ObserveQueue, "{request}", "Requests waiting now, by status (Pending, Approved, Executing), read from the database.");
        Meter.CreateObservableGauge("opencm.certificates.expiring", ObserveExpiring, "{certificate}", "Certificates in use that expire within the next 30 days, read from the database.");
        Meter.CreateObservableGauge("opencm.crl.next_update.timestamp", ObserveCrlNextUpdate, "s", "nextUpdate of each CA's newest CRL, as Unix seconds.");
        Meter.CreateObservableGauge("opencm.ocsp.next_update.timestamp", ObserveOcspNextUpdate, "s", "nextUpdate of the newest OCSP answer, as Unix seconds.");
        Meter.CreateObservableGauge("opencm.dependency.up", ObserveUp, "{state}", "1 while a dependency answered when last asked, 0 while it did not, by dependency.");
    }

    /// <summary>The meter (for a listener that must tell it from other containers' meters of the same name).</summary>
    public Meter Meter { get; }

    /// <summary>The database-derived state the gauges report; replaced whole by a sampler.</summary>
    public ObservedState? Observed { get; set; }

    /// <summary>Asked when a gauge is observed; a sampler hooks it to refresh <see cref="Observed"/> when it is stale.</summary>
    public Action? Observing { get; set; }

    public void RequestCreated(RequestType type) => _created.Add(1, new KeyValuePair<string, object?>("type", type.ToString()));

    public void Transition(RequestStatus from, RequestStatus to) =>
        _transitions.Add(1, new KeyValuePair<string, object?>("from", from.ToString()), new KeyValuePair<string, object?>("to", to.ToString()));

    public void Approved(TimeSpan waited) => _approval.Record(Math.Max(0, waited.TotalSeconds));

    public void Ended(RequestStatus status, TimeSpan age) => _age.Record(Math.Max(0, age.TotalSeconds), new KeyValuePair<string, object?>("status", status.ToString()));

    public void CertificateIssued(string template, string ca) =>
        _issued.Add(1, new KeyValuePair<string, object?>("template", template), new KeyValuePair<string, object?>("ca", ca));

    public void SignatureTimed(string backend, string ca, TimeSpan took) =>
        _signing.Record(took.TotalSeconds, new KeyValuePair<string, object?>("backend", backend), new KeyValuePair<string, object?>("ca", ca));

    public void SigningFailed(string backend, string ca) =>
        _signingErrors.Add(1, new KeyValuePair<string, object?>("backend", backend), new KeyValuePair<string, object?>("ca", ca));

    /// <summary>
    /// A CA's CRL as it was served: a CRL is built only when it is fetched (CrlPublisher), so one
    /// with a newer thisUpdate than the last seen for <paramref name="ca"/> is one built.
    /// </summary>
    public void CrlPublished(string ca, DateTimeOffset builtAt, DateTimeOffset nextUpdate)
    {
        lock (_gate)
        {
            if (_crlBuiltAt.TryGetValue(ca, out var last) && last >= builtAt)
            {
                return;
            }

            _crlBuiltAt[ca] = builtAt;
            _crlNextUpdate[ca] = nextUpdate.ToUnixTimeSeconds();
        }

        _crlBuilt.Add(1, new KeyValuePair<string, object?>("ca", ca));
    }

    public void OcspAnswered(string status, DateTimeOffset? nextUpdate)
    {
        _ocsp.Add(1, new KeyValuePair<string, object?>("status", status));
        if (nextUpdate is { } next)
        {
            lock (_gate)
            {
                _ocspNextUpdate = Math.Max(_ocspNextUpdate ?? 0, next.ToUnixTimeSeconds());
            }
        }
    }

    /// <summary>A call refused by <paramref name="limit"/> (expensive, write, signin).</summary>
    public void RateLimited(string limit) => _rateLimited.Add(1, new KeyValuePair<string, object?>("limit", limit));

    /// <summary>What a probe of <paramref name="dependency"/> found; a fall from up (or from unknown) to down counts one outage.</summary>
    public void DependencyObserved(string dependency, bool up)
    {
        bool wasUp;
        lock (_gate)
        {
            wasUp = !_up.TryGetValue(dependency, out var before) || before;
            _up[dependency] = up;
        }

        if (wasUp && !up)
        {
            _outages.Add(1, new KeyValuePair<string, object?>("dependency", dependency));
        }
    }

    public void Dispose() => Meter.Dispose();

    private IEnumerable<Measurement<long>> ObserveQueue()
    {
        Observing?.Invoke();
        if (Observed is not { } state)
        {
            return [];
        }

        return QueueStatuses.Select(s => new Measurement<long>(state.Queue.GetValueOrDefault(s), new KeyValuePair<string, object?>("status", s.ToString())));
    }

    private IEnumerable<Measurement<long>> ObserveExpiring()
    {
        Observing?.Invoke();
        return Observed is { } state ? [new Measurement<long>(state.ExpiringCertificates)] : [];
    }

    private IEnumerable<Measurement<double>> ObserveCrlNextUpdate()
    {
        lock (_gate)
        {
            return [.. _crlNextUpdate.Select(p => new Measurement<double>(p.Value, new KeyValuePair<string, object?>("ca", p.Key)))];
        }
    }

    private IEnumerable<Measurement<double>> ObserveOcspNextUpdate()
    {
        lock (_gate)
        {
            return _ocspNextUpdate is { } next ? [new Measurement<double>(next)] : [];
        }
    }

    private IEnumerable<Measurement<int>> ObserveUp()
    {
        lock (_gate)
        {
            return [.. _up.Select(p => new Measurement<int>(p.Value ? 1 : 0, new KeyValuePair<string, object?>("dependency", p.Key)))];
        }
    }
}

/// <summary>What the database said when last asked: the queue by status, and the certificates expiring soon.</summary>
public sealed record ObservedState(IReadOnlyDictionary<RequestStatus, long> Queue, long ExpiringCertificates, DateTimeOffset At);
