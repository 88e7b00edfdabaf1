using OpenCM.Domain;

namespace OpenCM.Application;

/// <summary>A profile with the request types the caller may start on it now.</summary>
public sealed record ProfileView(StoredProfile Profile, IReadOnlyList<RequestType> Operations);

/// <summary>A certificate as the caller sees it.</summary>
public sealed record CertificateView(StoredCertificate Certificate, bool ArchivedOnCa, string RequesterName);

/// <summary>Reading software profiles and certificates (get-profile-data, get-profile-state-operations, get-user-certificates).</summary>
public sealed class ProfileService
{
    private readonly IProfileStore _profiles;
    private readonly ITemplateStore _templates;
    private readonly RequestQueries _requests;
    private readonly IRequestStore _requestStore;
    private readonly IDirectory _directory;
    private readonly AccessPolicy _access;
    private readonly ISmartcardStore _cards;

    public ProfileService(
        IProfileStore profiles, ITemplateStore templates, RequestQueries requests, IRequestStore requestStore, IDirectory directory, AccessPolicy access, ISmartcardStore cards)
    {
        _cards = cards;
        _profiles = profiles;
        _templates = templates;
        _requests = requests;
        _requestStore = requestStore;
        _directory = directory;
        _access = access;
    }

    /// <summary>GET /profiles: the caller's profiles.</summary>
    public async Task<IReadOnlyList<ProfileView>> ListAsync(Caller caller, ProfileStatus? status, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(caller);
        var views = new List<ProfileView>();
        foreach (var p in await _profiles.ForUserAsync(caller.UserUuid, status, ct).ConfigureAwait(false))
        {
            views.Add(await ViewAsync(caller, p, ct).ConfigureAwait(false));
        }

        return views;
    }

    /// <summary>GET /profiles/{id}: the assigned user's or a manager's; NotFound to anyone else.</summary>
    public async Task<ProfileView> GetAsync(Caller caller, Guid id, CancellationToken ct = default) =>
        await ViewAsync(caller, await VisibleAsync(caller, id, ct).ConfigureAwait(false), ct).ConfigureAwait(false);

    /// <summary>GET /requests/{id}/profiles: what a request the caller may read created, as far as GET /profiles/{id} would show it to them.</summary>
    public async Task<IReadOnlyList<ProfileView>> ForRequestAsync(Caller caller, Guid requestId, CancellationToken ct = default)
    {
        await _requests.GetAsync(caller, requestId, ct).ConfigureAwait(false);
        var views = new List<ProfileView>();
        foreach (var p in await _profiles.ForRequestAsync(requestId, ct).ConfigureAwait(false))
        {
            // One visibility rule for both routes (issue #7.6): an approver reads the request, not the profile.
            if (await _access.MayReadProfileAsync(p, caller, ct).ConfigureAwait(false))
            {
                views.Add(await ViewAsync(caller, p, ct).ConfigureAwait(false));
            }
        }

        return views;
    }

    /// <summary>GET /profiles/{id}/certificates.</summary>
    public async Task<IReadOnlyList<CertificateView>> CertificatesAsync(Caller caller, Guid id, CancellationToken ct = default)
    {
        var profile = await VisibleAsync(caller, id, ct).ConfigureAwait(false);
        return await ViewsAsync(caller, await _profiles.CertificatesOfProfileAsync(profile.Uuid, ct).ConfigureAwait(false), ct).ConfigureAwait(false);
    }

    /// <summary>
    /// GET /smartcards/{id}/certificates (get-smartcard-profile-certificates): every certificate
    /// issued onto the card, oldest first; the card's reader only, NotFound to anyone else.
    /// </summary>
    public async Task<IReadOnlyList<CertificateView>> CardCertificatesAsync(Caller caller, Guid id, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(caller);
        var card = await _cards.FindAsync(id, ct).ConfigureAwait(false);
        if (card is null || !await _access.MayReadCardAsync(card, caller, ct).ConfigureAwait(false))
        {
            throw new OpenCmException(DomainError.NotFound($"No smart card with id {id:D} exists."));
        }

        var certificates = new List<StoredCertificate>();
        foreach (var profile in await _profiles.ForSmartcardAsync(card.Uuid, ct).ConfigureAwait(false))
        {
            certificates.AddRange(await _profiles.CertificatesOfProfileAsync(profile.Uuid, ct).ConfigureAwait(false));
        }

        return await ViewsAsync(caller, certificates, ct).ConfigureAwait(false);
    }

    /// <summary>GET /certificates: the caller's certificates, retired (superseded or revoked) and unfinished ones left out.</summary>
    public async Task<IReadOnlyList<CertificateView>> UserCertificatesAsync(Caller caller, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(caller);
        var mine = (await _profiles.CertificatesOfUserAsync(caller.UserUuid, ct).ConfigureAwait(false)).Where(c => c.Status == CertificateStatus.Current).ToList();
        return await ViewsAsync(caller, mine, ct).ConfigureAwait(false);
    }

    private async Task<StoredProfile> VisibleAsync(Caller caller, Guid id, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(caller);
        var profile = await _profiles.FindAsync(id, ct).ConfigureAwait(false);
        if (profile is not null && await _access.MayReadProfileAsync(profile, caller, ct).ConfigureAwait(false))
        {
            return profile;
        }

        throw new OpenCmException(DomainError.NotFound($"No profile with id {id:D} exists."));
    }

    private async Task<ProfileView> ViewAsync(Caller caller, StoredProfile profile, CancellationToken ct)
    {
        var template = await _templates.FindAsync(profile.TemplateUuid, ct).ConfigureAwait(false);
        if (template is null)
        {
            return new ProfileView(profile, []);
        }

        // Only what OpenCM executes today is offered (the kind table's Supported).
        var operations = RequestKinds.AllowedOn(profile.Status).Where(type =>
            (!RequestKinds.Of(type, Medium.Software).NeedsNewerTemplate || profile.TemplateVersion < template.Version)
            && template.PolicyFor(type) is { Enabled: true } p
            && AccessPolicy.MayInitiate(p, caller, profile.UserUuid)).ToList();
        return new ProfileView(profile, operations);
    }

    private async Task<IReadOnlyList<CertificateView>> ViewsAsync(Caller caller, IReadOnlyList<StoredCertificate> certificates, CancellationToken ct)
    {
        var names = new Dictionary<Guid, string>();
        var archived = await _profiles.ArchivedSerialsAsync([.. certificates.Select(c => c.SerialHex)], ct).ConfigureAwait(false);
        var views = new List<CertificateView>(certificates.Count);
        foreach (var c in certificates)
        {
            if (!names.TryGetValue(c.RequestUuid, out var requester))
            {
                var originator = (await _requestStore.FindAsync(c.RequestUuid, ct).ConfigureAwait(false))?.OriginatorUserUuid;
                requester = originator == caller.UserUuid ? caller.Name
                    : originator is { } o && await _directory.FindAsync(o, ct).ConfigureAwait(false) is { } p ? p.Name
                    : originator?.ToString("D") ?? "";
                names[c.RequestUuid] = requester;
            }

            views.Add(new CertificateView(c, archived.Contains(c.SerialHex), requester));
        }

        return views;
    }
}
