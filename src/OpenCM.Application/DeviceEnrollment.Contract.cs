using OpenCM.Domain;

namespace OpenCM.Application;

/// <summary>
/// What a protocol front-end (EST, SCEP, ACME; issue #24.1) asks the one-shot device enrollment
/// to certify: one PKCS#10 request for the template's one client-key certificate, and the names
/// the client asked for.
/// </summary>
/// <param name="Protocol">The front-end; the template must allow it (<see cref="ProfileTemplate.Allows"/>), or the template is "not found".</param>
/// <param name="ProfileTemplateUuid">The template the front-end's label or URL named.</param>
/// <param name="CertificateRequest">The PKCS#10 request, base64 DER or PEM, as <see cref="ICertificateRequestChecker"/> takes it.</param>
/// <param name="Names">
/// What the client asked for: ACME's order identifiers; for EST and SCEP the CSR's own names
/// (<see cref="DeviceNames.OfCertificateRequest"/>). Checked against the certificate template's
/// <see cref="RequestedNameRules"/> (decision 0014) before anything is written.
/// </param>
/// <param name="ClientReference">
/// The client's handle for this enrollment when its protocol has one (SCEP's transactionID, ACME's
/// order id): unique per protocol and caller; a second submission with it finds the first request
/// (<see cref="DeviceEnrollment.FindAsync"/>) instead of making another. At most 128 printable ASCII characters.
/// </param>
/// <param name="Comment">Stored with the request, e.g. "EST simpleenroll from 10.0.0.7".</param>
public sealed record DeviceEnrollmentInput(
    EnrollmentProtocol Protocol,
    Guid ProfileTemplateUuid,
    string CertificateRequest,
    IReadOnlyList<RequestedName> Names,
    string? ClientReference = null,
    string? Comment = null);

/// <summary>Where a device enrollment stands after a submission or a poll.</summary>
public abstract record DeviceOutcome(CmRequest Request)
{
    /// <summary>The certificate was issued and the request is Completed.</summary>
    public sealed record Issued(CmRequest Request, IssuedCertificate Certificate) : DeviceOutcome(Request);

    /// <summary>
    /// The request waits for approvers (Pending); poll again with <see cref="DeviceEnrollment.ResumeAsync"/>.
    /// <paramref name="ApprovalsNeeded"/> is how many approvals are still missing.
    /// </summary>
    public sealed record Waiting(CmRequest Request, int ApprovalsNeeded) : DeviceOutcome(Request);
}
