using OpenCM.Application;

namespace OpenCM.Server.Hosting;

/// <summary>
/// Delivers the CA notices that are due (docs/decisions/0005, issue #17.7): those whose delivery
/// on the committing path failed, with backoff, and those whose process ended between the commit
/// and the delivery. Every node runs it; a notice two nodes deliver reaches the CA twice, which a
/// revocation tolerates.
/// </summary>
public sealed partial class CaNoticeLoop : BackgroundService
{
    /// <summary>How often the outbox is looked at.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);

    private readonly CaNoticeDelivery _delivery;
    private readonly TimeProvider _clock;
    private readonly ILogger<CaNoticeLoop> _log;

    public CaNoticeLoop(CaNoticeDelivery delivery, TimeProvider clock, ILogger<CaNoticeLoop> log)
    {
        _delivery = delivery;
        _clock = clock;
        _log = log;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(Interval, _clock, stoppingToken).ConfigureAwait(false);
                await _delivery.DeliverDueAsync(100, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                // The database is down, or not migrated yet: the notices wait in the outbox.
                LogLoopFailed(_log, ex);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "CA notices: looking for due notices failed; trying again shortly.")]
    private static partial void LogLoopFailed(ILogger logger, Exception exception);
}
