using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;

namespace OpenCM.Application;

/// <summary>
/// A way of telling someone (webhooks, e-mail): which messages an event makes, and sending one.
/// Messages are made once, when the event is dispatched, and stored; every try sends the same.
/// </summary>
public interface INotificationChannel
{
    /// <summary>The channel's name in the delivery log (<c>webhook</c>, <c>email</c>).</summary>
    string Name { get; }

    /// <summary>The messages <paramref name="e"/> makes: one per receiver (its target) with what is sent; none when the channel is off or nobody is to be told.</summary>
    Task<IReadOnlyList<(string Target, string Payload)>> FanOutAsync(StoredEvent e, CancellationToken ct);

    /// <summary>Sends one message; throws when the receiver did not take it (<see cref="DeliveryException"/> says why in words fit for the log).</summary>
    Task SendAsync(Delivery delivery, CancellationToken ct);
}

/// <summary>A delivery the receiver did not take, with a reason that holds no secret; <see cref="Permanent"/> ones are not tried again.</summary>
public sealed class DeliveryException : Exception
{
    public DeliveryException(string reason, bool permanent = false)
        : base(reason) => Permanent = permanent;

    public DeliveryException()
        : base("delivery failed")
    {
    }

    public DeliveryException(string message, Exception inner)
        : base(message, inner)
    {
    }

    public bool Permanent { get; }
}

/// <summary>
/// Turns the event outbox into deliveries and delivers them (issue #21.2), off the request path:
/// a host's loop calls <see cref="RunOnceAsync"/>. Each event is claimed under a lease, fanned out
/// by every channel into deliveries with stable ids, and marked dispatched with them in one
/// transaction; each delivery is claimed, sent, and marked delivered, or retried with backoff
/// until <see cref="NotificationOptions.MaxAttempts"/>, then Failed. At least once: a process that
/// ends between sending and marking sends again after the lease, with the same id.
/// </summary>
public sealed partial class NotificationDispatcher
{
    private readonly INotificationOutbox _outbox;
    private readonly IReadOnlyList<INotificationChannel> _channels;
    private readonly NotificationOptions _options;
    private readonly TimeProvider _clock;
    private readonly ILogger<NotificationDispatcher> _log;

    public NotificationDispatcher(INotificationOutbox outbox, IEnumerable<INotificationChannel> channels, NotificationOptions options, TimeProvider clock, ILogger<NotificationDispatcher> log)
    {
        _outbox = outbox;
        _channels = [.. channels];
        _options = options;
        _clock = clock;
        _log = log;
    }

    private TimeSpan Lease => TimeSpan.FromSeconds(Math.Max(5, _options.LeaseSeconds));

    /// <summary>A delivery's id: the same for the same event, channel and receiver, however often it is made (Standard Webhooks' <c>webhook-id</c>).</summary>
    public static string DeliveryId(long eventId, string channel, string target) =>
        "msg_" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{eventId}\n{channel}\n{target}")))[..32];

    /// <summary>Dispatches the due events, then sends the due deliveries; returns how many were delivered.</summary>
    public async Task<int> RunOnceAsync(CancellationToken ct = default)
    {
        await DispatchDueAsync(ct).ConfigureAwait(false);
        return await DeliverDueAsync(ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Runs <see cref="RunOnceAsync"/> rounds while they find work, at most <paramref name="maxRounds"/>:
    /// a burst of events drains at the receivers' pace rather than one batch a poll (bench/operations.sh
    /// saw 13,000 creations take minutes at 100 a poll). Stops at the first round that dispatched and
    /// delivered nothing (all done, or only failures waiting for their backoff).
    /// </summary>
    public async Task<int> DrainAsync(int maxRounds = 100, CancellationToken ct = default)
    {
        var delivered = 0;
        for (var round = 0; round < maxRounds && !ct.IsCancellationRequested; round++)
        {
            var dispatched = await DispatchDueAsync(ct).ConfigureAwait(false);
            var sent = await DeliverDueAsync(ct).ConfigureAwait(false);
            delivered += sent;
            if (dispatched == 0 && sent == 0)
            {
                break;
            }
        }

        return delivered;
    }

    /// <summary>Fans the due events out into deliveries; returns how many events were dispatched.</summary>
    public async Task<int> DispatchDueAsync(CancellationToken ct = default)
    {
        var now = _clock.GetUtcNow();
        var dispatched = 0;
        foreach (var e in await _outbox.ClaimEventsAsync(now, now + Lease, 100, ct).ConfigureAwait(false))
        {
            try
            {
                var deliveries = new List<NewDelivery>();
                foreach (var channel in _channels)
                {
                    foreach (var (target, payload) in await channel.FanOutAsync(e, ct).ConfigureAwait(false))
                    {
                        deliveries.Add(new NewDelivery(DeliveryId(e.Id, channel.Name, target), channel.Name, target, payload));
                    }
                }

                await _outbox.CompleteEventAsync(e.Id, e.Event.Type, [.. deliveries.DistinctBy(d => d.Id)], now, ct).ConfigureAwait(false);
                dispatched++;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // The directory or the database did not answer: the event stays claimed until its lease ends, then is due again.
                LogDispatchFailed(_log, ex, e.Id, e.Event.Type);
            }
        }

        return dispatched;
    }

    /// <summary>Sends the due deliveries; returns how many the receivers took.</summary>
    public async Task<int> DeliverDueAsync(CancellationToken ct = default)
    {
        var now = _clock.GetUtcNow();
        var delivered = 0;
        foreach (var d in await _outbox.ClaimDeliveriesAsync(now, now + Lease, 100, ct).ConfigureAwait(false))
        {
            var attempts = d.Attempts + 1;
            try
            {
                var channel = _channels.FirstOrDefault(c => c.Name == d.Channel) ?? throw new DeliveryException($"channel {d.Channel} is not configured", permanent: true);
                await channel.SendAsync(d, ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                // The reason without the exception's message (it may name hosts or carry a server's reply): a type or our own words.
                var reason = ex is DeliveryException de ? de.Message : ex is OperationCanceledException ? "timed out" : ex.GetType().Name;
                var givenUp = ex is DeliveryException { Permanent: true } || attempts >= Math.Max(1, _options.MaxAttempts);
                var retryAt = givenUp ? (DateTimeOffset?)null : _clock.GetUtcNow() + _options.Backoff(attempts);
                LogDeliveryFailed(_log, d.Id, d.Channel, attempts, reason, retryAt);
                await _outbox.MarkFailedAsync(d.Id, attempts, retryAt, reason, _clock.GetUtcNow(), CancellationToken.None).ConfigureAwait(false);
                continue;
            }

            await _outbox.MarkDeliveredAsync(d.Id, attempts, _clock.GetUtcNow(), CancellationToken.None).ConfigureAwait(false);
            delivered++;
        }

        return delivered;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Notifications: event {EventId} ({EventType}) could not be dispatched; it is due again when its lease ends.")]
    private static partial void LogDispatchFailed(ILogger logger, Exception exception, long eventId, string eventType);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Notifications: delivery {DeliveryId} ({Channel}) try {Attempts} failed: {Reason}; next try {RetryAt:O} (none: given up).")]
    private static partial void LogDeliveryFailed(ILogger logger, string deliveryId, string channel, int attempts, string reason, DateTimeOffset? retryAt);
}
