using OpenCM.Domain;

namespace OpenCM.Application;

public sealed partial class EnrollmentService
{
    /// <summary>
    /// Recover and RecoverOnBehalf (SPEC §7): the profile's archived keys, each with its certificate
    /// in a PFX under the caller's password, to whoever holds Execute on the request; the request
    /// moves to Executing with the recovery audited. The profile itself does not change.
    /// </summary>
    private async Task<(CmRequest, IReadOnlyList<CertificateDelivery>)> RecoverKeysAsync(
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
        var archived = await ArchivedKeysAsync(request.OldProfileUuid, ct).ConfigureAwait(false);
        if (archived.Count == 0)
        {
            throw new OpenCmException(new DomainError(ErrorKind.Conflict, "The profile has no archived keys to recover.", "profile"));
        }

        // 3. Claim: Approved → Executing, with who recovers which keys in the audit log.
        var audit = new AuditEvent("StatusChanged", request.Uuid, caller.UserUuid, RequestStatus.Approved, RequestStatus.Executing, now, correlationId,
            $"archived keys recovered: {string.Join(",", archived.Select(a => a.Certificate.SerialHex))}");
        var claim = new RequestTransition(request.Uuid, request.Version, RequestStatus.Approved, RequestStatus.Executing);
        if (await _transactions.TryRunAsync((uow, c) => TransitionWriter.TryApplyAsync(uow, claim, [], audit, c), ct).ConfigureAwait(false) is null)
        {
            throw new OpenCmException(new DomainError(ErrorKind.Conflict, "The request changed while its keys were recovered; read it again."));
        }

        // 4. Unseal each key into a PFX for the caller.
        var executing = request with { Status = RequestStatus.Executing, Version = request.Version + 1 };
        try
        {
            var template = await _templates.FindAsync(request.ProfileTemplateUuid, CancellationToken.None).ConfigureAwait(false);
            var results = KeyHistory(template, archived, pfxPassword);
            return (executing, results);
        }
        catch
        {
            await FailExecutionAsync(caller, executing, correlationId).ConfigureAwait(false);
            throw;
        }
    }

    // The archived keys of a profile's certificates that are not revoked.
    private async Task<IReadOnlyList<(StoredCertificate Certificate, string Sealed)>> ArchivedKeysAsync(Guid profile, CancellationToken ct)
    {
        var archived = new List<(StoredCertificate Certificate, string Sealed)>();
        foreach (var certificate in await _profiles.CertificatesOfProfileAsync(profile, ct).ConfigureAwait(false))
        {
            if (certificate.Status != CertificateStatus.Revoked && await _profiles.ArchivedKeyAsync(certificate.SerialHex, ct).ConfigureAwait(false) is { } sealedKey)
            {
                archived.Add((certificate, sealedKey));
            }
        }

        return archived;
    }

    // Each archived key unsealed into a PFX with its certificate under the caller's password (key history).
    private List<CertificateDelivery> KeyHistory(ProfileTemplate? template, IReadOnlyList<(StoredCertificate Certificate, string Sealed)> archived, string? pfxPassword)
    {
        var results = new List<CertificateDelivery>(archived.Count);
        foreach (var (certificate, sealedKey) in archived)
        {
            var pkcs8 = _sealer.Open(ArchiveContext(certificate.SerialHex), sealedKey);
            try
            {
                var certificateTemplate = template?.CertificateTemplates.FirstOrDefault(t => t.CommonName == certificate.Template) ?? new CertificateTemplate { CommonName = certificate.Template };
                results.Add(new CertificateDelivery(certificateTemplate, certificate.Certificate, null, _issuance.Pfx(certificate.Certificate.Der, pkcs8, pfxPassword!), IsKeyHistory: true));
            }
            finally
            {
                System.Security.Cryptography.CryptographicOperations.ZeroMemory(pkcs8);
            }
        }

        return results;
    }
}
