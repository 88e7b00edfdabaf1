using System.Globalization;
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

/// <summary>Filters of GET /requests.</summary>
public sealed record RequestListFilter(RequestStatus? Status, bool CurrentUserAsTarget, long After, int? Top);

/// <summary>One page of requests; <see cref="NextAfter"/> is set when more may follow.</summary>
public sealed record RequestListPage(IReadOnlyList<CmRequest> Items, long? NextAfter);

/// <summary>Use cases of the request lifecycle (SPEC §4): create, read, list, set status, approve or deny.</summary>
public sealed class RequestService
{
    private const int MaxRaceRetries = 16;
    private readonly IRequestStore _requests;
    private readonly ITemplateStore _templates;
    private readonly IDirectory _directory;
    private readonly IProfileStore _profiles;
    private readonly TimeProvider _clock;
    private readonly OpenCmOptions _options;
    private Sid? _managers;

    public RequestService(IRequestStore requests, ITemplateStore templates, IDirectory directory, IProfileStore profiles, TimeProvider clock, OpenCmOptions options)
    {
        _requests = requests;
        _templates = templates;
        _directory = directory;
        _profiles = profiles;
        _clock = clock;
        _options = options;
    }

    /// <summary>Creates a request (POST /requests).</summary>
    public async Task<CmRequest> CreateAsync(Caller caller, CreateRequestInput input, string correlationId, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(caller);
        ArgumentNullException.ThrowIfNull(input);

        // 1. The request type must be a real one.
        if (input.Type == RequestType.None || !Enum.IsDefined(input.Type))
        {
            throw Fail(DomainError.Validation("type", "The request type is required."));
        }

        // 2. The template and policy: named for new credentials, the named profile's for the rest.
        StoredProfile? oldProfile = null;
        Guid templateId;
        if (RequestTypes.NeedsCredential(input.Type))
        {
            oldProfile = await ResolveProfileAsync(input, ct).ConfigureAwait(false);
            templateId = oldProfile.TemplateUuid;
        }
        else
        {
            templateId = input.ProfileTemplateUuid ?? throw Fail(DomainError.Validation("profiletemplateuuid", "The profile template is required."));
        }

        // 3. The policy for this type.
        var template = await _templates.FindAsync(templateId, ct).ConfigureAwait(false)
            ?? throw Fail(DomainError.Validation("profiletemplateuuid", $"No profile template with id {templateId:D} exists."));
        var policy = template.PolicyFor(input.Type);
        if (policy is null || !policy.Enabled)
        {
            throw Fail(new DomainError(ErrorKind.PolicyDisabled, $"The template '{template.Name}' does not allow {input.Type} requests."));
        }

        if (input.Type == RequestType.OnlineUpdate && oldProfile is not null && oldProfile.TemplateVersion >= template.Version)
        {
            throw Fail(new DomainError(ErrorKind.Conflict, $"The profile already follows version {template.Version} of '{template.Name}'.", "profile"));
        }

        // 4. The target (a named profile's owner), and the caller's right to initiate for it (SPEC §5).
        var targetId = oldProfile?.UserUuid ?? input.Target ?? caller.UserUuid;
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

        var selfService = targetId == caller.UserUuid && policy.SelfServiceEnabled;
        if (!selfService && !RequestDescriptorBuilder.HoldsRole(policy.AuthorizedInitiator, caller.Token, null))
        {
            throw Fail(DomainError.Forbidden(targetId == caller.UserUuid
                ? $"Self-service {input.Type} is not enabled for '{template.Name}' and you are not an authorized initiator."
                : $"Only an authorized initiator may create {input.Type} requests for another user."));
        }

        // 5. The data collection, comment and priority against the policy (SPEC §6).
        var (valid, error) = RequestRules.Validate(policy, input.DataCollection, input.Comment, input.Priority);
        if (error is not null)
        {
            throw Fail(error);
        }

        // 6. Status, flags and descriptor; then one durable write with its audit event.
        var descriptor = RequestDescriptorBuilder.Build(policy, caller.UserSid, targetSid, await ManagersAsync(ct).ConfigureAwait(false), null);
        var now = _clock.GetUtcNow();
        var request = new CmRequest
        {
            Uuid = Guid.NewGuid(),
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
            SecurityDescriptor = descriptor.ToString(),
            IsDataCollectionComplete = valid.IsDataCollectionComplete,
            ApprovalsNeeded = Math.Max(0, policy.ApprovalsNeeded),
        };
        var audit = new AuditEvent("RequestCreated", request.Uuid, caller.UserUuid, RequestStatus.None, request.Status, now, correlationId,
            $"type={input.Type} template={template.Uuid:D} target={targetId:D}");
        await _requests.CreateAsync(request, RequestDescriptorBuilder.ReaderSids(descriptor), audit, ct).ConfigureAwait(false);

        // 7. Types that need no client run at once when no approval is needed.
        return request.Status == RequestStatus.Approved && ProfileRules.IsServerExecuted(request.RequestType)
            ? await ExecuteOnServerAsync(caller, request, correlationId, ct).ConfigureAwait(false)
            : request;
    }

    /// <summary>Reads a request the caller may read; otherwise NotFound, so existence is not revealed.</summary>
    public async Task<(CmRequest Request, RequestPermission Rights)> GetAsync(Caller caller, Guid id, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(caller);
        var request = await _requests.FindAsync(id, ct).ConfigureAwait(false);
        var rights = request is null ? RequestPermission.None : RightsOf(request, caller);
        return request is not null && rights.CanRead()
            ? (request, rights)
            : throw Fail(DomainError.NotFound($"No request with id {id:D} exists."));
    }

    /// <summary>The seed's PUT /requests/{id}: Completed, Canceled or Abandoned.</summary>
    public Task<CmRequest> SetStatusAsync(Caller caller, Guid id, RequestStatus target, IReadOnlyCollection<long>? ifMatch, string correlationId, CancellationToken ct = default) =>
        DecideAndApplyAsync(caller, id, new LifecycleCommand.SetStatus(target), ifMatch, correlationId, ct);

    /// <summary>POST /requests/{id}/approvals: one approver's Approve or Deny.</summary>
    public Task<CmRequest> VoteAsync(Caller caller, Guid id, bool approve, string comment, string correlationId, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(caller);
        LifecycleCommand command = approve
            ? new LifecycleCommand.Approve(caller.UserUuid, comment)
            : new LifecycleCommand.Deny(caller.UserUuid, comment);
        return DecideAndApplyAsync(caller, id, command, null, correlationId, ct);
    }

    /// <summary>A page of the requests the caller may read, in submission order.</summary>
    public async Task<RequestListPage> ListAsync(Caller caller, RequestListFilter filter, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(caller);
        ArgumentNullException.ThrowIfNull(filter);
        var top = filter.Top ?? _options.MaxPageSize;
        if (top < 1 || top > _options.MaxPageSize)
        {
            throw Fail(DomainError.Validation("top", $"top must be between 1 and {_options.MaxPageSize}."));
        }

        // The store finds candidates through the reader index; the exact access check (deny
        // entries included) runs here. Keep reading until the page is full or the rows run out.
        var items = new List<CmRequest>(Math.Min(top, 256));
        var after = filter.After;
        while (true)
        {
            var query = new RequestQuery([.. caller.Token], filter.Status, filter.CurrentUserAsTarget ? caller.UserUuid : null, after, top + 1);
            var batch = await _requests.ListAsync(query, ct).ConfigureAwait(false);
            foreach (var stored in batch)
            {
                if (items.Count == top)
                {
                    return new RequestListPage(items, after);
                }

                after = stored.Sequence;
                if (RightsOf(stored.Request, caller).CanRead())
                {
                    items.Add(stored.Request);
                }
            }

            if (batch.Count < query.Limit)
            {
                return new RequestListPage(items, null);
            }
        }
    }

    /// <summary>The rights <paramref name="caller"/> holds on <paramref name="request"/>.</summary>
    public static RequestPermission RightsOf(CmRequest request, Caller caller)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(caller);
        return (RequestPermission)(AccessCheck.GrantedRights(SddlParser.Parse(request.SecurityDescriptor), caller.Token) & 0x301FF);
    }

    private async Task<CmRequest> DecideAndApplyAsync(Caller caller, Guid id, LifecycleCommand command, IReadOnlyCollection<long>? ifMatch, string correlationId, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(caller);
        for (var attempt = 0; ; attempt++)
        {
            // 1. Read the request as the caller may see it (404 hides what they may not read).
            var (request, rights) = await GetAsync(caller, id, ct).ConfigureAwait(false);

            // 2. A client that sent If-Match acts only on the version it saw.
            if (ifMatch is not null && !ifMatch.Contains(request.Version))
            {
                throw Fail(new DomainError(ErrorKind.PreconditionFailed,
                    $"The request has changed (version {request.Version.ToString(CultureInfo.InvariantCulture)}); read it again.", CurrentStatus: request.Status));
            }

            // 3. The pure state machine decides.
            var now = _clock.GetUtcNow();
            var decision = RequestLifecycle.Decide(request.Lifecycle, command, rights, now);
            RequestChange change;
            AuditEvent audit;
            CmRequest after;
            switch (decision)
            {
                case Decision.Refused r:
                    throw Fail(r.Error);
                case Decision.Unchanged:
                    return request;
                case Decision.Move m:
                    after = request with
                    {
                        Status = m.To,
                        Completed = m.Completed ?? request.Completed,
                        Votes = m.Vote is null ? request.Votes : [.. request.Votes, m.Vote],
                        Version = request.Version + 1,
                    };
                    change = new RequestChange(id, request.Version, m.From, m.To, m.Completed, m.Vote is null ? null : after.Votes)
                    {
                        Effect = ExecutionEffects.For(m.From, m.To),
                        OldProfile = m.To == RequestStatus.Completed ? await OldProfileOnCompletionAsync(request, ct).ConfigureAwait(false) : null,
                    };
                    audit = new AuditEvent("StatusChanged", id, caller.UserUuid, m.From, m.To, now, correlationId, Describe(command));
                    break;
                case Decision.Record rec:
                    after = request with { Votes = [.. request.Votes, rec.Vote], Version = request.Version + 1 };
                    change = new RequestChange(id, request.Version, request.Status, request.Status, null, after.Votes);
                    audit = new AuditEvent("ApprovalRecorded", id, caller.UserUuid, request.Status, request.Status, now, correlationId, Describe(command));
                    break;
                default:
                    throw new InvalidOperationException("Unknown decision.");
            }

            // 4. Compare-and-set with the audit event in one transaction. Losing the race means
            //    someone else changed the request: decide again on what they left.
            if (await _requests.TryChangeAsync(change, audit, ct).ConfigureAwait(false))
            {
                // The last approval of a type that needs no client starts its execution.
                return after.Status == RequestStatus.Approved && request.Status != RequestStatus.Approved && ProfileRules.IsServerExecuted(after.RequestType)
                    ? await ExecuteOnServerAsync(caller, after, correlationId, ct).ConfigureAwait(false)
                    : after;
            }

            if (ifMatch is not null)
            {
                throw Fail(new DomainError(ErrorKind.PreconditionFailed, "The request changed while this update was applied; read it again."));
            }

            if (attempt >= MaxRaceRetries)
            {
                throw Fail(new DomainError(ErrorKind.Conflict, "The request is changing too often to apply this update; try again."));
            }
        }
    }

    /// <summary>
    /// Runs a request that needs no client (Revoke, Retire): Approved → Executing → Completed with
    /// what it does to its profile, both steps and their audit events in one transaction (SPEC §4).
    /// </summary>
    private async Task<CmRequest> ExecuteOnServerAsync(Caller caller, CmRequest request, string correlationId, CancellationToken ct)
    {
        // 1. The server acts on the authority of whoever made the request executable.
        var now = _clock.GetUtcNow();
        if (RequestLifecycle.Decide(request.Lifecycle, new LifecycleCommand.BeginExecution(), RequestPermission.Execute, now) is not Decision.Move begin)
        {
            return request;
        }

        var executing = request with { Status = begin.To, Version = request.Version + 1 };
        if (RequestLifecycle.Decide(executing.Lifecycle, new LifecycleCommand.FinishExecution(), RequestPermission.None, now) is not Decision.Move finish)
        {
            return request;
        }

        // 2. Both moves and the profile change by compare-and-set, in one write.
        var oldProfile = await OldProfileOnCompletionAsync(request, ct).ConfigureAwait(false);
        var steps = new List<(RequestChange, AuditEvent)>
        {
            (new RequestChange(request.Uuid, request.Version, begin.From, begin.To, null, null),
                new AuditEvent("StatusChanged", request.Uuid, caller.UserUuid, begin.From, begin.To, now, correlationId, "executed by the server")),
            (new RequestChange(request.Uuid, executing.Version, finish.From, finish.To, finish.Completed, null) { OldProfile = oldProfile },
                new AuditEvent("StatusChanged", request.Uuid, caller.UserUuid, finish.From, finish.To, now, correlationId,
                    oldProfile is null ? "completed by the server" : $"profile {oldProfile.Profile:D} {oldProfile.From} -> {oldProfile.To}")),
        };
        if (await _requests.TryChangeAllAsync(steps, ct).ConfigureAwait(false))
        {
            return executing with { Status = finish.To, Completed = finish.Completed, Version = executing.Version + 1 };
        }

        // 3. Someone acted first (cancelled it, or the profile moved): report what is true now.
        return await _requests.FindAsync(request.Uuid, ct).ConfigureAwait(false) ?? request;
    }

    private async Task<ProfileTransition?> OldProfileOnCompletionAsync(CmRequest request, CancellationToken ct)
    {
        if (request.OldProfileUuid == Guid.Empty || await _profiles.FindAsync(request.OldProfileUuid, ct).ConfigureAwait(false) is not { } old)
        {
            return null;
        }

        return ProfileRules.OnCompletion(request.RequestType, old.Uuid, old.Status, ProfileRules.RevocationReason(request.DataCollection));
    }

    // The profile a request acts on: it exists, OpenCM executes this type on it, and its status allows the type.
    private async Task<StoredProfile> ResolveProfileAsync(CreateRequestInput input, CancellationToken ct)
    {
        if (input.Smartcard is { } card && input.Profile is null)
        {
            // TODO(#4): smart card request types.
            throw Fail(DomainError.Validation("smartcard", $"No smart card with id {card:D} exists."));
        }

        if (!ProfileRules.IsSupported(input.Type))
        {
            throw Fail(DomainError.Validation("type", $"{input.Type} requests on software profiles are not supported yet."));
        }

        var id = input.Profile ?? throw Fail(DomainError.Validation("profile", $"{input.Type} requests name the profile they act on."));
        var profile = await _profiles.FindAsync(id, ct).ConfigureAwait(false)
            ?? throw Fail(DomainError.Validation("profile", $"No profile with id {id:D} exists."));
        if (!ProfileRules.AllowedTypes(profile.Status).Contains(input.Type))
        {
            throw Fail(new DomainError(ErrorKind.Conflict, $"A {profile.Status} profile cannot be the subject of a {input.Type} request.", "profile"));
        }

        return profile;
    }

    private static string Describe(LifecycleCommand command) => command switch
    {
        LifecycleCommand.SetStatus s => $"set status {s.Target}",
        LifecycleCommand.Approve => "approve",
        LifecycleCommand.Deny => "deny",
        _ => command.GetType().Name,
    };

    private async Task<Sid?> ManagersAsync(CancellationToken ct)
    {
        if (_managers is null && await _directory.FindByNameAsync(_options.ManagersGroup, ct).ConfigureAwait(false) is { Kind: PrincipalKind.Group } g)
        {
            _managers = g.Sid;
        }

        return _managers;
    }

    private static OpenCmException Fail(DomainError error) => new(error);
}
