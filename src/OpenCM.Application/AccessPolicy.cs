using OpenCM.Domain;
using OpenCM.Security.Sddl;

namespace OpenCM.Application;

/// <summary>
/// Who may do what (SPEC §5), in one place: rights on a request come from its security
/// descriptor; starting a request from the policy's self-service switch or its initiator role;
/// templates and profiles from those and the managers group. Use cases ask here and nowhere else.
/// </summary>
public sealed class AccessPolicy
{
    /// <summary>Every right a request's descriptor can grant (0x301FF): CM managers hold them all.</summary>
    public const RequestPermission AllRequestRights =
        RequestPermission.Approve | RequestPermission.Deny | RequestPermission.Abandon | RequestPermission.Execute
        | RequestPermission.ReadProperty | RequestPermission.Write | RequestPermission.ChangePriority | RequestPermission.DistributeSecrets
        | RequestPermission.PrintDocuments | RequestPermission.Cancel | RequestPermission.ReadControl;

    private readonly IDirectory _directory;
    private readonly OpenCmOptions _options;
    private Sid? _managers;

    public AccessPolicy(IDirectory directory, OpenCmOptions options)
    {
        _directory = directory;
        _options = options;
    }

    /// <summary>The managers group's SID once the group exists; kept once found, as a group's SID never changes.</summary>
    public async ValueTask<Sid?> ManagersAsync(CancellationToken ct = default)
    {
        if (_managers is null && await _directory.FindByNameAsync(_options.ManagersGroup, ct).ConfigureAwait(false) is { Kind: PrincipalKind.Group } g)
        {
            _managers = g.Sid;
        }

        return _managers;
    }

    /// <summary>Whether the caller's token holds the managers group (SPEC §5: every right everywhere).</summary>
    public async ValueTask<bool> IsManagerAsync(Caller caller, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(caller);
        return await ManagersAsync(ct).ConfigureAwait(false) is { } managers && caller.Token.Contains(managers);
    }

    /// <summary>Whether the caller may use the help desk (issue #10.4): CM managers, who act on any user's cards and profiles (SPEC §5).</summary>
    public ValueTask<bool> MayUseHelpDeskAsync(Caller caller, CancellationToken ct = default) => IsManagerAsync(caller, ct);

    /// <summary>Whether the caller may read the managers' reports (issue #21.3: expiry, cards, requests, templates, a user's audit): CM managers (SPEC §5).</summary>
    public ValueTask<bool> MaySeeReportsAsync(Caller caller, CancellationToken ct = default) => IsManagerAsync(caller, ct);

    /// <summary>Whether the caller may see a request's audit trail (who did what to it): CM managers (SPEC §5).</summary>
    public ValueTask<bool> MaySeeAuditTrailAsync(Caller caller, CancellationToken ct = default) => IsManagerAsync(caller, ct);

    /// <summary>The rights <paramref name="caller"/> holds on <paramref name="request"/>: an access check of its descriptor.</summary>
    public static RequestPermission RightsOn(CmRequest request, Caller caller)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(caller);
        return (RequestPermission)AccessCheck.GrantedRights(Descriptor(request.SecurityDescriptor), caller.Token) & AllRequestRights;
    }

    // Parsed descriptors by their text. Requests of one template and one user share a descriptor,
    // so a list page of 100 rows parses a handful of them, not 100 (issue #11). The parsed form
    // is immutable; the bound keeps memory flat whatever the number of users.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, SecurityDescriptor> Descriptors = new(StringComparer.Ordinal);
    private const int DescriptorCacheSize = 10_000;

    private static SecurityDescriptor Descriptor(string sddl)
    {
        if (Descriptors.TryGetValue(sddl, out var parsed))
        {
            return parsed;
        }

        parsed = SddlParser.Parse(sddl);
        if (Descriptors.Count >= DescriptorCacheSize)
        {
            Descriptors.Clear();
        }

        Descriptors.TryAdd(sddl, parsed);
        return parsed;
    }

    /// <summary>
    /// Whether <paramref name="caller"/> may start a request under <paramref name="policy"/> for
    /// <paramref name="target"/>: for themselves when the policy allows self-service, for anyone
    /// when they hold its initiator role.
    /// </summary>
    public static bool MayInitiate(WorkflowPolicy policy, Caller caller, Guid target)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(caller);
        return (target == caller.UserUuid && policy.SelfServiceEnabled) || RequestDescriptorBuilder.HoldsRole(policy.AuthorizedInitiator, caller.Token, null);
    }

    /// <summary>Whether the caller sees a template: a manager sees all, others those with an enabled policy they may initiate for themselves.</summary>
    public async ValueTask<bool> MaySeeTemplateAsync(ProfileTemplate template, Caller caller, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(template);
        ArgumentNullException.ThrowIfNull(caller);
        return template.Policies.Values.Any(p => p.Enabled && MayInitiate(p, caller, caller.UserUuid)) || await IsManagerAsync(caller, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Whether the caller may name a profile in a request of <paramref name="type"/>: whoever may
    /// read it, and whoever holds the initiator role of that type on its template (a help desk
    /// acting on behalf). To anyone else the profile does not exist (issue #7.6).
    /// </summary>
    public async ValueTask<bool> MayActOnProfileAsync(StoredProfile profile, ProfileTemplate? template, RequestType type, Caller caller, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(caller);
        return await MayReadProfileAsync(profile, caller, ct).ConfigureAwait(false)
            || (template?.PolicyFor(type) is { } policy && RequestDescriptorBuilder.HoldsRole(policy.AuthorizedInitiator, caller.Token, null));
    }

    /// <summary>Whether the caller may start a request of <paramref name="type"/> on a card: who may read it, or an authorized initiator of the type.</summary>
    public async ValueTask<bool> MayActOnCardAsync(StoredSmartcard card, ProfileTemplate? template, RequestType type, Caller caller, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(card);
        ArgumentNullException.ThrowIfNull(caller);
        return await MayReadCardAsync(card, caller, ct).ConfigureAwait(false)
            || (template?.PolicyFor(type) is { } policy && RequestDescriptorBuilder.HoldsRole(policy.AuthorizedInitiator, caller.Token, null));
    }

    /// <summary>Whether the caller may read a smart card, by any route: the user it is assigned to, or a manager (as for profiles).</summary>
    public async ValueTask<bool> MayReadCardAsync(StoredSmartcard card, Caller caller, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(card);
        ArgumentNullException.ThrowIfNull(caller);
        return card.UserUuid == caller.UserUuid || await IsManagerAsync(caller, ct).ConfigureAwait(false);
    }

    /// <summary>Whether the caller may read a profile, by any route: the user it is assigned to, or a manager.</summary>
    public async ValueTask<bool> MayReadProfileAsync(StoredProfile profile, Caller caller, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(caller);
        return profile.UserUuid == caller.UserUuid || await IsManagerAsync(caller, ct).ConfigureAwait(false);
    }
}
