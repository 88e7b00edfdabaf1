using Microsoft.Extensions.Diagnostics.HealthChecks;
using OpenCM.Application;

namespace OpenCM.Server.Hosting;

/// <summary>Readiness through the storage port: the database answers and its schema is current.</summary>
internal sealed class StorageReadiness : IHealthCheck
{
    public const string Tag = "ready";
    private readonly IStorageSchema _schema;
    private readonly Application.Telemetry.OpenCmMetrics? _metrics;

    public StorageReadiness(IStorageSchema schema, Application.Telemetry.OpenCmMetrics? metrics = null)
    {
        _schema = schema;
        _metrics = metrics;
    }

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var status = await _schema.CheckAsync(cancellationToken).ConfigureAwait(false);
        _metrics?.DependencyObserved(Application.Telemetry.OpenCmMetrics.Database, status.IsReady);
        return status.IsReady ? HealthCheckResult.Healthy(status.Detail) : HealthCheckResult.Unhealthy(status.Detail);
    }
}
