using Microsoft.Extensions.Logging;
using OpenCM.Domain;

namespace OpenCM.Application;

/// <summary>One certificate the client must generate a key and a CSR for.</summary>
/// <param name="Template">The certificate template the CA will issue from.</param>
/// <param name="Subject">The subject the CA will issue, as an X.500 name.</param>
/// <param name="KeyStorageProviders">Where the client should make the key, best first.</param>
public sealed record GenerationOption(CertificateTemplate Template, string Subject, IReadOnlyList<string> KeyStorageProviders);

/// <summary>One certificate in the answer to POST certificatedata: PKCS#7 for a client key, PFX for a server or recovered key.</summary>
public sealed record CertificateDelivery(CertificateTemplate Template, IssuedCertificate Certificate, byte[]? Pkcs7, byte[]? Pfx, bool IsKeyHistory = false);

/// <summary>
/// What executing a software request takes from a front-end now: a key and CSR for each of
/// <paramref name="ClientKeys"/>, and a PFX password when <paramref name="ReturnsServerKeys"/>
/// (keys made or archived on the server come back as password-protected PFX files).
/// </summary>
public sealed record KeyPlan(IReadOnlyList<GenerationOption> ClientKeys, bool ReturnsServerKeys);

/// <summary>Use cases of executing an enrollment (SPEC §7).</summary>
public sealed partial class EnrollmentService
{
    public const string SoftwareKsp = "Microsoft Software Key Storage Provider";
    public const string SmartCardKsp = "Microsoft Smart Card Key Storage Provider";
    private readonly RequestContextLoader _contexts;
    private readonly ITemplateStore _templates;
    private readonly IDirectory _directory;
    private readonly ITransactions _transactions;
    private readonly ICertificateAuthority _ca;
    private readonly CaNoticeDelivery _notices;
    private readonly CertificateIssuance _issuance;
    private readonly IKeySealer _sealer;
    private readonly IProfileStore _profiles;
    private readonly TimeProvider _clock;
    private readonly ILogger<EnrollmentService> _log;
    private readonly ICallerBudget _budget;

    public EnrollmentService(
        RequestContextLoader contexts, ITemplateStore templates, IDirectory directory, ITransactions transactions, ICertificateAuthority ca,
        CaNoticeDelivery notices, CertificateIssuance issuance, IKeySealer sealer, IProfileStore profiles, TimeProvider clock, ILogger<EnrollmentService> log,
        ICallerBudget? budget = null)
    {
        _budget = budget ?? UnlimitedBudget.Instance;
        _contexts = contexts;
        _templates = templates;
        _directory = directory;
        _transactions = transactions;
        _ca = ca;
        _notices = notices;
        _issuance = issuance;
        _sealer = sealer;
        _profiles = profiles;
        _clock = clock;
        _log = log;
    }

    /// <summary>
    /// POST /requests/{id}/certificatedata: checks the client's PKCS#10 requests and plans every
    /// certificate, then claims the execution and records every serial with its plan, then signs
    /// and checks each certificate against its plan, then stores what was signed (boulder's
    /// order: a certificate the CA signs is always on record, and can be revoked). The steps are
    /// numbered in docs/issuance-cycle.md.
    /// </summary>
    public Task<(CmRequest Request, IReadOnlyList<CertificateDelivery> Results)> SubmitCertificateDataAsync(
        Caller caller, Guid requestId, IReadOnlyList<string> certificateRequests, string? pfxPassword, string correlationId, CancellationToken ct = default) =>
        SubmitCertificateDataAsync(caller, requestId, certificateRequests, pfxPassword, null, correlationId, ct);

    /// <summary>
    /// As above, for a device or host request (<see cref="DeviceEnrollment"/>, issue #24) whose
    /// certificate also carries <paramref name="requestedNames"/>, accepted against the template's
    /// rules; the subject's <c>{requested}</c> is the first of them.
    /// </summary>
    public async Task<(CmRequest Request, IReadOnlyList<CertificateDelivery> Results)> SubmitCertificateDataAsync(
        Caller caller, Guid requestId, IReadOnlyList<string> certificateRequests, string? pfxPassword, AcceptedNames? requestedNames, string correlationId, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(caller);
        ArgumentNullException.ThrowIfNull(certificateRequests);
        _budget.Spend(caller, CallerCost.Expensive); // the API's and the portal's key step alike (issue #18.4)
        CheckPfxPassword(pfxPassword);

        // 1. The request with its template, the caller's Execute right, and a status that can start execution.
        var (context, rights, _) = await _contexts.LoadAsync(caller, requestId, ContextParts.Template, ct).ConfigureAwait(false);
        var request = context.Request;
        var now = _clock.GetUtcNow();
        switch (RequestLifecycle.Decide(context, new LifecycleCommand.BeginExecution(), rights, now).Decision)
        {
            case Decision.Refused r:
                throw new OpenCmException(r.Error);
            case Decision.Unchanged when request.NewProfileUuid != Guid.Empty || request.NewSmartcardUuid == Guid.Empty:
                // Executing already, and this step has run: certificates are issued once per execution.
                throw new OpenCmException(DomainError.Transition(request.Status, "Certificates were already issued for this request; complete, cancel or abandon it."));
            case Decision.Unchanged:
                // Executing since its card was bound (POST /smartcards, walkthrough step 14): the
                // certificates for that card are this execution's next step (step 26).
                break;
        }

        var kind = RequestKinds.Of(request);
        if (kind.RecoversKeys)
        {
            return await RecoverKeysAsync(caller, request, certificateRequests, pfxPassword, now, correlationId, ct).ConfigureAwait(false);
        }

        if (!kind.IssuesNewProfile)
        {
            throw new OpenCmException(DomainError.Validation("type", $"{request.RequestType} requests take no certificate data."));
        }

        // A smart card's certificates are issued to the card, never to a software key.
        if (kind.RequireCard(request, "issuing certificates") is { } noCard)
        {
            throw new OpenCmException(noCard);
        }

        // 2. One CSR per client-generated certificate; a password when any key is made here.
        var template = context.Template
            ?? throw new OpenCmException(DomainError.NotFound($"The request's profile template {request.ProfileTemplateUuid:D} no longer exists."));
        var clientGenerated = template.CertificateTemplates.Count(t => !t.ServerGeneratesKey);
        if (certificateRequests.Count != clientGenerated)
        {
            throw new OpenCmException(DomainError.Validation("certificaterequests",
                $"The template '{template.Name}' needs {clientGenerated} certificate request(s); {certificateRequests.Count} were sent."));
        }

        // A replacement card (a card's Recover) carries the lost card's archived keys too, as key history.
        IReadOnlyList<(StoredCertificate Certificate, string Sealed)> keyHistory = kind.Keys == KeyWork.IssueWithKeyHistory
            ? await ArchivedKeysAsync(request.OldProfileUuid, ct).ConfigureAwait(false)
            : [];
        if ((template.CertificateTemplates.Any(t => t.ServerGeneratesKey) || keyHistory.Count > 0) && string.IsNullOrEmpty(pfxPassword))
        {
            throw new OpenCmException(DomainError.Validation("pfxpassword", "A PFX password is required: this request returns keys made or archived on the server."));
        }

        // 3. Every CSR is checked, and every certificate planned, before anything is claimed.
        var subject = await SubjectOfAsync(request.TargetUserUuid, ct).ConfigureAwait(false);
        if (requestedNames is { Count: > 0 })
        {
            subject = subject with { Requested = DeviceNames.First(requestedNames) };
        }

        using var planned = Plan(request, template, certificateRequests, subject, requestedNames, now);
        var orders = planned.Certificates;

        // 4. Claim: Approved (or Executing with its card bound) → Executing with a New profile and
        //    every serial recorded with its plan, by compare-and-set. Losing the race means nothing was signed.
        var profile = new StoredProfile(Guid.CreateVersion7(now), template.Uuid, template.Version, request.TargetUserUuid, request.OldProfileUuid, ProfileStatus.New, request.Uuid, now,
            kind.WorkingCard(request));
        var claim = new RequestTransition(request.Uuid, request.Version, request.Status, RequestStatus.Executing, NewProfile: profile.Uuid);
        var claimAudit = new AuditEvent("StatusChanged", request.Uuid, caller.UserUuid, request.Status, RequestStatus.Executing, now, correlationId,
            $"certificate data: {string.Join(",", orders.Select(o => o.Plan.SerialHex))} profile={profile.Uuid:D}"
            + (keyHistory.Count == 0 ? "" : $"; archived keys recovered: {string.Join(",", keyHistory.Select(k => k.Certificate.SerialHex))}"));
        var claimed = await _transactions.TryRunAsync(async (uow, c) =>
        {
            if (await TransitionWriter.TryApplyAsync(uow, claim, [], claimAudit, c).ConfigureAwait(false) is null)
            {
                return false;
            }

            await uow.Profiles.InsertAsync(profile, c).ConfigureAwait(false);
            foreach (var o in orders)
            {
                await uow.Certificates.ReserveAsync(new CertificateReservation(o.Plan.SerialHex, request.Uuid, profile.Uuid, request.TargetUserUuid, o.Template.CommonName, o.Plan.Sha256Hex()), c).ConfigureAwait(false);
            }

            return true;
        }, ct).ConfigureAwait(false);
        if (!claimed)
        {
            throw new OpenCmException(new DomainError(ErrorKind.Conflict, "The request changed while its certificates were being prepared; read it again."));
        }

        var executing = request with { Status = RequestStatus.Executing, NewProfileUuid = profile.Uuid, Version = request.Version + 1 };
        try
        {
            // 5. Sign every recorded plan, each certificate checked against its plan. What is claimed is finished (or failed) even if the caller goes away.
            var deliveries = await SignAsync(orders, pfxPassword).ConfigureAwait(false);

            // 6. Store what was signed and the sealed keys, audited.
            var stillOpen = await _transactions.RunAsync(async (uow, c) =>
            {
                var all = true;
                foreach (var d in deliveries)
                {
                    var issued = await uow.Certificates.RecordIssuedAsync(d.Delivery.Certificate, c).ConfigureAwait(false);
                    all &= issued;
                    if (issued)
                    {
                        await uow.Events.EnqueueAsync(new OutboxEvent(EventTypes.CertificateIssued, d.Delivery.Certificate.SerialHex.ToUpperInvariant(), now), c).ConfigureAwait(false);
                    }
                    if (d.Archived is { } key)
                    {
                        await uow.Certificates.ArchiveKeyAsync(key, c).ConfigureAwait(false);
                    }
                }

                await uow.Audit.AppendAsync(new AuditEvent("CertificatesIssued", request.Uuid, caller.UserUuid, RequestStatus.Executing, RequestStatus.Executing,
                    now, correlationId, $"signed: {string.Join(",", orders.Select(o => o.Plan.SerialHex))}"), c).ConfigureAwait(false);
                return all;
            }, CancellationToken.None).ConfigureAwait(false);
            if (!stillOpen)
            {
                // Canceled or abandoned while the CA signed: the serials were revoked with it.
                throw new OpenCmException(new DomainError(ErrorKind.Conflict, "The request was ended while its certificates were issued; they are revoked."));
            }

            return (executing, [.. deliveries.Select(d => d.Delivery), .. KeyHistory(template, keyHistory, pfxPassword)]);
        }
        catch
        {
            // 7. After the claim, any failure, a refusal too, fails the execution (boulder's
            //    FinalizeOrder): its recorded serials are revoked, nothing is left Executing.
            await FailExecutionAsync(caller, executing, correlationId).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>GET /requests/{id}/certificaterequestgenerationoptions: one option per client-generated certificate.</summary>
    public async Task<IReadOnlyList<GenerationOption>> GenerationOptionsAsync(Caller caller, Guid requestId, CancellationToken ct = default)
    {
        // 1. The request as the caller may see it (404 otherwise), with its template.
        var (context, rights, _) = await _contexts.LoadAsync(caller, requestId, ContextParts.Template, ct).ConfigureAwait(false);
        var request = context.Request;

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
        var template = context.Template
            ?? throw new OpenCmException(DomainError.NotFound($"The request's profile template {request.ProfileTemplateUuid:D} no longer exists."));
        return await OptionsAsync(request, template, ct).ConfigureAwait(false);
    }

    // One option per client-generated certificate of the template, with the subject the CA will issue.
    private async Task<IReadOnlyList<GenerationOption>> OptionsAsync(CmRequest request, ProfileTemplate template, CancellationToken ct)
    {
        var subject = await SubjectOfAsync(request.TargetUserUuid, ct).ConfigureAwait(false);
        IReadOnlyList<string> ksp = template.IsSmartcardProfileTemplate ? [SmartCardKsp] : [SoftwareKsp];
        return [.. template.CertificateTemplates
            .Where(t => !t.ServerGeneratesKey)
            .Select(t => new GenerationOption(t, CertificateSubject.Build(t, subject).Name, ksp))];
    }

    /// <summary>
    /// The key step the caller may run now on a software request (the portal's "make my key"
    /// form), or null when there is none: a smart card request is executed by the card's client,
    /// and a request that is not Approved, or that the caller may not execute, issues nothing yet.
    /// POST certificatedata decides again when the step runs. Takes the request as the caller read
    /// it (<see cref="RequestQueries.GetAsync"/>, with the caller's rights) and its template, which a
    /// page showing the request has already loaded.
    /// </summary>
    public async Task<KeyPlan?> KeyPlanAsync(CmRequest request, RequestPermission rights, ProfileTemplate? template, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.IsSmartcard
            || request.Status != RequestStatus.Approved
            || RequestLifecycle.Decide(new RequestContext(request, template), new LifecycleCommand.BeginExecution(), rights, _clock.GetUtcNow()).Decision is not Decision.Move)
        {
            return null;
        }

        var kind = RequestKinds.Of(request);
        if (kind.RecoversKeys)
        {
            return new KeyPlan([], ReturnsServerKeys: true);
        }

        if (!kind.IssuesNewProfile)
        {
            return null;
        }

        if (template is null)
        {
            return null;
        }

        return new KeyPlan(await OptionsAsync(request, template, ct).ConfigureAwait(false), template.CertificateTemplates.Any(t => t.ServerGeneratesKey));
    }

    /// <summary>The directory attributes of a certificate's subject; a user known only by token gets its GUID as name.</summary>
    public async Task<SubjectAttributes> SubjectOfAsync(Guid user, CancellationToken ct = default)
    {
        var principal = await _directory.FindAsync(user, ct).ConfigureAwait(false);
        return principal is null
            ? new SubjectAttributes(user.ToString("D"), user, "")
            : new SubjectAttributes(principal.Name, principal.Uuid, principal.Sid.Value) { Email = principal.Email, Upn = principal.Upn };
    }

    // Checks every CSR first (nothing is made for a request that will be refused), then makes the
    // server's keys and plans each certificate: one plan per certificate of the template.
    private PlannedCertificates Plan(CmRequest request, ProfileTemplate template, IReadOnlyList<string> certificateRequests, SubjectAttributes subject, AcceptedNames? names, DateTimeOffset now)
    {
        // A temporary card's certificates last only as long as its policy says.
        var capsValidity = RequestKinds.Of(request).CapsValidity;
        var templates = template.CertificateTemplates.Select(planned => capsValidity
            ? planned with { ValidityDays = Math.Min(planned.ValidityDays, (template.CardPolicy ?? SmartcardConfiguration.DefaultFor(isVirtual: false)).TemporaryCardValidityDays) }
            : planned).ToList();
        var clientKeys = new byte[]?[templates.Count];
        var csrIndex = 0;
        for (var i = 0; i < templates.Count; i++)
        {
            if (!templates[i].ServerGeneratesKey)
            {
                clientKeys[i] = _issuance.CheckRequest(certificateRequests[csrIndex], templates[i], $"certificaterequests[{csrIndex}]");
                csrIndex++;
            }
        }

        var planned = new PlannedCertificates();
        try
        {
            for (var i = 0; i < templates.Count; i++)
            {
                var serverKey = clientKeys[i] is null ? _issuance.GenerateKey(templates[i]) : null;
                try
                {
                    var key = clientKeys[i] ?? serverKey!.SubjectPublicKeyInfo;
                    var plan = _issuance.Plan(new CertificateOrder(CertificateIssuance.NewSerialNumber(), key, templates[i], subject, now, names));
                    planned.Certificates.Add(new PlannedCertificate(templates[i], serverKey, plan));
                }
                catch
                {
                    serverKey?.Dispose();
                    throw;
                }
            }

            return planned;
        }
        catch
        {
            planned.Dispose();
            throw;
        }
    }

    private async Task<List<(CertificateDelivery Delivery, ArchivedKey? Archived)>> SignAsync(List<PlannedCertificate> orders, string? pfxPassword)
    {
        var signed = new List<(CertificateDelivery, ArchivedKey?)>(orders.Count);
        foreach (var o in orders)
        {
            var issued = await _issuance.SignAsync(o.Plan, CancellationToken.None).ConfigureAwait(false);
            if (o.ServerKey is not { } key)
            {
                signed.Add((new CertificateDelivery(o.Template, issued, _issuance.Pkcs7(issued.Der), null), null));
                continue;
            }

            // A key made here is archived sealed under the master key and returned once, as a PFX.
            var archived = new ArchivedKey(issued.SerialHex, _sealer.Seal(ArchiveContext(issued.SerialHex), key.Pkcs8PrivateKey));
            signed.Add((new CertificateDelivery(o.Template, issued, null, _issuance.Pfx(issued.Der, key.Pkcs8PrivateKey, pfxPassword!)), archived));
        }

        return signed;
    }

    // Executing → Failed with its effects (the serials revoked, the new profile retired), through the one path.
    private async Task FailExecutionAsync(Caller caller, CmRequest executing, string correlationId)
    {
        var now = _clock.GetUtcNow();
        if (RequestLifecycle.Decide(executing.Lifecycle, new LifecycleCommand.FailExecution(), RequestPermission.None, now) is not Decision.Move m)
        {
            return;
        }

        try
        {
            var applied = await _transactions.TryRunAsync((uow, c) => TransitionWriter.TryApplyAsync(uow,
                new RequestTransition(executing.Uuid, executing.Version, m.From, m.To, m.Completed),
                ExecutionEffects.For(m.From, m.To, executing.NewProfileUuid, null, now, executing.NewSmartcardUuid),
                new AuditEvent("StatusChanged", executing.Uuid, caller.UserUuid, m.From, m.To, now, correlationId, "issuance failed"), c), CancellationToken.None).ConfigureAwait(false);
            if (applied is not null)
            {
                await _notices.DeliverAsync(applied, CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (Exception ex)
        {
            // The serials stay recorded on an Executing request; cancelling it revokes them.
            LogFailNotRecorded(_log, ex, executing.Uuid);
        }
    }

    internal static string ArchiveContext(string serialHex) => "archived-key:" + serialHex;

    /// <summary>A PFX password is text a PKCS#12 tool can take: no NUL or other control character, at most 1,024 characters.</summary>
    private static void CheckPfxPassword(string? password)
    {
        if (password is null)
        {
            return;
        }

        if (password.Length > 1024)
        {
            throw new OpenCmException(DomainError.Validation("pfxpassword", "The PFX password is longer than 1,024 characters."));
        }

        if (password.Any(char.IsControl))
        {
            throw new OpenCmException(DomainError.Validation("pfxpassword", "The PFX password may not contain control characters such as NUL."));
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Request {RequestId}: issuance failed and the failure could not be recorded; its serials stay reserved until it is cancelled.")]
    private static partial void LogFailNotRecorded(ILogger logger, Exception exception, Guid requestId);

    // One certificate of the execution: its template, the key the server made for it (if any) and its plan.
    private sealed record PlannedCertificate(CertificateTemplate Template, GeneratedKey? ServerKey, CertificatePlan Plan);

    // The execution's planned certificates; the server's private keys are wiped when they are done with.
    private sealed class PlannedCertificates : IDisposable
    {
        public List<PlannedCertificate> Certificates { get; } = [];

        public void Dispose()
        {
            foreach (var c in Certificates)
            {
                c.ServerKey?.Dispose();
            }
        }
    }
}
