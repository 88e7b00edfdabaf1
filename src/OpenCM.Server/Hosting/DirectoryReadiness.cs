using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace OpenCM.Server.Hosting;

/// <summary>Readiness of the directory (issue #19): Active Directory down makes the node not ready, as the database down does.</summary>
internal sealed class DirectoryReadiness : IHealthCheck
{
    private readonly IServiceProvider _services;

    public DirectoryReadiness(IServiceProvider services) => _services = services;

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var (ready, detail) = await DirectoryChoice.ReadyAsync(_services, cancellationToken).ConfigureAwait(false);
        _services.GetService<Application.Telemetry.OpenCmMetrics>()?.DependencyObserved(Application.Telemetry.OpenCmMetrics.Directory, ready);
        return ready ? HealthCheckResult.Healthy(detail) : HealthCheckResult.Unhealthy(detail);
    }
}
