using System.Buffers.Text;
using System.Globalization;
using System.Text;
using OpenCM.Domain;

namespace OpenCM.Application;

/// <summary>A request on a portal list, with the names a page shows beside it.</summary>
public sealed record RequestRow(CmRequest Request, string OriginatorName, string TargetName, string TemplateName);

/// <summary>One page of a portal list, newest first; <see cref="Older"/> (opaque) asks for the page after it, null when nothing older remains.</summary>
public sealed record PortalPage<T>(IReadOnlyList<T> Items, string? Older);

/// <summary>A card on the portal's home: its template's name and what the user may start on it (GET /smartcards/{id}/operations).</summary>
public sealed record CardSummary(StoredSmartcard Card, string Template, IReadOnlyList<RequestType> Operations);

/// <summary>
/// The portal's home for the signed-in user: the templates they may use, their software
/// profiles and certificates, their cards, and the first page of the requests they may read.
/// </summary>
public sealed record UserSummary(
    Caller Caller,
    IReadOnlyList<ProfileTemplate> Templates,
    IReadOnlyList<ProfileView> Profiles,
    ILookup<Guid, CertificateView> Certificates,
    IReadOnlyList<CardSummary> Cards,
    PortalPage<RequestRow> Requests);

/// <summary>
/// One request as the portal shows it to a caller: the request, its template's name, the names
/// of everyone it mentions, what the caller may do now (asked of the state machine's one
/// <see cref="RequestLifecycle.Decide"/> with the caller's rights; the use case decides again on
/// submit), the key step, and the audit trail where the access policy shows it.
/// </summary>
public sealed record RequestView(
    CmRequest Request,
    string? TemplateName,
    IReadOnlyDictionary<Guid, string> Names,
    bool CanVote,
    bool CanCancel,
    bool CanAbandon,
    bool CanComplete,
    bool WaitsForCardClient,
    KeyPlan? Keys,
    IReadOnlyList<ChainedAuditEvent> Trail)
{
    public string NameOf(Guid user) => Names.TryGetValue(user, out var name) ? name : user.ToString("D");
}

/// <summary>
/// The opaque continuation of a portal list: the position (the request store's sequence) the
/// next, older page starts before. Not the API's skiptoken (which walks the other way).
/// </summary>
public static class PageCursor
{
    private const string Prefix = "o:";

    public static string Format(long before) => Base64Url.EncodeToString(Encoding.ASCII.GetBytes(Prefix + before.ToString(CultureInfo.InvariantCulture)));

    /// <summary>The position <paramref name="token"/> names; 0 (the newest) when absent. A token this server did not issue is a 400 naming <c>older</c>.</summary>
    public static long Parse(string? token)
    {
        if (string.IsNullOrEmpty(token))
        {
            return 0;
        }

        try
        {
            var text = token.Length <= 64 ? Encoding.ASCII.GetString(Base64Url.DecodeFromChars(token)) : "";
            if (text.StartsWith(Prefix, StringComparison.Ordinal)
                && long.TryParse(text.AsSpan(Prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var before) && before > 0)
            {
                return before;
            }
        }
        catch (FormatException)
        {
            // Not base64url: refused below, as any other token this server did not issue.
        }

        throw new OpenCmException(DomainError.Validation("older", "'older' is not a page this server linked to."));
    }
}

/// <summary>
/// The portal's lists and views (issue #17.3, #18.5), prepared here so that pages only bind and
/// render. Lists are newest first and paged by rows and by bytes: a page stops at
/// <see cref="OpenCmOptions.PortalPageRows"/> rows, before the row that would take its request
/// text past <see cref="OpenCmOptions.PortalPageBytes"/> (it always holds at least one), or after
/// reading ten pages' worth of candidates it did not show; any of these links on to the older rows.
/// </summary>
public sealed class PortalViews
{
    private readonly IRequestStore _requests;
    private readonly RequestContextLoader _loader;
    private readonly ITemplateStore _templateStore;
    private readonly TemplateService _templates;
    private readonly IDirectory _directory;
    private readonly AccessPolicy _access;
    private readonly IAuditLog _audit;
    private readonly EnrollmentService _enrollment;
    private readonly ProfileService _profiles;
    private readonly SmartcardQueries _cards;
    private readonly OpenCmOptions _options;
    private readonly TimeProvider _clock;

    public PortalViews(
        IRequestStore requests, RequestContextLoader loader, ITemplateStore templateStore, TemplateService templates, IDirectory directory, AccessPolicy access,
        IAuditLog audit, EnrollmentService enrollment, ProfileService profiles, SmartcardQueries cards, OpenCmOptions options, TimeProvider clock)
    {
        _requests = requests;
        _loader = loader;
        _templateStore = templateStore;
        _templates = templates;
        _directory = directory;
        _access = access;
        _audit = audit;
        _enrollment = enrollment;
        _profiles = profiles;
        _cards = cards;
        _options = options;
        _clock = clock;
    }

    /// <summary>
    /// The approvers' queue (issue #10.3): pending requests the caller may approve or deny and has
    /// not voted on, as the API's rights say (dual control: originator and target never see theirs).
    /// </summary>
    public Task<PortalPage<RequestRow>> ApprovalQueueAsync(Caller caller, string? older, CancellationToken ct = default)
    {
        var now = _clock.GetUtcNow();
        return PageAsync(caller, RequestStatus.Pending, null, older, (r, rights) => RequestOffers.MayVote(r, rights, caller, now), ct);
    }

    /// <summary>The requests the caller may read (for <paramref name="target"/> only, when given), newest first.</summary>
    public Task<PortalPage<RequestRow>> RequestsAsync(Caller caller, Guid? target, string? older, CancellationToken ct = default) =>
        PageAsync(caller, null, target, older, (_, _) => true, ct);

    /// <summary>The portal's home for <paramref name="caller"/>, with the page of their requests <paramref name="older"/> names.</summary>
    public async Task<UserSummary> UserSummaryAsync(Caller caller, string? older, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(caller);
        var requests = await RequestsAsync(caller, null, older, ct).ConfigureAwait(false);
        var templates = await _templates.ListVisibleAsync(caller, ct).ConfigureAwait(false);
        var profiles = (await _profiles.ListAsync(caller, null, ct).ConfigureAwait(false))
            .Where(p => p.Profile.SmartcardUuid == Guid.Empty && p.Profile.Status is ProfileStatus.Active or ProfileStatus.Suspended or ProfileStatus.Disabled)
            .ToList();
        var certificates = (await _profiles.UserCertificatesAsync(caller, ct).ConfigureAwait(false)).ToLookup(c => c.Certificate.ProfileUuid);
        var cards = new List<CardSummary>();
        foreach (var (card, template) in await _cards.ListAsync(caller, ct).ConfigureAwait(false))
        {
            if (card.Status is not (SmartcardStatus.Retired or SmartcardStatus.New))
            {
                cards.Add(new CardSummary(card, template?.Name ?? card.TemplateUuid.ToString("D"), await _cards.OperationsAsync(caller, card.Uuid, ct).ConfigureAwait(false)));
            }
        }

        return new UserSummary(caller, templates, profiles, certificates, cards, requests);
    }

    /// <summary>Request <paramref name="id"/> as <paramref name="caller"/> may see it; NotFound (as the API's) otherwise.</summary>
    public async Task<RequestView> RequestAsync(Caller caller, Guid id, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(caller);
        var loaded = await _loader.LoadAsync(caller, id, ContextParts.Template, ct).ConfigureAwait(false);
        var (request, rights, template) = (loaded.Request, loaded.Rights, loaded.Context.Template);
        var trail = await _access.MaySeeAuditTrailAsync(caller, ct).ConfigureAwait(false)
            ? await _audit.ForSubjectAsync(request.Uuid, ct).ConfigureAwait(false)
            : [];
        var names = new Dictionary<Guid, string>();
        foreach (var user in new[] { request.OriginatorUserUuid, request.TargetUserUuid }.Concat(request.Votes.Select(v => v.Approver)).Concat(trail.Select(t => t.Event.Actor)))
        {
            await UserNameAsync(names, user, ct).ConfigureAwait(false);
        }

        var now = _clock.GetUtcNow();
        return new RequestView(
            request,
            template?.Name,
            names,
            RequestOffers.MayVote(request, rights, caller, now),
            RequestOffers.MayMove(request, RequestStatus.Canceled, rights, now),
            RequestOffers.MayMove(request, RequestStatus.Abandoned, rights, now),
            RequestOffers.MayMove(request, RequestStatus.Completed, rights, now),
            RequestOffers.WaitsForCardClient(request),
            await _enrollment.KeyPlanAsync(request, rights, template, ct).ConfigureAwait(false),
            trail);
    }

    // Newest first from the position `older` names: rows the caller may read and `wanted` keeps,
    // until the page is full by rows or bytes, or enough candidates were read for one page.
    private async Task<PortalPage<RequestRow>> PageAsync(
        Caller caller, RequestStatus? status, Guid? target, string? older, Func<CmRequest, RequestPermission, bool> wanted, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(caller);
        var position = PageCursor.Parse(older);
        var rows = Math.Max(1, _options.PortalPageRows);
        var budget = Math.Max(1, _options.PortalPageBytes);
        var scanLimit = rows * 10;
        var items = new List<RequestRow>();
        var users = new Dictionary<Guid, string>();
        var templates = new Dictionary<Guid, string>();
        var used = 0L;
        var scanned = 0;
        while (true)
        {
            var query = new RequestQuery([.. caller.Token], status, target, position, rows + 1, NewestFirst: true);
            var batch = await _requests.ListAsync(query, ct).ConfigureAwait(false);
            foreach (var stored in batch)
            {
                if (items.Count == rows || scanned == scanLimit)
                {
                    return new PortalPage<RequestRow>(items, PageCursor.Format(position));
                }

                var request = stored.Request;
                var rights = AccessPolicy.RightsOn(request, caller);
                if (rights.CanRead() && wanted(request, rights))
                {
                    var size = SizeOf(request);
                    if (items.Count > 0 && used + size > budget)
                    {
                        return new PortalPage<RequestRow>(items, PageCursor.Format(position));
                    }

                    used += size;
                    items.Add(new RequestRow(request,
                        await UserNameAsync(users, request.OriginatorUserUuid, ct).ConfigureAwait(false),
                        await UserNameAsync(users, request.TargetUserUuid, ct).ConfigureAwait(false),
                        await TemplateNameAsync(templates, request.ProfileTemplateUuid, ct).ConfigureAwait(false)));
                }

                position = stored.Sequence;
                scanned++;
            }

            if (batch.Count < query.Limit)
            {
                return new PortalPage<RequestRow>(items, null);
            }
        }
    }

    // What a row puts on a page besides its fixed markup: the free text clients chose.
    private static long SizeOf(CmRequest request) =>
        256 + Encoding.UTF8.GetByteCount(request.Comment)
            + request.DataCollection.Sum(d => (long)Encoding.UTF8.GetByteCount(d.Name) + Encoding.UTF8.GetByteCount(d.Value ?? ""))
            + request.Votes.Sum(v => (long)Encoding.UTF8.GetByteCount(v.Comment));

    private async Task<string> UserNameAsync(Dictionary<Guid, string> known, Guid id, CancellationToken ct)
    {
        if (!known.TryGetValue(id, out var name))
        {
            known[id] = name = (await _directory.FindAsync(id, ct).ConfigureAwait(false))?.Name ?? id.ToString("D");
        }

        return name;
    }

    private async Task<string> TemplateNameAsync(Dictionary<Guid, string> known, Guid id, CancellationToken ct)
    {
        if (!known.TryGetValue(id, out var name))
        {
            known[id] = name = (await _templateStore.FindAsync(id, ct).ConfigureAwait(false))?.Name ?? id.ToString("D");
        }

        return name;
    }
}
