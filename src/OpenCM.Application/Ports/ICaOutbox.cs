namespace OpenCM.Application;

/// <summary>A queued notice for the CA (a revocation, or a release from hold) not yet delivered.</summary>
/// <param name="Attempts">Deliveries tried so far and failed.</param>
public sealed record CaNotice(long Id, Revocation Revocation, int Attempts);

/// <summary>The CA notices outbox outside a unit of work: what is due, and what became of a delivery.</summary>
public interface ICaOutbox
{
    /// <summary>Undelivered notices whose next try is at or before <paramref name="now"/>, oldest first, at most <paramref name="max"/>.</summary>
    Task<IReadOnlyList<CaNotice>> DueAsync(DateTimeOffset now, int max, CancellationToken ct = default);

    /// <summary>Records that the CA has the notice; it is not delivered again.</summary>
    Task MarkDeliveredAsync(long id, DateTimeOffset at, CancellationToken ct = default);

    /// <summary>Records a failed delivery: how many so far, when to try next, and what failed (no secrets: an exception type).</summary>
    Task MarkFailedAsync(long id, int attempts, DateTimeOffset retryAt, string error, CancellationToken ct = default);
}
