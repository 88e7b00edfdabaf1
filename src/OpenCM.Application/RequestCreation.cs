using OpenCM.Domain;
using OpenCM.Security.Sddl;

namespace OpenCM.Application;

/// <summary>The body of POST /requests after wire parsing (SPEC §2).</summary>
public sealed record CreateRequestInput(
    RequestType Type,
    Guid? ProfileTemplateUuid,
    IReadOnlyList<DataItem> DataCollection,
    Guid? Target,
    string? Comment,
    int? Priority,
    Guid? Smartcard,
    Guid? Profile);

/// <summary>Creating requests (POST /requests, SPEC §2, §4-§6).</summary>
public sealed class RequestCreation
{
    private readonly ITemplateStore _templates;
    private readonly IDirectory _directory;
    private readonly IProfileStore _profiles;
    private readonly ISmartcardStore _cards;
    private readonly ITransactions _transactions;
    private readonly AccessPolicy _access;
    private readonly ServerExecution _server;
    private readonly TimeProvider _clock;
    private readonly OpenCmOptions _options;
    private readonly ICallerBudget _budget;
    private readonly TextLimits _limits;

    public RequestCreation(
        ITemplateStore templates, IDirectory directory, IProfileStore profiles, ISmartcardStore cards, ITransactions transactions, AccessPolicy access, ServerExecution server,
        TimeProvider clock, OpenCmOptions options, ICallerBudget? budget = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _budget = budget ?? UnlimitedBudget.Instance;
        _limits = options.TextLimits;
        _templates = templates;
        _directory = directory;
        _profiles = profiles;
        _cards = cards;
        _transactions = transactions;
        _access = access;
        _server = server;
        _clock = clock;
    }

    /// <summary>Creates a request (POST /requests).</summary>
    public Task<CmRequest> CreateAsync(Caller caller, CreateRequestInput input, string correlationId, CancellationToken ct = default) =>
        CreateAsync(caller, input, correlationId, null, ct);

    /// <summary>
    /// Creates a request, and runs <paramref name="alongside"/> in the same unit of work with the new
    /// request: what a front-end keeps beside it (a device's submission, issue #24.1) is written
    /// with it or not at all.
    /// </summary>
    public async Task<CmRequest> CreateAsync(
        Caller caller, CreateRequestInput input, string correlationId, Func<IUnitOfWork, CmRequest, CancellationToken, Task>? alongside, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(caller);
        ArgumentNullException.ThrowIfNull(input);

        // 0. The caller's budget, whichever front-end called (issue #18.4).
        _budget.Spend(caller, CallerCost.Expensive);

        // 1. The request type must be a real one.
        if (input.Type == RequestType.None || !Enum.IsDefined(input.Type))
        {
            throw Fail(DomainError.Validation("type", "The request type is required."));
        }

        // 1a. Free text within its caps (issue #18.1) before anything is looked up; the policy's rules follow in step 5.
        if ((_limits.CheckDataCollection(input.DataCollection) ?? _limits.CheckComment("comment", input.Comment)) is { } tooLong)
        {
            throw Fail(tooLong);
        }

        // 2. The template and policy: named for new credentials, the named profile's for the rest.
        StoredProfile? oldProfile = null;
        StoredSmartcard? oldCard = null;
        ProfileTemplate template;
        if (RequestKinds.Of(input.Type, Medium.Smartcard).ActsOn == ActsOn.Card && input.Smartcard is not null && input.Profile is null)
        {
            (oldCard, oldProfile, template) = await ResolveCardAsync(caller, input, ct).ConfigureAwait(false);
        }
        else if (RequestKinds.Of(input.Type, Medium.Software).ActsOn == ActsOn.SoftwareProfile)
        {
            (oldProfile, template) = await ResolveProfileAsync(caller, input, ct).ConfigureAwait(false);
        }
        else
        {
            var templateId = input.ProfileTemplateUuid ?? throw Fail(DomainError.Validation("profiletemplateuuid", "The profile template is required."));
            template = await _templates.FindAsync(templateId, ct).ConfigureAwait(false)
                ?? throw Fail(DomainError.Validation("profiletemplateuuid", $"No profile template with id {templateId:D} exists."));
        }

        // 3. The policy for this type.
        var policy = template.PolicyFor(input.Type);
        if (policy is null || !policy.Enabled)
        {
            throw Fail(new DomainError(ErrorKind.PolicyDisabled, $"The template '{template.Name}' does not allow {input.Type} requests."));
        }

        // A template whose subject is the name a device asks for issues only through a protocol
        // front-end, which passes the names (issue #24.1, decision 0015): refused here rather
        // than when the certificate is planned.
        if (alongside is null && RequestKinds.Of(input.Type, template.IsSmartcardProfileTemplate ? Medium.Smartcard : Medium.Software).IssuesNewProfile
            && template.CertificateTemplates.Any(c => c.Subject.Contains("{requested}", StringComparison.Ordinal)))
        {
            throw Fail(DomainError.Validation("profiletemplateuuid",
                $"The template '{template.Name}' certifies names a device or host asks for; enroll through EST, SCEP or ACME (docs/decisions/0015-device-enrollment.md)."));
        }

        // A temporary card stands in for a permanent one, which the request names.
        if (oldCard is null && RequestKinds.Of(input.Type, Medium.Smartcard).Link == CardLink.Permanent)
        {
            throw Fail(DomainError.Validation("smartcard", "A TemporaryCards request names the permanent card it stands in for ('smartcard')."));
        }

        if (RequestKinds.Of(input.Type, oldCard is null ? Medium.Software : Medium.Smartcard).NeedsNewerTemplate && oldProfile is not null && oldProfile.TemplateVersion >= template.Version)
        {
            throw Fail(new DomainError(ErrorKind.Conflict, $"The profile already follows version {template.Version} of '{template.Name}'.", oldCard is null ? "profile" : "smartcard"));
        }

        // 4. The target (a named card's or profile's owner), and the caller's right to initiate for it (SPEC §5).
        var targetId = oldCard?.UserUuid ?? oldProfile?.UserUuid ?? input.Target ?? caller.UserUuid;
        Sid targetSid;
        if (targetId == caller.UserUuid)
        {
            targetSid = caller.UserSid;
        }
        else
        {
            var target = await _directory.FindAsync(targetId, ct).ConfigureAwait(false);
            if (target is not { Kind: PrincipalKind.User })
            {
                throw Fail(DomainError.Validation("target", $"No user with id {targetId:D} exists."));
            }

            targetSid = target.Sid;
        }

        if (!AccessPolicy.MayInitiate(policy, caller, targetId))
        {
            throw Fail(DomainError.Forbidden(targetId == caller.UserUuid
                ? $"Self-service {input.Type} is not enabled for '{template.Name}' and you are not an authorized initiator."
                : $"Only an authorized initiator may create {input.Type} requests for another user."));
        }

        // 5. The data collection, comment and priority against the policy (SPEC §6).
        var (valid, error) = RequestRules.Validate(policy, input.DataCollection, input.Comment, input.Priority, _limits);
        if (error is not null)
        {
            throw Fail(error);
        }

        // 6. Status, flags and descriptor; then one durable write with its audit event.
        var descriptor = RequestDescriptorBuilder.Build(policy, caller.UserSid, targetSid, await _access.ManagersAsync(ct).ConfigureAwait(false), null,
            RequestKinds.Of(input.Type, template.IsSmartcardProfileTemplate ? Medium.Smartcard : Medium.Software).TargetMayExecute);
        var now = _clock.GetUtcNow();
        var request = new CmRequest
        {
            // Time-ordered (version 7): a request's audit events, and the requests made together,
            // then land on neighbouring index pages, which halves a durable transition's disk
            // writes (docs/benchmarks.md, issue #11); the id stays opaque to clients (docs/compat.md).
            Uuid = Guid.CreateVersion7(now),
            RequestType = input.Type,
            Status = RequestLifecycle.InitialStatus(policy.ApprovalsNeeded),
            Flags = (template.IsSmartcardProfileTemplate ? RequestFlags.Smartcard : RequestFlags.None)
                  | (policy.EnrollAgentRequired ? RequestFlags.EnrollmentAgent : RequestFlags.None),
            DataCollection = valid!.DataCollection,
            DataCollectionFlags = policy.DataCollectionFlags,
            OriginatorUserUuid = caller.UserUuid,
            TargetUserUuid = targetId,
            Submitted = now,
            Priority = valid.Priority,
            Comment = valid.Comment,
            ProfileTemplateUuid = template.Uuid,
            OldProfileUuid = oldProfile?.Uuid ?? Guid.Empty,
            OldSmartcardUuid = oldCard?.Uuid ?? Guid.Empty,
            SecurityDescriptor = descriptor.ToString(),
            IsDataCollectionComplete = valid.IsDataCollectionComplete,
            ApprovalsNeeded = Math.Max(0, policy.ApprovalsNeeded),
        };
        var audit = new AuditEvent("RequestCreated", request.Uuid, caller.UserUuid, RequestStatus.None, request.Status, now, correlationId,
            $"type={input.Type} template={template.Uuid:D} target={targetId:D}");
        var readers = RequestDescriptorBuilder.ReaderSids(descriptor);
        await _transactions.RunAsync(async (uow, c) =>
        {
            await uow.Requests.InsertAsync(request, readers, c).ConfigureAwait(false);
            if (alongside is not null)
            {
                await alongside(uow, request, c).ConfigureAwait(false);
            }

            await CapPendingAsync(uow, request, template, c).ConfigureAwait(false);
            await uow.Events.EnqueueAsync(new OutboxEvent(EventTypes.RequestCreated, request.Uuid.ToString("D"), now, To: request.Status.ToString()), c).ConfigureAwait(false);
            await uow.Audit.AppendAsync(audit, c).ConfigureAwait(false);
            return true;
        }, ct).ConfigureAwait(false);

        // 7. Types that need no client run at once when no approval is needed.
        return ServerExecution.RunsNow(request) ? await _server.RunAsync(caller, request, correlationId, ct).ConfigureAwait(false) : request;
    }

    // The card a request acts on, with its live profile (the certificates on it) and its template:
    // the card exists for this caller, OpenCM executes this type on cards, and its status allows the type.
    private async Task<(StoredSmartcard Card, StoredProfile? Profile, ProfileTemplate Template)> ResolveCardAsync(Caller caller, CreateRequestInput input, CancellationToken ct)
    {
        var id = input.Smartcard!.Value;
        if (!RequestKinds.Of(input.Type, Medium.Smartcard).Supported)
        {
            throw Fail(DomainError.Validation("type", $"{input.Type} requests on smart cards are not supported yet."));
        }

        // Unknown and not-yours answer alike, before anything about the card's state is said.
        var card = await _cards.FindAsync(id, ct).ConfigureAwait(false);
        var template = card is null ? null : await _templates.FindAsync(card.TemplateUuid, ct).ConfigureAwait(false);
        if (card is null || !await _access.MayActOnCardAsync(card, template, input.Type, caller, ct).ConfigureAwait(false))
        {
            throw Fail(DomainError.Validation("smartcard", $"No smart card with id {id:D} exists."));
        }

        if (template is null)
        {
            throw Fail(DomainError.Validation("profiletemplateuuid", $"No profile template with id {card.TemplateUuid:D} exists."));
        }

        if (!SmartcardRules.AllowedTypes(card.Status).Contains(input.Type))
        {
            throw Fail(new DomainError(ErrorKind.Conflict, $"A {card.Status} smart card cannot be the subject of a {input.Type} request.", "smartcard"));
        }

        // The card's live profile: the certificates on it that the request acts on.
        var live = CardProfiles.Live(await _profiles.ForSmartcardAsync(card.Uuid, ct).ConfigureAwait(false));
        return (card, live, template);
    }

    // The profile a request acts on, with its template: it exists for this caller, OpenCM executes this type on it, and its status allows the type.
    private async Task<(StoredProfile Profile, ProfileTemplate Template)> ResolveProfileAsync(Caller caller, CreateRequestInput input, CancellationToken ct)
    {
        if (!RequestKinds.Of(input.Type, Medium.Software).Supported)
        {
            throw Fail(DomainError.Validation("type", $"{input.Type} requests on software profiles are not supported yet."));
        }

        var id = input.Profile ?? throw Fail(DomainError.Validation("profile", $"{input.Type} requests name the profile they act on."));
        // Unknown and not-yours answer alike, before anything about the profile's state is said.
        var profile = await _profiles.FindAsync(id, ct).ConfigureAwait(false);
        var template = profile is null ? null : await _templates.FindAsync(profile.TemplateUuid, ct).ConfigureAwait(false);
        if (profile is null || !await _access.MayActOnProfileAsync(profile, template, input.Type, caller, ct).ConfigureAwait(false))
        {
            throw Fail(DomainError.Validation("profile", $"No profile with id {id:D} exists."));
        }

        if (template is null)
        {
            throw Fail(DomainError.Validation("profiletemplateuuid", $"No profile template with id {profile.TemplateUuid:D} exists."));
        }

        // A card's profile changes with its card (SPEC §3): the request names the card.
        if (profile.SmartcardUuid != Guid.Empty)
        {
            throw Fail(DomainError.Validation("profile", $"The profile is on smart card {profile.SmartcardUuid:D}; name the card in 'smartcard' instead."));
        }

        if (!ProfileRules.AllowedTypes(profile.Status).Contains(input.Type))
        {
            throw Fail(new DomainError(ErrorKind.Conflict, $"A {profile.Status} profile cannot be the subject of a {input.Type} request.", "profile"));
        }

        return (profile, template);
    }

    // Issue #18.5: at most MaxPendingRequestsPerTemplate requests of one originator from one template
    // wait for approval at a time, so no one user's backlog fills the approvers' queue. Counted
    // after the insert, in its unit of work: the insert holds the audit head's lock until commit
    // (decision 0006), so two creations at once count each other and the cap is exact.
    private async Task CapPendingAsync(IUnitOfWork uow, CmRequest request, ProfileTemplate template, CancellationToken ct)
    {
        var cap = _options.MaxPendingRequestsPerTemplate;
        if (cap > 0 && request.Status == RequestStatus.Pending &&
            await uow.Requests.CountByOriginatorAsync(request.OriginatorUserUuid, template.Uuid, RequestStatus.Pending, ct).ConfigureAwait(false) > cap)
        {
            throw Fail(new DomainError(ErrorKind.Conflict,
                $"You have {cap} requests from '{template.Name}' waiting for approval already; wait for them to be decided or cancel some first.", "profiletemplateuuid"));
        }
    }

    private static OpenCmException Fail(DomainError error) => new(error);
}
