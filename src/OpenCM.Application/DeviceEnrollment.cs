using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OpenCM.Domain;

namespace OpenCM.Application;

/// <summary>
/// The one-shot enrollment a protocol front-end drives for a device or host (issue #24.1):
/// create an ordinary Enroll request → (Pending until approvers approve) → issue → complete,
/// through the same use cases as MIM CM's API, so templates, approvals, rate limits, audit,
/// CRL/OCSP and reports apply unchanged. The front-end maps its identity to a
/// <see cref="Caller"/> (<see cref="DirectoryCallers"/>), and every refusal, an
/// <see cref="OpenCmException"/>, to its own protocol's error.
/// </summary>
/// <remarks>
/// Who acts next: Pending, the approvers (the client polls with <see cref="ResumeAsync"/>);
/// Approved, the client's next poll issues; Completed, nobody (a poll returns the certificate
/// again); Denied, Canceled, Failed or Abandoned, nobody (a poll is refused with the status).
/// </remarks>
public sealed class DeviceEnrollment
{
    /// <summary>The longest client reference kept (SCEP transactionIDs are hashes in hex, ACME order ids are ours).</summary>
    public const int MaxClientReference = 128;

    // Two polls of one approved request race to issue it; the loser reads what the winner did.
    private const int RaceRetries = 3;

    private readonly ITemplateStore _templates;
    private readonly RequestCreation _creation;
    private readonly EnrollmentService _enrollment;
    private readonly RequestTransitions _transitions;
    private readonly IRequestStore _requests;
    private readonly IDeviceSubmissions _submissions;
    private readonly IProfileStore _profiles;
    private readonly CertificateIssuance _issuance;
    private readonly TimeProvider _clock;

    public DeviceEnrollment(
        ITemplateStore templates, RequestCreation creation, EnrollmentService enrollment, RequestTransitions transitions, IRequestStore requests,
        IDeviceSubmissions submissions, IProfileStore profiles, CertificateIssuance issuance, TimeProvider clock)
    {
        _templates = templates;
        _creation = creation;
        _enrollment = enrollment;
        _transitions = transitions;
        _requests = requests;
        _submissions = submissions;
        _profiles = profiles;
        _issuance = issuance;
        _clock = clock;
    }

    /// <summary>
    /// Submits a device's request: checks it, creates the Enroll request with the submission beside
    /// it, and issues at once when no approval is needed. A client reference this caller used
    /// before over this protocol resumes that request instead (a retry is not a second request).
    /// </summary>
    public async Task<DeviceOutcome> SubmitAsync(Caller caller, DeviceEnrollmentInput input, string correlationId, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(caller);
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(input.Names);

        // 1. A retry finds its first request.
        if (input.ClientReference is { } reference)
        {
            if (reference.Length is 0 or > MaxClientReference || reference.Any(c => c is < ' ' or > '~'))
            {
                throw new OpenCmException(DomainError.Validation("reference", $"A client reference is 1 to {MaxClientReference} printable ASCII characters."));
            }

            if (await _submissions.FindByReferenceAsync(input.Protocol, caller.UserUuid, reference, ct).ConfigureAwait(false) is { } earlier)
            {
                return await ResumeAsync(caller, earlier.RequestUuid, correlationId, ct).ConfigureAwait(false);
            }
        }

        // 2. The template must allow the protocol; one that does not is not there for it.
        var template = await _templates.FindAsync(input.ProfileTemplateUuid, ct).ConfigureAwait(false);
        if (template is null || !template.Allows(input.Protocol))
        {
            throw new OpenCmException(DomainError.NotFound($"No template serves {EnrollmentProtocols.Name(input.Protocol).ToUpperInvariant()} here."));
        }

        // 3. The request and the names, checked before anything is written: the CSR by the same
        //    checker as certificatedata's, the names against the certificate template's rules.
        var certificate = DeviceCertificate(template);
        if (certificate.ServerGeneratesKey != input.ServerKey)
        {
            throw new OpenCmException(DomainError.Validation("template", certificate.ServerGeneratesKey
                ? $"The template '{template.Name}' has the server make the key: ask for it with EST serverkeygen (RFC 7030 §4.4)."
                : $"The template '{template.Name}' certifies a key the client makes: send the CSR for that key (EST simpleenroll), not serverkeygen."));
        }

        if (input.ServerKey)
        {
            // RFC 7030 §4.4.1: the CSR's key is not the one certified; only its signature is checked.
            CheckSignature(input.CertificateRequest);
        }
        else
        {
            _ = _issuance.CheckRequest(input.CertificateRequest, certificate, "csr");
        }
        var names = RequestedNames.Check(certificate.RequestedNames, input.Names);
        if (names.Error is { } refused)
        {
            throw new OpenCmException(refused);
        }

        // 4. An ordinary Enroll request for the caller, with the submission in the same unit of work.
        var now = _clock.GetUtcNow();
        // A comment only where the template's Enroll policy collects one (SPEC §6 refuses it otherwise).
        var comment = template.PolicyFor(RequestType.Enroll) is { CollectComments: true }
            ? input.Comment ?? $"{EnrollmentProtocols.Name(input.Protocol).ToUpperInvariant()} enrollment"
            : null;
        CmRequest request;
        try
        {
            request = await _creation.CreateAsync(caller, new CreateRequestInput(RequestType.Enroll, template.Uuid, [], null, comment, null, null, null), correlationId,
                (uow, created, c) => uow.DeviceSubmissions.InsertAsync(
                    new DeviceSubmission(created.Uuid, input.Protocol, caller.UserUuid, input.ClientReference, CanonicalRequest(input.CertificateRequest), input.Names, now), c),
                ct).ConfigureAwait(false);
        }
        catch (WriteConflictException) when (input.ClientReference is not null)
        {
            // A retry raced the first submission and lost: the winner's request is this one.
            var winner = await _submissions.FindByReferenceAsync(input.Protocol, caller.UserUuid, input.ClientReference, ct).ConfigureAwait(false)
                ?? throw new OpenCmException(new DomainError(ErrorKind.Conflict, "Another submission with this client reference was being made; try again."));
            return await ResumeAsync(caller, winner.RequestUuid, correlationId, ct).ConfigureAwait(false);
        }

        // 5. Issue now when no approval is needed.
        return await AdvanceAsync(caller, request, correlationId, ct).ConfigureAwait(false);
    }

    /// <summary>A poll: where the caller's device request stands now, issuing it when it has become Approved.</summary>
    public async Task<DeviceOutcome> ResumeAsync(Caller caller, Guid requestId, string correlationId, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(caller);
        var request = await FindOwnAsync(caller, requestId, ct).ConfigureAwait(false);
        return await AdvanceAsync(caller, request, correlationId, ct).ConfigureAwait(false);
    }

    /// <summary>The request the caller submitted over <paramref name="protocol"/> with <paramref name="clientReference"/>, or null.</summary>
    public async Task<Guid?> FindAsync(Caller caller, EnrollmentProtocol protocol, string clientReference, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(caller);
        return string.IsNullOrEmpty(clientReference) || clientReference.Length > MaxClientReference
            ? null
            : (await _submissions.FindByReferenceAsync(protocol, caller.UserUuid, clientReference, ct).ConfigureAwait(false))?.RequestUuid;
    }

    /// <summary>
    /// The one certificate a device template issues: exactly one certificate template, its key the
    /// client's, or the server's (archived) where the front-end can deliver it (<see cref="DeviceEnrollmentInput.ServerKey"/>).
    /// </summary>
    public static CertificateTemplate DeviceCertificate(ProfileTemplate template)
    {
        ArgumentNullException.ThrowIfNull(template);
        return template.CertificateTemplates is [var only]
            ? only
            : throw new OpenCmException(DomainError.Validation("template",
                $"The template '{template.Name}' cannot serve device enrollment: it must issue exactly one certificate."));
    }

    // A PKCS#10 whose signature verifies under its own key (the key itself is not certified: the server makes that one).
    private static void CheckSignature(string certificateRequest)
    {
        try
        {
            var der = Convert.FromBase64String(CanonicalRequest(certificateRequest));
            _ = CertificateRequest.LoadSigningRequest(
                der, HashAlgorithmName.SHA256, out var consumed,
                CertificateRequestLoadOptions.UnsafeLoadCertificateExtensions);
            if (consumed != der.Length)
            {
                throw new FormatException();
            }
        }
        catch (Exception e) when (e is FormatException or CryptographicException or System.Formats.Asn1.AsnContentException or ArgumentException or PlatformNotSupportedException)
        {
            throw new OpenCmException(DomainError.Validation("csr", "The certificate request is not a PKCS#10 request with a valid signature."));
        }
    }

    private async Task<CmRequest> FindOwnAsync(Caller caller, Guid requestId, CancellationToken ct)
    {
        // Unknown, not a device request and someone else's answer alike.
        var submission = await _submissions.FindAsync(requestId, ct).ConfigureAwait(false);
        var request = submission is null || submission.CallerUuid != caller.UserUuid ? null : await _requests.FindAsync(requestId, ct).ConfigureAwait(false);
        return request ?? throw new OpenCmException(DomainError.NotFound("No such enrollment."));
    }

    // Moves the request as far as the device can take it now.
    private async Task<DeviceOutcome> AdvanceAsync(Caller caller, CmRequest request, string correlationId, CancellationToken ct)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                switch (request.Status)
                {
                    case RequestStatus.Pending:
                        return new DeviceOutcome.Waiting(request, Math.Max(1, request.ApprovalsNeeded - request.Votes.Count(v => v.Approve)));
                    case RequestStatus.Approved:
                        return await IssueAsync(caller, request, correlationId, ct).ConfigureAwait(false);
                    case RequestStatus.Executing when request.NewProfileUuid != Guid.Empty:
                        // Issued, and the completion was lost (the server stopped between): complete it now.
                        return await CompleteAsync(caller, request, correlationId, ct).ConfigureAwait(false);
                    case RequestStatus.Completed:
                        return new DeviceOutcome.Issued(request, await IssuedCertificateAsync(request, ct).ConfigureAwait(false));
                    default:
                        throw new OpenCmException(DomainError.Transition(request.Status, $"The enrollment ended {request.Status}; it issues no certificate."));
                }
            }
            catch (OpenCmException ex) when (ex.Error.Kind == ErrorKind.Conflict && attempt < RaceRetries)
            {
                // Another poll issued or completed it meanwhile: read what is true now, and go on from there.
                if (await _requests.FindAsync(request.Uuid, ct).ConfigureAwait(false) is not { } now)
                {
                    throw;
                }

                request = now;
            }
        }
    }

    // Approved → Executing (certificate signed) → Completed, through certificatedata's and PUT's use cases.
    private async Task<DeviceOutcome> IssueAsync(Caller caller, CmRequest request, string correlationId, CancellationToken ct)
    {
        // 1. What was submitted, and its names against the template's rules as they are now.
        var submission = await _submissions.FindAsync(request.Uuid, ct).ConfigureAwait(false)
            ?? throw new OpenCmException(DomainError.NotFound("No such enrollment."));
        var template = await _templates.FindAsync(request.ProfileTemplateUuid, ct).ConfigureAwait(false)
            ?? throw new OpenCmException(DomainError.NotFound($"The request's profile template {request.ProfileTemplateUuid:D} no longer exists."));
        var names = RequestedNames.Check(DeviceCertificate(template).RequestedNames, submission.Names);
        if (names.Error is { } refused)
        {
            throw new OpenCmException(refused);
        }

        // 2. Sign (the claim, the plan on record, the CA, the check against the plan), then complete.
        if (!DeviceCertificate(template).ServerGeneratesKey)
        {
            var (executing, _) = await _enrollment.SubmitCertificateDataAsync(caller, request.Uuid, [submission.CertificateRequest], null, names.Accepted, correlationId, ct)
                .ConfigureAwait(false);
            return await CompleteAsync(caller, executing, correlationId, ct).ConfigureAwait(false);
        }

        // The server makes the key, archives it sealed and returns it once in a PFX (MIM CM's path for
        // server keys); the PFX's password is a throw-away one, the key goes to the front-end as PKCS#8.
        var password = RandomNumberGenerator.GetHexString(32);
        var (made, deliveries) = await _enrollment.SubmitCertificateDataAsync(caller, request.Uuid, [], password, names.Accepted, correlationId, ct).ConfigureAwait(false);
        var key = Pkcs8Of(deliveries.Single(d => d.Pfx is not null).Pfx!, password);
        return await CompleteAsync(caller, made, correlationId, ct, key).ConfigureAwait(false);
    }

    private async Task<DeviceOutcome> CompleteAsync(Caller caller, CmRequest executing, string correlationId, CancellationToken ct, byte[]? key = null)
    {
        var completed = await _transitions.SetStatusAsync(caller, executing.Uuid, RequestStatus.Completed, null, correlationId, ct).ConfigureAwait(false);
        return new DeviceOutcome.Issued(completed, await IssuedCertificateAsync(completed, ct).ConfigureAwait(false), key);
    }

    // The private key of the PFX the issuance returned, as unencrypted PKCS#8 DER; the PFX is wiped.
    private static byte[] Pkcs8Of(byte[] pfx, string password)
    {
        try
        {
            using var certificate = X509CertificateLoader.LoadPkcs12(pfx, password,
                X509KeyStorageFlags.Exportable | X509KeyStorageFlags.EphemeralKeySet);
            using AsymmetricAlgorithm key = (AsymmetricAlgorithm?)certificate.GetRSAPrivateKey()
                ?? (AsymmetricAlgorithm?)certificate.GetECDsaPrivateKey()
                ?? throw new OpenCmException(new DomainError(ErrorKind.Internal, "The issued PFX holds no RSA or ECDSA private key."));
            return key.ExportPkcs8PrivateKey();
        }
        finally
        {
            CryptographicOperations.ZeroMemory(pfx);
        }
    }

    private async Task<IssuedCertificate> IssuedCertificateAsync(CmRequest request, CancellationToken ct)
    {
        var certificates = request.NewProfileUuid == Guid.Empty ? [] : await _profiles.CertificatesOfProfileAsync(request.NewProfileUuid, ct).ConfigureAwait(false);
        return certificates.FirstOrDefault(c => c.Certificate.Der.Length > 0)?.Certificate
            ?? throw new OpenCmException(new DomainError(ErrorKind.Internal, $"The completed request {request.Uuid:D} has no certificate on record."));
    }

    // The request as base64 DER whatever the client sent (PEM or base64 with line breaks): what
    // the checker read, kept in one form.
    private static string CanonicalRequest(string text)
    {
        // The same reading as the CSR checker's (Authority's CsrValidator): a PEM's body is what
        // lies between its first line and its last -----END, whatever the labels; a request the
        // checker read must never fail here (a 500), and one it did not is ValidationFailed.
        var body = text.Trim();
        if (body.StartsWith("-----BEGIN", StringComparison.Ordinal))
        {
            var start = body.IndexOf('\n', StringComparison.Ordinal);
            var end = body.LastIndexOf("-----END", StringComparison.Ordinal);
            body = start >= 0 && end > start ? body[(start + 1)..end] : "";
        }

        try
        {
            return Convert.ToBase64String(Convert.FromBase64String(string.Concat(body.Where(c => !char.IsWhiteSpace(c)))));
        }
        catch (FormatException)
        {
            throw new OpenCmException(DomainError.Validation("csr", "The certificate request is not base64."));
        }
    }
}
