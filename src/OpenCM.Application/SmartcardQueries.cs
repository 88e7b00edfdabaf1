using OpenCM.Domain;

namespace OpenCM.Application;

/// <summary>Reading smart cards (issue #8): a card, a physical card's record, the caller's cards, and what may be started on a card.</summary>
public sealed class SmartcardQueries
{
    private readonly ISmartcardStore _cards;
    private readonly ITemplateStore _templates;
    private readonly AccessPolicy _access;
    private readonly IProfileStore _profiles;
    private readonly IDirectory _directory;

    public SmartcardQueries(ISmartcardStore cards, ITemplateStore templates, AccessPolicy access, IProfileStore profiles, IDirectory directory)
    {
        _cards = cards;
        _templates = templates;
        _access = access;
        _profiles = profiles;
        _directory = directory;
    }

    /// <summary>GET /smartcards/{id}: a card the caller may read; NotFound to anyone else (walkthrough step 16).</summary>
    public async Task<(StoredSmartcard Card, ProfileTemplate? Template)> GetAsync(Caller caller, Guid id, CancellationToken ct = default) =>
        await VisibleAsync(caller, await _cards.FindAsync(id, ct).ConfigureAwait(false), $"No smart card with id {id:D} exists.", ct).ConfigureAwait(false);

    /// <summary>GET /smartcards?cardid=: the unretired card record of a physical card, if the caller may read it.</summary>
    public async Task<(StoredSmartcard Card, ProfileTemplate? Template)> FindByCardIdAsync(Caller caller, string cardId, CancellationToken ct = default) =>
        await VisibleAsync(caller, await _cards.FindByCardIdAsync(SmartcardRules.CanonicalCardId(cardId), ct).ConfigureAwait(false),
            "No smart card with that card id exists.", ct).ConfigureAwait(false);

    /// <summary>GET /smartcards: the caller's cards.</summary>
    public async Task<IReadOnlyList<(StoredSmartcard Card, ProfileTemplate? Template)>> ListAsync(Caller caller, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(caller);
        var cards = new List<(StoredSmartcard, ProfileTemplate?)>();
        foreach (var card in await _cards.ForUserAsync(caller.UserUuid, ct).ConfigureAwait(false))
        {
            cards.Add((await WithLiveVersionAsync(card, ct).ConfigureAwait(false), await _templates.FindAsync(card.TemplateUuid, ct).ConfigureAwait(false)));
        }

        return cards;
    }

    /// <summary>
    /// GET /smartcards?user= (an OpenCM extension, issue #23.3; <c>opencm card list --user</c>): the
    /// cards of the user named by name or uuid. A manager may ask for anyone; anyone else only for
    /// themselves. Another user is answered as an unknown one is (NotFound naming what was asked),
    /// so that the answer tells a non-manager nothing about which names exist (as issue #18.8).
    /// </summary>
    public async Task<IReadOnlyList<(StoredSmartcard Card, ProfileTemplate? Template)>> ListForUserAsync(Caller caller, string user, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(caller);
        ArgumentNullException.ThrowIfNull(user);
        var text = user.Trim();
        var found = text.Length == 0 ? null
            : Guid.TryParse(text, out var uuid) ? await _directory.FindAsync(uuid, ct).ConfigureAwait(false)
            : await _directory.FindByNameAsync(text, ct).ConfigureAwait(false);
        if (found is not { Kind: PrincipalKind.User }
            || (found.Uuid != caller.UserUuid && !await _access.IsManagerAsync(caller, ct).ConfigureAwait(false)))
        {
            throw new OpenCmException(DomainError.NotFound($"No user '{(text.Length > 64 ? text[..64] + "…" : text)}' whose cards you may read."));
        }

        var cards = new List<(StoredSmartcard, ProfileTemplate?)>();
        foreach (var card in await _cards.ForUserAsync(found.Uuid, ct).ConfigureAwait(false))
        {
            cards.Add((await WithLiveVersionAsync(card, ct).ConfigureAwait(false), await _templates.FindAsync(card.TemplateUuid, ct).ConfigureAwait(false)));
        }

        return cards;
    }

    private async Task<(StoredSmartcard, ProfileTemplate?)> VisibleAsync(Caller caller, StoredSmartcard? card, string notFound, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(caller);
        if (card is null || !await _access.MayReadCardAsync(card, caller, ct).ConfigureAwait(false))
        {
            throw new OpenCmException(DomainError.NotFound(notFound));
        }

        return (await WithLiveVersionAsync(card, ct).ConfigureAwait(false), await _templates.FindAsync(card.TemplateUuid, ct).ConfigureAwait(false));
    }

    // The template version a card follows is its live profile's (an OnlineUpdate moves it on), else the one it was bound under.
    private async Task<StoredSmartcard> WithLiveVersionAsync(StoredSmartcard card, CancellationToken ct) =>
        CardProfiles.Live(await _profiles.ForSmartcardAsync(card.Uuid, ct).ConfigureAwait(false)) is { } live ? card with { TemplateVersion = live.TemplateVersion } : card;

    /// <summary>GET /smartcards/{id}/operations (get-profile-state-operations): the request types the caller may start on the card now.</summary>
    public async Task<IReadOnlyList<RequestType>> OperationsAsync(Caller caller, Guid id, CancellationToken ct = default)
    {
        var (card, template) = await GetAsync(caller, id, ct).ConfigureAwait(false);
        if (template is null)
        {
            return [];
        }

        var live = CardProfiles.Live(await _profiles.ForSmartcardAsync(card.Uuid, ct).ConfigureAwait(false));
        return [.. RequestKinds.AllowedOn(card.Status).Where(type =>
            (!RequestKinds.Of(type, Medium.Smartcard).NeedsNewerTemplate || (live?.TemplateVersion ?? card.TemplateVersion) < template.Version)
            && template.PolicyFor(type) is { Enabled: true } p
            && AccessPolicy.MayInitiate(p, caller, card.UserUuid))];
    }
}
