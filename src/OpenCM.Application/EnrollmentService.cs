using OpenCM.Domain;

namespace OpenCM.Application;

/// <summary>One certificate the client must generate a key and a CSR for.</summary>
/// <param name="Template">The certificate template the CA will issue from.</param>
/// <param name="Subject">The subject the CA will issue, as an X.500 name.</param>
/// <param name="KeyStorageProviders">Where the client should make the key, best first.</param>
public sealed record GenerationOption(CertificateTemplate Template, string Subject, IReadOnlyList<string> KeyStorageProviders);

/// <summary>Use cases of executing an enrollment (SPEC §7); issue #3 grows this.</summary>
public sealed class EnrollmentService
{
    public const string SoftwareKsp = "Microsoft Software Key Storage Provider";
    public const string SmartCardKsp = "Microsoft Smart Card Key Storage Provider";
    private readonly RequestService _requests;
    private readonly ITemplateStore _templates;
    private readonly IDirectory _directory;

    public EnrollmentService(RequestService requests, ITemplateStore templates, IDirectory directory)
    {
        _requests = requests;
        _templates = templates;
        _directory = directory;
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

    /// <summary>The directory attributes of a certificate's subject; a user known only by token gets its GUID as name.</summary>
    public async Task<SubjectAttributes> SubjectOfAsync(Guid user, CancellationToken ct = default)
    {
        var principal = await _directory.FindAsync(user, ct).ConfigureAwait(false);
        return principal is null
            ? new SubjectAttributes(user.ToString("D"), user, "")
            : new SubjectAttributes(principal.Name, principal.Uuid, principal.Sid.Value);
    }
}
