using OpenCM.Domain;

namespace OpenCM.Application;

/// <summary>An entry of the append-only, hash-chained audit log (SPEC §4).</summary>
/// <param name="Kind">What happened: RequestCreated, StatusChanged, ApprovalRecorded, CertificatesIssued, TemplateImported, UserAdded….</param>
/// <param name="CorrelationId">The server's correlation id, with a client's <c>X-Correlation-Id</c> beside it when one was sent (<see cref="CorrelationIds"/>).</param>
public sealed record AuditEvent(
    string Kind, Guid SubjectId, Guid Actor, RequestStatus OldStatus, RequestStatus NewStatus,
    DateTimeOffset Time, string CorrelationId, string Detail)
{
    /// <summary>The correlation id the server made.</summary>
    public string ServerCorrelationId => CorrelationIds.Split(CorrelationId).Server;

    /// <summary>The <c>X-Correlation-Id</c> the client sent, or empty: the client's word, not the server's.</summary>
    public string ClientCorrelationId => CorrelationIds.Split(CorrelationId).Client;
}

/// <summary>A stored audit event with its chain links.</summary>
public sealed record ChainedAuditEvent(long Sequence, AuditEvent Event, string PreviousHash, string Hash);

/// <summary>Reading and verifying the audit chain (appends happen in a unit of work, <see cref="IAuditWrites"/>).</summary>
public interface IAuditLog
{
    IAsyncEnumerable<ChainedAuditEvent> ReadAllAsync(CancellationToken ct = default);

    /// <summary>The chain's head: the last event's sequence number and hash as the appenders left them; null when its row is gone.</summary>
    Task<AuditHead?> ReadHeadAsync(CancellationToken ct = default);

    Task<IReadOnlyList<ChainedAuditEvent>> ForSubjectAsync(Guid subjectId, CancellationToken ct = default);
}
