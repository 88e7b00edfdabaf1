namespace OpenCM.Application;

/// <summary>
/// The event types the outbox carries (issue #21.2), as webhooks name them (Standard Webhooks'
/// <c>type</c>) and as <c>Webhooks:Endpoints:N:Events</c> subscribes to them.
/// </summary>
public static class EventTypes
{
    public const string RequestCreated = "request.created";
    public const string RequestStatusChanged = "request.status_changed";
    public const string CardStatusChanged = "card.status_changed";
    public const string CertificateIssued = "certificate.issued";
    public const string CertificateRevoked = "certificate.revoked";

    /// <summary>A certificate's notAfter is within one of <c>Notifications:ExpiryDays</c> (the threshold is the event's detail).</summary>
    public const string CertificateExpiring = "certificate.expiring";

    public static readonly IReadOnlyList<string> All =
        [RequestCreated, RequestStatusChanged, CardStatusChanged, CertificateIssued, CertificateRevoked, CertificateExpiring];
}

/// <summary>
/// Something that happened, written in the unit of work that made it happen (an outbox row), so a
/// committed change is never un-notified and a rolled-back one never notified.
/// </summary>
/// <param name="Type">One of <see cref="EventTypes"/>.</param>
/// <param name="Subject">What it happened to: a request or card id (D format), or a certificate's upper-case hex serial.</param>
/// <param name="From">A status change's old status (the Domain enumeration's name), else null.</param>
/// <param name="To">A status change's (or a creation's) new status, else null.</param>
/// <param name="Detail">Anything else the type needs (an expiry notice's threshold in days); never a secret.</param>
public sealed record OutboxEvent(string Type, string Subject, DateTimeOffset At, string? From = null, string? To = null, string? Detail = null);

/// <summary>An event as stored, with its outbox id.</summary>
public sealed record StoredEvent(long Id, OutboxEvent Event);

/// <summary>Writes of the event outbox inside a unit of work.</summary>
public interface IEventWrites
{
    /// <summary>Queues <paramref name="e"/> for the dispatcher; it is due at once after the commit.</summary>
    Task EnqueueAsync(OutboxEvent e, CancellationToken ct);

    /// <summary>
    /// Records that the holder of <paramref name="serialHex"/> was told it expires within
    /// <paramref name="days"/>: false (nothing written) when that notice was recorded already.
    /// </summary>
    Task<bool> TryRecordExpiryNoticeAsync(string serialHex, int days, DateTimeOffset at, CancellationToken ct);
}

/// <summary>Where a delivery stands.</summary>
public enum DeliveryStatus
{
    /// <summary>Not delivered yet; tried again at its next attempt.</summary>
    Pending,

    /// <summary>The receiver took it.</summary>
    Delivered,

    /// <summary>Given up after <c>Notifications:MaxAttempts</c>; kept in the log.</summary>
    Failed,
}

/// <summary>One message for one receiver (a webhook endpoint, an e-mail address), made from one event.</summary>
/// <param name="Id">Stable and idempotent: the same for every try (Standard Webhooks' <c>webhook-id</c>).</param>
/// <param name="Payload">What is sent, fixed when the event was dispatched (a webhook's JSON body, a message's JSON).</param>
public sealed record NewDelivery(string Id, string Channel, string Target, string Payload);

/// <summary>A row of the delivery log.</summary>
/// <param name="LastError">What the last failed try met, without secrets (a status code or an exception type).</param>
public sealed record Delivery(
    string Id, long EventId, string EventType, string Channel, string Target, string Payload, DeliveryStatus Status, int Attempts,
    DateTimeOffset Created, DateTimeOffset NextAttempt, DateTimeOffset? Finished, string? LastError);

/// <summary>
/// The event outbox and the delivery log outside a unit of work. Claims are compare-and-set on a
/// row's next attempt (a lease): two dispatchers (server nodes on PostgreSQL) never both claim a
/// row, and a claim whose process ended is due again when its lease runs out.
/// </summary>
public interface INotificationOutbox
{
    /// <summary>Undispatched events due at <paramref name="now"/>, oldest first, at most <paramref name="max"/>, each leased until <paramref name="leaseUntil"/>.</summary>
    Task<IReadOnlyList<StoredEvent>> ClaimEventsAsync(DateTimeOffset now, DateTimeOffset leaseUntil, int max, CancellationToken ct = default);

    /// <summary>Stores an event's deliveries (an id stored already is kept as it is) and marks the event dispatched, in one transaction.</summary>
    Task CompleteEventAsync(long eventId, string eventType, IReadOnlyList<NewDelivery> deliveries, DateTimeOffset at, CancellationToken ct = default);

    /// <summary>Pending deliveries due at <paramref name="now"/>, oldest first, at most <paramref name="max"/>, each leased until <paramref name="leaseUntil"/>.</summary>
    Task<IReadOnlyList<Delivery>> ClaimDeliveriesAsync(DateTimeOffset now, DateTimeOffset leaseUntil, int max, CancellationToken ct = default);

    /// <summary>Records that the receiver took the delivery after <paramref name="attempts"/> tries.</summary>
    Task MarkDeliveredAsync(string id, int attempts, DateTimeOffset at, CancellationToken ct = default);

    /// <summary>Records a failed try: tried again at <paramref name="retryAt"/>, or, when null, given up (Failed).</summary>
    Task MarkFailedAsync(string id, int attempts, DateTimeOffset? retryAt, string error, DateTimeOffset at, CancellationToken ct = default);

    /// <summary>The delivery log, newest first, at most <paramref name="max"/> rows; only Failed ones when <paramref name="failedOnly"/>.</summary>
    Task<IReadOnlyList<Delivery>> ListAsync(bool failedOnly, int max, CancellationToken ct = default);
}

/// <summary>What a notice says about a certificate.</summary>
public sealed record CertificateFacts(string SerialHex, string Template, Guid UserUuid, Guid RequestUuid, CertificateStatus Status, DateTimeOffset NotAfter, byte[] Der);

/// <summary>Reads of certificates for notices.</summary>
public interface ICertificateFacts
{
    /// <summary>A signed certificate by serial, or null.</summary>
    Task<CertificateFacts?> FindAsync(string serialHex, CancellationToken ct = default);

    /// <summary>Issued or current certificates whose notAfter is after <paramref name="now"/> and at or before <paramref name="before"/>, soonest first, at most <paramref name="max"/>.</summary>
    Task<IReadOnlyList<CertificateFacts>> ExpiringAsync(DateTimeOffset now, DateTimeOffset before, int max, CancellationToken ct = default);
}
