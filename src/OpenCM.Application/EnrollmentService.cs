using OpenCM.Domain;

namespace OpenCM.Application;

/// <summary>One certificate the client must generate a key and a CSR for.</summary>
/// <param name="Template">The certificate template the CA will issue from.</param>
/// <param name="Subject">The subject the CA will issue, as an X.500 name.</param>
/// <param name="KeyStorageProviders">Where the client should make the key, best first.</param>
public sealed record GenerationOption(CertificateTemplate Template, string Subject, IReadOnlyList<string> KeyStorageProviders);

/// <summary>One certificate in the answer to POST certificatedata: PKCS#7 for a client key, PFX for a server key.</summary>
public sealed record IssuedResult(CertificateTemplate Template, SignedCertificate Certificate, byte[]? Pkcs7, byte[]? Pfx, bool IsKeyHistory = false);

/// <summary>Use cases of executing an enrollment (SPEC §7).</summary>
public sealed class EnrollmentService
{
    public const string SoftwareKsp = "Microsoft Software Key Storage Provider";
    public const string SmartCardKsp = "Microsoft Smart Card Key Storage Provider";
    private readonly RequestService _requests;
    private readonly ITemplateStore _templates;
    private readonly IDirectory _directory;
    private readonly IRequestStore _store;
    private readonly ICertificateAuthority _ca;
    private readonly IKeySealer _sealer;
    private readonly IProfileStore _profiles;
    private readonly TimeProvider _clock;

    public EnrollmentService(RequestService requests, ITemplateStore templates, IDirectory directory, IRequestStore store, ICertificateAuthority ca, IKeySealer sealer, IProfileStore profiles, TimeProvider clock)
    {
        _profiles = profiles;
        _requests = requests;
        _templates = templates;
        _directory = directory;
        _store = store;
        _ca = ca;
        _sealer = sealer;
        _clock = clock;
    }

    /// <summary>
    /// POST /requests/{id}/certificatedata: validates the client's PKCS#10 requests, issues every
    /// certificate of the template (generating and archiving the keys the server makes), and moves
    /// the request to Executing with its new profile, all in one transaction.
    /// </summary>
    public async Task<(CmRequest Request, IReadOnlyList<IssuedResult> Results)> SubmitCertificateDataAsync(
        Caller caller, Guid requestId, IReadOnlyList<string> certificateRequests, string? pfxPassword, string correlationId, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(certificateRequests);

        // 1. The request, the caller's Execute right, and a status that can start execution.
        var (request, rights) = await _requests.GetAsync(caller, requestId, ct).ConfigureAwait(false);
        var now = _clock.GetUtcNow();
        var decision = RequestLifecycle.Decide(request.Lifecycle, new LifecycleCommand.BeginExecution(), rights, now);
        switch (decision)
        {
            case Decision.Refused r:
                throw new OpenCmException(r.Error);
            case Decision.Unchanged:
                // Executing already: this step has run; certificates are issued once per execution.
                throw new OpenCmException(DomainError.Transition(request.Status, "Certificates were already issued for this request; complete, cancel or abandon it."));
        }

        if (ProfileRules.IsKeyRecovery(request.RequestType))
        {
            return await RecoverKeysAsync(caller, request, certificateRequests, pfxPassword, now, correlationId, ct).ConfigureAwait(false);
        }

        if (!ProfileRules.IssuesNewProfile(request.RequestType))
        {
            throw new OpenCmException(DomainError.Validation("type", $"{request.RequestType} requests take no certificate data."));
        }

        // 2. One CSR per client-generated certificate; a password when any key is made here.
        var template = await _templates.FindAsync(request.ProfileTemplateUuid, ct).ConfigureAwait(false)
            ?? throw new OpenCmException(DomainError.NotFound($"The request's profile template {request.ProfileTemplateUuid:D} no longer exists."));
        var clientGenerated = template.CertificateTemplates.Where(t => !t.ServerGeneratesKey).ToList();
        if (certificateRequests.Count != clientGenerated.Count)
        {
            throw new OpenCmException(DomainError.Validation("certificaterequests",
                $"The template '{template.Name}' needs {clientGenerated.Count} certificate request(s); {certificateRequests.Count} were sent."));
        }

        if (template.CertificateTemplates.Any(t => t.ServerGeneratesKey) && string.IsNullOrEmpty(pfxPassword))
        {
            throw new OpenCmException(DomainError.Validation("pfxpassword", "A PFX password is required: this template's keys are generated on the server."));
        }

        // 3. Issue, in template order; server-generated keys are sealed for archival.
        var subject = await SubjectOfAsync(request.TargetUserUuid, ct).ConfigureAwait(false);
        var profileId = Guid.NewGuid();
        var results = new List<IssuedResult>();
        var stored = new List<StoredCertificate>();
        var archived = new List<ArchivedKey>();
        var csrIndex = 0;
        foreach (var t in template.CertificateTemplates)
        {
            if (t.ServerGeneratesKey)
            {
                var made = _ca.IssueWithServerKey(t, subject, now, pfxPassword!);
                archived.Add(new ArchivedKey(made.Certificate.SerialHex, _sealer.Seal("archived-key:" + made.Certificate.SerialHex, made.Pkcs8PrivateKey)));
                System.Security.Cryptography.CryptographicOperations.ZeroMemory(made.Pkcs8PrivateKey);
                results.Add(new IssuedResult(t, made.Certificate, null, made.Pfx));
                stored.Add(Store(made.Certificate, t));
            }
            else
            {
                var field = $"certificaterequests[{csrIndex}]";
                var signed = _ca.IssueFromCsr(certificateRequests[csrIndex++], t, subject, now, field);
                results.Add(new IssuedResult(t, signed, _ca.Pkcs7(signed.Der), null));
                stored.Add(Store(signed, t));
            }
        }

        // 4. Approved → Executing with the new profile, its certificates and keys, by compare-and-set.
        var profile = new StoredProfile(profileId, template.Uuid, template.Version, request.TargetUserUuid, request.OldProfileUuid, ProfileStatus.New, request.Uuid, now);
        var change = new RequestChange(request.Uuid, request.Version, RequestStatus.Approved, RequestStatus.Executing, null, null)
        {
            Execution = new ExecutionStart(profile, stored, archived),
        };
        var audit = new AuditEvent("StatusChanged", request.Uuid, caller.UserUuid, RequestStatus.Approved, RequestStatus.Executing, now, correlationId,
            $"certificate data: {string.Join(",", stored.Select(c => c.SerialHex))} profile={profileId:D}");
        if (!await _store.TryChangeAsync(change, audit, ct).ConfigureAwait(false))
        {
            // Nothing was stored; the certificates just signed are never released.
            throw new OpenCmException(new DomainError(ErrorKind.Conflict, "The request changed while its certificates were issued; read it again."));
        }

        var after = request with { Status = RequestStatus.Executing, NewProfileUuid = profileId, Version = request.Version + 1 };
        return (after, results);

        StoredCertificate Store(SignedCertificate c, CertificateTemplate t) =>
            new(c.SerialHex, request.Uuid, profileId, request.TargetUserUuid, t.CommonName, c.Der, c.Thumbprint, c.NotBefore, c.NotAfter, CertificateStatus.Issued);
    }

    /// <summary>GET /requests/{id}/certificaterequestgenerationoptions: one option per client-generated certificate.</summary>
    public async Task<IReadOnlyList<GenerationOption>> GenerationOptionsAsync(Caller caller, Guid requestId, CancellationToken ct = default)
    {
        // 1. The request as the caller may see it (404 otherwise).
        var (request, rights) = await _requests.GetAsync(caller, requestId, ct).ConfigureAwait(false);

        // 2. Making keys for a request is part of executing it.
        if (!rights.Has(RequestPermission.Execute))
        {
            throw new OpenCmException(DomainError.Forbidden("Generating certificate requests needs the Execute right on this request."));
        }

        // 3. Only a request that may execute (Approved) or is executing.
        if (request.Status is not (RequestStatus.Approved or RequestStatus.Executing))
        {
            throw new OpenCmException(DomainError.Transition(request.Status, $"A request in status {request.Status} issues no certificates."));
        }

        // 4. The template's client-generated certificates, with the subject the CA will issue.
        var template = await _templates.FindAsync(request.ProfileTemplateUuid, ct).ConfigureAwait(false)
            ?? throw new OpenCmException(DomainError.NotFound($"The request's profile template {request.ProfileTemplateUuid:D} no longer exists."));
        var subject = await SubjectOfAsync(request.TargetUserUuid, ct).ConfigureAwait(false);
        IReadOnlyList<string> ksp = template.IsSmartcardProfileTemplate ? [SmartCardKsp] : [SoftwareKsp];
        return [.. template.CertificateTemplates
            .Where(t => !t.ServerGeneratesKey)
            .Select(t => new GenerationOption(t, CertificateSubject.Build(t, subject).Name, ksp))];
    }

    /// <summary>
    /// Recover and RecoverOnBehalf (SPEC §7): the profile's archived keys, each with its certificate
    /// in a PFX under the caller's password, to whoever holds Execute on the request; the request
    /// moves to Executing with the recovery audited. The profile itself does not change.
    /// </summary>
    private async Task<(CmRequest, IReadOnlyList<IssuedResult>)> RecoverKeysAsync(
        Caller caller, CmRequest request, IReadOnlyList<string> certificateRequests, string? pfxPassword, DateTimeOffset now, string correlationId, CancellationToken ct)
    {
        // 1. Nothing to generate, and a password to protect what is returned.
        if (certificateRequests.Count > 0)
        {
            throw new OpenCmException(DomainError.Validation("certificaterequests", $"{request.RequestType} returns archived keys; send no certificate requests."));
        }

        if (string.IsNullOrEmpty(pfxPassword))
        {
            throw new OpenCmException(DomainError.Validation("pfxpassword", "A PFX password is required to return archived keys."));
        }

        // 2. Every archived key of the profile whose certificate is not revoked.
        var template = await _templates.FindAsync(request.ProfileTemplateUuid, ct).ConfigureAwait(false);
        var results = new List<IssuedResult>();
        foreach (var certificate in await _profiles.CertificatesOfProfileAsync(request.OldProfileUuid, ct).ConfigureAwait(false))
        {
            if (certificate.Status == CertificateStatus.Revoked || await _profiles.ArchivedKeyAsync(certificate.SerialHex, ct).ConfigureAwait(false) is not { } sealedKey)
            {
                continue;
            }

            var pkcs8 = _sealer.Open("archived-key:" + certificate.SerialHex, sealedKey);
            try
            {
                var certificateTemplate = template?.CertificateTemplates.FirstOrDefault(t => t.CommonName == certificate.Template) ?? new CertificateTemplate { CommonName = certificate.Template };
                var signed = new SignedCertificate(certificate.SerialHex, certificate.Der, certificate.Thumbprint, certificate.NotBefore, certificate.NotAfter);
                results.Add(new IssuedResult(certificateTemplate, signed, null, _ca.Pfx(certificate.Der, pkcs8, pfxPassword), IsKeyHistory: true));
            }
            finally
            {
                System.Security.Cryptography.CryptographicOperations.ZeroMemory(pkcs8);
            }
        }

        if (results.Count == 0)
        {
            throw new OpenCmException(new DomainError(ErrorKind.Conflict, "The profile has no archived keys to recover.", "profile"));
        }

        // 3. Approved → Executing, with who recovered which keys in the audit log.
        var change = new RequestChange(request.Uuid, request.Version, RequestStatus.Approved, RequestStatus.Executing, null, null);
        var audit = new AuditEvent("StatusChanged", request.Uuid, caller.UserUuid, RequestStatus.Approved, RequestStatus.Executing, now, correlationId,
            $"archived keys recovered: {string.Join(",", results.Select(r => r.Certificate.SerialHex))}");
        if (!await _store.TryChangeAsync(change, audit, ct).ConfigureAwait(false))
        {
            throw new OpenCmException(new DomainError(ErrorKind.Conflict, "The request changed while its keys were recovered; read it again."));
        }

        return (request with { Status = RequestStatus.Executing, Version = request.Version + 1 }, results);
    }

    /// <summary>The directory attributes of a certificate's subject; a user known only by token gets its GUID as name.</summary>
    public async Task<SubjectAttributes> SubjectOfAsync(Guid user, CancellationToken ct = default)
    {
        var principal = await _directory.FindAsync(user, ct).ConfigureAwait(false);
        return principal is null
            ? new SubjectAttributes(user.ToString("D"), user, "")
            : new SubjectAttributes(principal.Name, principal.Uuid, principal.Sid.Value);
    }
}
