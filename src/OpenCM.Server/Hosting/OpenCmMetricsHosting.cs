using System.Diagnostics;
using System.Diagnostics.Metrics;
using OpenCM.Application;
using OpenCM.Application.Telemetry;
using OpenCM.Authority;
using Prometheus;

namespace OpenCM.Server.Hosting;

/// <summary>Metrics settings (configuration section <c>Metrics</c>; docs/operations.md "Metrics").</summary>
public sealed class MetricsOptions
{
    public const string Section = "Metrics";

    /// <summary>
    /// Where /metrics is served, e.g. <c>http://127.0.0.1:9464</c> (several separated by ';'):
    /// a management address of its own, never the API's. Empty (the default): no metrics are served,
    /// and nothing is measured beyond the instruments' no-op calls.
    /// </summary>
    public string? Urls { get; set; }

    /// <summary>How long the database-derived gauges (queue, expiring certificates) are reused before the database is asked again, in seconds.</summary>
    public int RefreshSeconds { get; set; } = 5;

    /// <summary>The window of <c>opencm_certificates_expiring</c>, in days.</summary>
    public int ExpiringWithinDays { get; set; } = 30;

    /// <summary>Pushing the same metrics to an OpenTelemetry collector (section <c>Metrics:Otlp</c>); off by default.</summary>
    public MetricsOtlpOptions Otlp { get; set; } = new();

    /// <summary>Whether anything is measured: a Prometheus address, an OTLP endpoint, or both.</summary>
    public bool Enabled => Addresses().Count > 0 || Otlp.Target() is not null;

    /// <summary>The addresses to listen on, or none when metrics are off; anything but absolute http(s) URLs is refused.</summary>
    public IReadOnlyList<string> Addresses()
    {
        var urls = (Urls ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var url in urls)
        {
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps) || uri.AbsolutePath != "/")
            {
                throw new ConfigurationRefusedException(
                    $"Metrics:Urls must be absolute http(s) addresses without a path, separated by ';' (e.g. http://127.0.0.1:9464); '{url}' is not.");
            }
        }

        return urls;
    }
}

/// <summary>OTLP export settings (configuration section <c>Metrics:Otlp</c>).</summary>
public sealed class MetricsOtlpOptions
{
    /// <summary>
    /// The collector's OTLP/HTTP metrics URL, e.g. <c>http://otel-collector:4318/v1/metrics</c>
    /// (protobuf over HTTP). Empty (the default): no export.
    /// </summary>
    public string? Endpoint { get; set; }

    /// <summary>How often the metrics are pushed, in seconds.</summary>
    public int IntervalSeconds { get; set; } = 60;

    /// <summary>The endpoint, or null when export is off; anything but an absolute http(s) URL is refused.</summary>
    public Uri? Target() =>
        string.IsNullOrWhiteSpace(Endpoint) ? null
        : Uri.TryCreate(Endpoint.Trim(), UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps) ? uri
        : throw new ConfigurationRefusedException($"Metrics:Otlp:Endpoint must be an absolute http(s) URL (e.g. http://otel-collector:4318/v1/metrics); '{Endpoint}' is not.");
}

/// <summary>
/// Metrics for Prometheus (issue #21.1): OpenCM's meter (<see cref="OpenCmMetrics"/>) and the
/// ASP.NET Core, Kestrel and runtime meters, served at /metrics on <c>Metrics:Urls</c> only, by
/// a small listener of its own. The public API never answers /metrics (its fallback 404s), and its
/// address settings (urls, Kestrel endpoints, TLS) are neither read nor changed here.
/// </summary>
public static class OpenCmMetricsHosting
{
    public static WebApplicationBuilder AddOpenCmMetrics(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        var options = builder.Configuration.GetSection(MetricsOptions.Section).Get<MetricsOptions>() ?? new MetricsOptions();
        services.AddSingleton(options);

        // Always there (instruments nobody listens to cost a branch), so any component may record.
        services.AddSingleton<OpenCmMetrics>();
        if (!options.Enabled)
        {
            return builder;
        }

        // Committed request and certificate writes, counted around the storage's unit of work.
        if (services.LastOrDefault(d => d.ServiceType == typeof(ITransactions)) is { } storage)
        {
            services.Add(ServiceDescriptor.Singleton<ITransactions>(sp => new MeteredTransactions(
                Resolve<ITransactions>(sp, storage), sp.GetRequiredService<OpenCmMetrics>(), sp.GetRequiredService<IRequestStore>(), sp.GetRequiredService<TimeProvider>(),
                id => sp.GetRequiredService<CertificateAuthorities>().All.FirstOrDefault(a => a.Id == id)?.Slug ?? "unknown")));
        }

        services.AddSingleton<MetricsSampler>();
        if (options.Addresses().Count > 0)
        {
            services.AddSingleton<MetricsListener>();
            services.AddHostedService(sp => sp.GetRequiredService<MetricsListener>());
        }

        if (options.Otlp.Target() is { } otlp)
        {
            // The same instruments, pushed: OpenCM's meter and the host's (ASP.NET Core, Kestrel).
            // The database gauges are refreshed in the background when an export reads them stale.
            services.AddHostedService<MetricsSamplerHook>();
            services.AddOpenTelemetry().WithMetrics(m => OpenTelemetry.Metrics.OtlpMetricExporterExtensions.AddOtlpExporter(
                m.AddMeter(OpenCmMetrics.MeterName, "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel", "Microsoft.AspNetCore.Routing",
                    "Microsoft.AspNetCore.Authentication", "Microsoft.AspNetCore.Authorization", "Microsoft.AspNetCore.RateLimiting", "Microsoft.AspNetCore.Diagnostics"),
                (exporter, reader) =>
                {
                    exporter.Endpoint = otlp;
                    exporter.Protocol = OpenTelemetry.Exporter.OtlpExportProtocol.HttpProtobuf;
                    reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = Math.Max(1, options.Otlp.IntervalSeconds) * 1000;
                }));
        }

        return builder;
    }

    // The service a descriptor registered, built as the container would have.
    private static T Resolve<T>(IServiceProvider sp, ServiceDescriptor d)
        where T : class =>
        (T)(d.ImplementationInstance ?? d.ImplementationFactory?.Invoke(sp) ?? ActivatorUtilities.CreateInstance(sp, d.ImplementationType!));
}

/// <summary>
/// The database-derived gauges' values, read at most once per <see cref="MetricsOptions.RefreshSeconds"/>
/// whatever the number of scrapers, one read at a time; a database that does not answer is an outage.
/// </summary>
internal sealed class MetricsSampler : IDisposable
{
    private readonly IOperationalCounts _counts;
    private readonly OpenCmMetrics _metrics;
    private readonly TimeProvider _clock;
    private readonly MetricsOptions _options;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private long _readAt;

    public MetricsSampler(IOperationalCounts counts, OpenCmMetrics metrics, TimeProvider clock, MetricsOptions options)
    {
        _counts = counts;
        _metrics = metrics;
        _clock = clock;
        _options = options;
    }

    public async Task RefreshIfStaleAsync(CancellationToken ct)
    {
        if (Fresh())
        {
            return;
        }

        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (Fresh())
            {
                return;
            }

            // Cache age on the monotonic clock (tests pin the TimeProvider); the window on the TimeProvider.
            var now = _clock.GetUtcNow();
            try
            {
                var queue = await _counts.CountOpenRequestsAsync(ct).ConfigureAwait(false);
                var expiring = await _counts.CountCertificatesExpiringAsync(now, now.AddDays(Math.Max(1, _options.ExpiringWithinDays)), ct).ConfigureAwait(false);
                _metrics.Observed = new ObservedState(queue, expiring, now);
                _metrics.DependencyObserved(OpenCmMetrics.Database, up: true);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // The last values stay; the outage is what this scrape reports.
                _metrics.DependencyObserved(OpenCmMetrics.Database, up: false);
            }

            Volatile.Write(ref _readAt, Stopwatch.GetTimestamp());
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Starts a refresh when the values are stale, without waiting for it (an observer cannot wait: the values it reads now are the last ones).</summary>
    public void RefreshInBackground()
    {
        if (!Fresh())
        {
            _ = Task.Run(async () =>
            {
                try
                {
                    await RefreshIfStaleAsync(CancellationToken.None).ConfigureAwait(false);
                }
                catch (ObjectDisposedException)
                {
                    // The server stopped meanwhile.
                }
            });
        }
    }

    public void Dispose() => _gate.Dispose();

    private bool Fresh()
    {
        var at = Volatile.Read(ref _readAt);
        return at != 0 && Stopwatch.GetElapsedTime(at) < TimeSpan.FromSeconds(Math.Max(0, _options.RefreshSeconds));
    }
}

/// <summary>Lets an OTLP export, which reads the gauges on its own schedule, refresh the database-derived ones when they are stale.</summary>
internal sealed class MetricsSamplerHook(OpenCmMetrics metrics, MetricsSampler sampler) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        metrics.Observing = sampler.RefreshInBackground;
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        metrics.Observing = null;
        return Task.CompletedTask;
    }
}

/// <summary>The management listener: its own Kestrel on <c>Metrics:Urls</c>, answering GET /metrics and 404 to anything else.</summary>
internal sealed partial class MetricsListener : IHostedService, IAsyncDisposable
{
    private readonly MetricsOptions _options;
    private readonly MetricsSampler _sampler;
    private readonly OpenCmMetrics _metrics;
    private readonly IMeterFactory _meters;
    private readonly ILogger<MetricsListener> _log;
    private readonly CollectorRegistry _registry = Prometheus.Metrics.NewCustomRegistry();
    private readonly List<IDisposable> _adapters = [];
    private WebApplication? _app;

    public MetricsListener(MetricsOptions options, MetricsSampler sampler, OpenCmMetrics metrics, IMeterFactory meters, ILogger<MetricsListener> log)
    {
        _options = options;
        _sampler = sampler;
        _metrics = metrics;
        _meters = meters;
        _log = log;
    }

    /// <summary>The addresses it listens on once started (a port 0 resolved).</summary>
    public IReadOnlyList<string> Addresses { get; private set; } = [];

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        // OpenCM's meter with Prometheus' conventions (counters as counters, _total, _seconds);
        // the host's other meters (ASP.NET Core, Kestrel, routing, rate limiting) through
        // prometheus-net's adapter, which shows every instrument as a gauge or histogram. Meters
        // made by this container's factory only: tests run several servers in one process.
        _adapters.Add(new OpenCmMeterExport(_metrics.Meter, _registry));
        _adapters.Add(MeterAdapter.StartListening(new MeterAdapterOptions
        {
            // Both: with the registry alone the adapter still creates its metrics through the
            // default factory, in the process-wide registry, and this one shows none of them.
            Registry = _registry,
            MetricFactory = Prometheus.Metrics.WithCustomRegistry(_registry),
            InstrumentFilterPredicate = i => i.Meter.Name != OpenCmMetrics.MeterName && ReferenceEquals(i.Meter.Scope, _meters),
        }));

        // The process (CPU, memory, GC, threads) in Prometheus' own names: the runtime's
        // process-wide System.Runtime meter names gauges *_count, which promtool refuses.
        DotNetStats.Register(_registry);

        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().UseUrls([.. _options.Addresses()]);
        _app = builder.Build();
        _app.Use(async (http, next) =>
        {
            if (!HttpMethods.IsGet(http.Request.Method) || http.Request.Path != "/metrics")
            {
                http.Response.StatusCode = StatusCodes.Status404NotFound;
                return;
            }

            await _sampler.RefreshIfStaleAsync(http.RequestAborted).ConfigureAwait(false);
            await next(http).ConfigureAwait(false);
        });
        _app.UseMetricServer("/metrics", _registry);
        await _app.StartAsync(cancellationToken).ConfigureAwait(false);
        Addresses = [.. _app.Urls];
        LogListening(_log, string.Join(", ", Addresses.Select(a => a.TrimEnd('/') + "/metrics")));
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_app is not null)
        {
            await _app.StopAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var adapter in _adapters)
        {
            adapter.Dispose();
        }

        if (_app is not null)
        {
            await _app.DisposeAsync().ConfigureAwait(false);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Metrics are served at {Addresses}.")]
    private static partial void LogListening(ILogger logger, string addresses);
}

/// <summary>
/// OpenCM's own meter into a prometheus-net registry by Prometheus' naming rules: the instrument
/// name with '_' for '.', <c>_seconds</c> for unit s, <c>_total</c> on counters, which stay counters
/// (prometheus-net's generic adapter makes every .NET counter a gauge, which promtool refuses with
/// a _total name). Label names are the tags' keys, sorted.
/// </summary>
internal sealed class OpenCmMeterExport : IDisposable
{
    private static readonly Dictionary<string, double[]> Buckets = new(StringComparer.Ordinal)
    {
        // Approvals take minutes to days.
        ["opencm.request.approval.duration"] = [60, 300, 900, 1800, 3600, 4 * 3600, 8 * 3600, 86400, 3 * 86400, 7 * 86400],

        // A request ends in a second (no approval) or after weeks.
        ["opencm.request.age"] = [1, 10, 60, 300, 3600, 8 * 3600, 86400, 7 * 86400, 30 * 86400],

        // A software key signs in a millisecond; an HSM in tens of milliseconds, or seconds when it struggles.
        ["opencm.signing.duration"] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    };

    private readonly Meter _meter;
    private readonly MetricFactory _factory;
    private readonly MeterListener _listener = new();

    public OpenCmMeterExport(Meter meter, CollectorRegistry registry)
    {
        _meter = meter;
        _factory = Prometheus.Metrics.WithCustomRegistry(registry);
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter, _meter))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<int>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Record(i, v, tags));
        _listener.Start();
        registry.AddBeforeCollectCallback(() => _listener.RecordObservableInstruments());
    }

    public void Dispose() => _listener.Dispose();

    /// <summary>The Prometheus name of an instrument of OpenCM's meter.</summary>
    public static string NameOf(Instrument instrument) =>
        instrument.Name.Replace('.', '_') + (instrument.Unit == "s" ? "_seconds" : "") + (IsCounter(instrument) ? "_total" : "");

    private static bool IsCounter(Instrument instrument) => instrument is Counter<long> or Counter<int> or Counter<double>;

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var pairs = tags.ToArray();
        Array.Sort(pairs, (a, b) => string.CompareOrdinal(a.Key, b.Key));
        var names = pairs.Select(p => p.Key).ToArray();
        var values = pairs.Select(p => p.Value?.ToString() ?? "").ToArray();
        var help = instrument.Description ?? instrument.Name;
        switch (instrument)
        {
            case Counter<long> or Counter<int> or Counter<double>:
                _factory.CreateCounter(NameOf(instrument), help, names).WithLabels(values).Inc(value);
                break;
            case Histogram<double> or Histogram<long>:
                _factory.CreateHistogram(NameOf(instrument), help, names, new HistogramConfiguration
                {
                    Buckets = Buckets.TryGetValue(instrument.Name, out var buckets) ? buckets : Histogram.ExponentialBuckets(0.001, 4, 10),
                }).WithLabels(values).Observe(value);
                break;
            default:
                // Observable gauges: the value observed now.
                _factory.CreateGauge(NameOf(instrument), help, names).WithLabels(values).Set(value);
                break;
        }
    }
}
