using Microsoft.Extensions.Logging;

namespace OpenCM.Application;

/// <summary>
/// Delivers the CA notices outbox (<see cref="ICaNoticeWrites"/>): a unit of work that revoked
/// something queued a notice beside the revocation, and the CA hears of it after the commit,
/// retried until it has it. The committing path delivers at once (<see cref="DeliverAsync"/>), so
/// a working CA hears as soon as before; a host's loop delivers what is due
/// (<see cref="DeliverDueAsync"/>): notices whose first delivery failed, or whose process ended
/// between the commit and the delivery. Delivery is at least once (two nodes, or the committing
/// path and a loop, may both deliver a notice): a CA's revocation is idempotent.
/// </summary>
public sealed partial class CaNoticeDelivery
{
    /// <summary>How long after its commit a notice waits for the committing path before a loop may deliver it.</summary>
    public static readonly TimeSpan FirstRetryAfter = TimeSpan.FromSeconds(30);

    /// <summary>The longest wait between two tries.</summary>
    public static readonly TimeSpan MaxBackoff = TimeSpan.FromMinutes(15);

    private readonly ICertificateAuthority _ca;
    private readonly ICaOutbox _outbox;
    private readonly TimeProvider _clock;
    private readonly ILogger<CaNoticeDelivery> _log;

    public CaNoticeDelivery(ICertificateAuthority ca, ICaOutbox outbox, TimeProvider clock, ILogger<CaNoticeDelivery> log)
    {
        _ca = ca;
        _outbox = outbox;
        _clock = clock;
        _log = log;
    }

    /// <summary>The wait after the <paramref name="attempts"/>th failed try: 2, 4, 8… seconds, at most <see cref="MaxBackoff"/>.</summary>
    public static TimeSpan Backoff(int attempts) =>
        attempts >= 10 ? MaxBackoff : TimeSpan.FromSeconds(Math.Min(Math.Pow(2, Math.Max(1, attempts)), MaxBackoff.TotalSeconds));

    /// <summary>
    /// Delivers what a committed unit of work queued. A CA that fails does not fail the caller:
    /// the change is committed, and the notice stays queued for the loop.
    /// </summary>
    public async Task DeliverAsync(AppliedEffects applied, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(applied);
        foreach (var notice in applied.Notices)
        {
            await TryDeliverAsync(notice, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Delivers up to <paramref name="max"/> notices that are due; returns how many reached the CA.</summary>
    public async Task<int> DeliverDueAsync(int max = 100, CancellationToken ct = default)
    {
        var delivered = 0;
        foreach (var notice in await _outbox.DueAsync(_clock.GetUtcNow(), max, ct).ConfigureAwait(false))
        {
            delivered += await TryDeliverAsync(notice, ct).ConfigureAwait(false) ? 1 : 0;
        }

        return delivered;
    }

    private async Task<bool> TryDeliverAsync(CaNotice notice, CancellationToken ct)
    {
        try
        {
            await _ca.RevokeAsync(notice.Revocation, ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Recorded without the message (it may name hosts): the type says enough to look further.
            var attempts = notice.Attempts + 1;
            var retryAt = _clock.GetUtcNow() + Backoff(attempts);
            LogDeliveryFailed(_log, ex, notice.Id, attempts, retryAt);
            await MarkAsync(notice, () => _outbox.MarkFailedAsync(notice.Id, attempts, retryAt, ex.GetType().Name, CancellationToken.None)).ConfigureAwait(false);
            return false;
        }

        await MarkAsync(notice, () => _outbox.MarkDeliveredAsync(notice.Id, _clock.GetUtcNow(), CancellationToken.None)).ConfigureAwait(false);
        return true;
    }

    // A mark that cannot be stored (the database is down) leaves the notice due: it is delivered
    // again later, which the CA takes as it took the first. The caller's committed change stands.
    private async Task MarkAsync(CaNotice notice, Func<Task> mark)
    {
        try
        {
            await mark().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogMarkFailed(_log, ex, notice.Id);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "CA notice {NoticeId}: its delivery could not be recorded; it will be delivered again.")]
    private static partial void LogMarkFailed(ILogger logger, Exception exception, long noticeId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "CA notice {NoticeId}: delivery {Attempts} failed; retried at {RetryAt:O}.")]
    private static partial void LogDeliveryFailed(ILogger logger, Exception exception, long noticeId, int attempts, DateTimeOffset retryAt);
}
