using OpenCM.Domain;

namespace OpenCM.Application;

/// <summary>
/// A certificate in force whose validity ends soon, as stored (issue #21.3); <paramref name="CertificateTemplate"/>
/// is the certificate template's common name the profile template issued it under.
/// </summary>
public sealed record ExpiringCertificateRow(
    string SerialHex, DateTimeOffset NotAfter, Guid UserUuid, string CertificateTemplate, Guid ProfileUuid, CertificateStatus Status, int? AuthorityId);

/// <summary>How many cards of one template stand in one status.</summary>
public sealed record CardCountRow(SmartcardStatus Status, Guid TemplateUuid, long Count);

/// <summary>How many requests of one type, submitted in a period, stand in one status.</summary>
public sealed record RequestCountRow(RequestType Type, RequestStatus Status, long Count);

/// <summary>
/// The managers' reports' reads (issue #21.3): narrow, read-only, each list paged by a keyset
/// (the last row's key, never an offset, so a deep page costs what the first does) with the limit
/// the caller passes; the counts are grouped, so their size is bounded by the enumerations and
/// the templates, not by the data.
/// </summary>
public interface IReportStore
{
    /// <summary>
    /// Certificates in force (Issued or Current, not revoked) with <c>notAfter</c> in
    /// [<paramref name="from"/>, <paramref name="until"/>), soonest first, then by serial;
    /// <paramref name="after"/> is the last row of the page before.
    /// </summary>
    Task<IReadOnlyList<ExpiringCertificateRow>> ExpiringAsync(
        DateTimeOffset from, DateTimeOffset until, (DateTimeOffset NotAfter, string SerialHex)? after, int limit, CancellationToken ct = default);

    /// <summary>Every card record counted by status and template (retired cards included: the report says so).</summary>
    Task<IReadOnlyList<CardCountRow>> CardsByStatusAsync(CancellationToken ct = default);

    /// <summary>Requests submitted in [<paramref name="from"/>, <paramref name="to"/>) counted by type and status.</summary>
    Task<IReadOnlyList<RequestCountRow>> RequestsByTypeAndStatusAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken ct = default);

    /// <summary>
    /// The audit events <paramref name="user"/> did (actor) or that were done to them (subject),
    /// newest first; <paramref name="before"/> is the last sequence number of the page before.
    /// </summary>
    Task<IReadOnlyList<ChainedAuditEvent>> AuditOfUserAsync(Guid user, long? before, int limit, CancellationToken ct = default);
}
