using OpenCM.Domain;

namespace OpenCM.Application;

/// <summary>An entry of the append-only, hash-chained audit log (SPEC §4).</summary>
/// <param name="Kind">What happened: RequestCreated, StatusChanged, ApprovalRecorded, CertificatesIssued, TemplateImported, UserAdded….</param>
public sealed record AuditEvent(
    string Kind, Guid SubjectId, Guid Actor, RequestStatus OldStatus, RequestStatus NewStatus,
    DateTimeOffset Time, string CorrelationId, string Detail);

/// <summary>A stored audit event with its chain links.</summary>
public sealed record ChainedAuditEvent(long Sequence, AuditEvent Event, string PreviousHash, string Hash);

/// <summary>Reading and verifying the audit chain (appends happen in a unit of work, <see cref="IAuditWrites"/>).</summary>
public interface IAuditLog
{
    IAsyncEnumerable<ChainedAuditEvent> ReadAllAsync(CancellationToken ct = default);

    Task<IReadOnlyList<ChainedAuditEvent>> ForSubjectAsync(Guid subjectId, CancellationToken ct = default);
}
