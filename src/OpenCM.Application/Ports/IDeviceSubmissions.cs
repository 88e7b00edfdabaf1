using OpenCM.Domain;

namespace OpenCM.Application;

/// <summary>
/// What a protocol front-end submitted with a device request (issue #24.1), kept beside the
/// request from its creation: the PKCS#10 request and the names asked for, so that the request
/// can be issued once approvers approve it, however much later the client polls.
/// </summary>
/// <param name="RequestUuid">The ordinary request this submission belongs to (one each).</param>
/// <param name="CallerUuid">Who submitted it: only they may poll it.</param>
/// <param name="ClientReference">The client's own handle (SCEP transactionID, ACME order id), unique per protocol and caller.</param>
/// <param name="CertificateRequest">The PKCS#10 request as base64 DER.</param>
/// <param name="Names">The names asked for, checked again against the template's rules when the certificate is planned.</param>
public sealed record DeviceSubmission(
    Guid RequestUuid, EnrollmentProtocol Protocol, Guid CallerUuid, string? ClientReference, string CertificateRequest, IReadOnlyList<RequestedName> Names, DateTimeOffset Created);

/// <summary>Reads of device submissions.</summary>
public interface IDeviceSubmissions
{
    /// <summary>The submission of request <paramref name="requestUuid"/>, or null when it is not a device request.</summary>
    Task<DeviceSubmission?> FindAsync(Guid requestUuid, CancellationToken ct = default);

    /// <summary>The submission <paramref name="caller"/> made with <paramref name="clientReference"/> over <paramref name="protocol"/>, or null.</summary>
    Task<DeviceSubmission?> FindByReferenceAsync(EnrollmentProtocol protocol, Guid caller, string clientReference, CancellationToken ct = default);
}

/// <summary>Writes of device submissions inside a unit of work.</summary>
public interface IDeviceSubmissionWrites
{
    /// <summary>
    /// Records a submission with its request. A second one with the same protocol, caller and
    /// client reference fails the unit of work with a Conflict (two retries raced; the loser finds the winner's).
    /// </summary>
    Task InsertAsync(DeviceSubmission submission, CancellationToken ct);
}
