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
/// <param name="ServerKey">
/// The client asks the server to make the key (EST serverkeygen, RFC 7030 §4.4): the template's
/// certificate must be <see cref="CertificateTemplate.ServerGeneratesKey"/> (and one that is must be
/// asked for this way, so no front-end drops a key it cannot deliver). The CSR then carries only the
/// names; its own key is checked by its signature, not against the template (§4.4.1).
/// </param>
public sealed record DeviceEnrollmentInput(
    EnrollmentProtocol Protocol,
    Guid ProfileTemplateUuid,
    string CertificateRequest,
    IReadOnlyList<RequestedName> Names,
    string? ClientReference = null,
    string? Comment = null,
    bool ServerKey = false);

/// <summary>Where a device enrollment stands after a submission or a poll.</summary>
public abstract record DeviceOutcome(CmRequest Request)
{
    /// <summary>
    /// The certificate was issued and the request is Completed. <paramref name="Pkcs8PrivateKey"/>
    /// is the key the server made (<see cref="DeviceEnrollmentInput.ServerKey"/>), unencrypted DER,
    /// only on the delivery that issued it; a later poll gets null (the key is archived sealed, and
    /// only MIM CM's key recovery returns it). Never log it.
    /// </summary>
    public sealed record Issued(CmRequest Request, IssuedCertificate Certificate, byte[]? Pkcs8PrivateKey = null) : DeviceOutcome(Request);

    /// <summary>
    /// The request waits for approvers (Pending); poll again with <see cref="DeviceEnrollment.ResumeAsync"/>.
    /// <paramref name="ApprovalsNeeded"/> is how many approvals are still missing.
    /// </summary>
    public sealed record Waiting(CmRequest Request, int ApprovalsNeeded) : DeviceOutcome(Request);
}
