using OpenCM.Domain;

namespace OpenCM.Application;

/// <summary>What a use case needs loaded beside the request.</summary>
[Flags]
public enum ContextParts
{
    /// <summary>The request (and, through <see cref="RequestContextLoader.LoadAsync(Caller, Guid, ContextParts, CancellationToken)"/>, the caller's rights) only.</summary>
    Request = 0,

    /// <summary>The request's profile template.</summary>
    Template = 1,

    /// <summary>
    /// What completing the request reads: the profile and card it names and a temporary card's
    /// permanent card with its live profile. Read only while the request is open for execution
    /// (Approved or Executing), the only statuses a completion starts from.
    /// </summary>
    Completion = 2,

    /// <summary>The card the request's execution works on (<see cref="RequestKind.WorkingCard"/>), as stored.</summary>
    WorkingCard = 4,
}

/// <summary>A request loaded for a use case: its context for <see cref="RequestLifecycle.Decide(RequestContext, LifecycleCommand, RequestPermission, DateTimeOffset)"/>, the caller's rights, and its working card.</summary>
public sealed record LoadedRequest(RequestContext Context, RequestPermission Rights, StoredSmartcard? WorkingCard = null)
{
    public CmRequest Request => Context.Request;
}

/// <summary>
/// The one place a request's execution context is read (issue #17): the request as the caller
/// may see it, with their rights, and what the decision and the use case read beside it.
/// </summary>
public sealed class RequestContextLoader
{
    private readonly RequestQueries _queries;
    private readonly ITemplateStore _templates;
    private readonly IProfileStore _profiles;
    private readonly ISmartcardStore _cards;

    public RequestContextLoader(RequestQueries queries, ITemplateStore templates, IProfileStore profiles, ISmartcardStore cards)
    {
        _queries = queries;
        _templates = templates;
        _profiles = profiles;
        _cards = cards;
    }

    /// <summary>Request <paramref name="id"/> as <paramref name="caller"/> may see it (NotFound otherwise), with <paramref name="parts"/>.</summary>
    public async Task<LoadedRequest> LoadAsync(Caller caller, Guid id, ContextParts parts, CancellationToken ct = default)
    {
        var (request, rights) = await _queries.GetAsync(caller, id, ct).ConfigureAwait(false);
        var context = await LoadAsync(request, parts, ct).ConfigureAwait(false);
        var working = (parts & ContextParts.WorkingCard) != 0 && context.Kind.WorkingCard(request) is var card && card != Guid.Empty
            ? await _cards.FindAsync(card, ct).ConfigureAwait(false)
            : null;
        return new LoadedRequest(context, rights, working);
    }

    /// <summary>The context of <paramref name="request"/>, already read, with <paramref name="parts"/>.</summary>
    public async Task<RequestContext> LoadAsync(CmRequest request, ContextParts parts, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var template = (parts & ContextParts.Template) != 0 ? await _templates.FindAsync(request.ProfileTemplateUuid, ct).ConfigureAwait(false) : null;
        var context = new RequestContext(request, template);
        return (parts & ContextParts.Completion) != 0 && request.Status is RequestStatus.Executing or RequestStatus.Approved ? await WithCompletionAsync(context, ct).ConfigureAwait(false) : context;
    }

    // The profile and card the request names, and a temporary card's permanent card with its live profile.
    private async Task<RequestContext> WithCompletionAsync(RequestContext context, CancellationToken ct)
    {
        var request = context.Request;
        var profile = request.OldProfileUuid != Guid.Empty ? await _profiles.FindAsync(request.OldProfileUuid, ct).ConfigureAwait(false) : null;
        var named = request.OldSmartcardUuid != Guid.Empty ? await _cards.FindAsync(request.OldSmartcardUuid, ct).ConfigureAwait(false) : null;
        var permanent = named is { PermanentUuid: var p } && p != Guid.Empty ? await _cards.FindAsync(p, ct).ConfigureAwait(false) : null;
        var live = permanent is null ? null : CardProfiles.Live(await _profiles.ForSmartcardAsync(permanent.Uuid, ct).ConfigureAwait(false));
        return context with
        {
            NamedProfile = profile is null ? null : new ProfileFacts(profile.Uuid, profile.Status),
            NamedCard = named is null ? null : new CardFacts(named.Uuid, named.Status),
            PermanentCard = permanent is null ? null : new CardFacts(permanent.Uuid, permanent.Status),
            PermanentProfile = live is null ? null : new ProfileFacts(live.Uuid, live.Status),
        };
    }
}
