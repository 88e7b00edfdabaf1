using OpenCM.Application;

namespace OpenCM.Server.Hosting;

/// <summary>
/// Runs notifications off the request path (issue #21.2): every <c>Notifications:PollSeconds</c>
/// the dispatcher fans due events out and sends due deliveries, and every
/// <c>Notifications:ExpiryScanMinutes</c> the expiry scan queues what has come due. Every node
/// runs it; claims are compare-and-set, so two nodes share the work rather than doubling it.
/// Time is the host's <see cref="TimeProvider"/> (tests pin it and advance it).
/// </summary>
public sealed partial class NotificationLoop : BackgroundService
{
    private readonly NotificationDispatcher _dispatcher;
    private readonly ExpiryNotices _expiry;
    private readonly NotificationOptions _options;
    private readonly TimeProvider _clock;
    private readonly ILogger<NotificationLoop> _log;

    public NotificationLoop(NotificationDispatcher dispatcher, ExpiryNotices expiry, NotificationOptions options, TimeProvider clock, ILogger<NotificationLoop> log)
    {
        _dispatcher = dispatcher;
        _expiry = expiry;
        _options = options;
        _clock = clock;
        _log = log;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var poll = TimeSpan.FromSeconds(Math.Max(1, _options.PollSeconds));
        var scanEvery = TimeSpan.FromMinutes(Math.Max(1, _options.ExpiryScanMinutes));
        var nextScan = _clock.GetUtcNow();
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(poll, _clock, stoppingToken).ConfigureAwait(false);
                if (_clock.GetUtcNow() >= nextScan)
                {
                    nextScan = _clock.GetUtcNow() + scanEvery;
                    await _expiry.ScanAsync(stoppingToken).ConfigureAwait(false);
                }

                await _dispatcher.DrainAsync(ct: stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                // The database is down, or not migrated yet: events and deliveries wait in their tables.
                LogLoopFailed(_log, ex);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Notifications: looking for due events and deliveries failed; trying again shortly.")]
    private static partial void LogLoopFailed(ILogger logger, Exception exception);
}
