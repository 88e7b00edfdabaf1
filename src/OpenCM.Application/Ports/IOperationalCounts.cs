using OpenCM.Domain;

namespace OpenCM.Application;

/// <summary>
/// Narrow counts for the operator's gauges (issue #21.1): how many requests wait, how many
/// certificates run out soon. Each is one indexed count; the caller caches the answers, so a
/// scrape storm does not reach the database.
/// </summary>
public interface IOperationalCounts
{
    /// <summary>How many requests are Pending, Approved and Executing (a status with none is absent or 0).</summary>
    Task<IReadOnlyDictionary<RequestStatus, long>> CountOpenRequestsAsync(CancellationToken ct = default);

    /// <summary>How many certificates in use (Issued or Current, not revoked or superseded) expire in [<paramref name="from"/>, <paramref name="until"/>).</summary>
    Task<long> CountCertificatesExpiringAsync(DateTimeOffset from, DateTimeOffset until, CancellationToken ct = default);
}
