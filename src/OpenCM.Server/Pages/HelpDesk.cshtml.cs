using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.Server.Auth;
using OpenCM.Server.Errors;
using OpenCM.Server.Portal;

namespace OpenCM.Server.Pages;

/// <summary>
/// The help desk (issue #10.4), for CM managers: find a user, see their cards and requests, start
/// what the operations routes offer on the user's certificates and cards on the user's behalf, and
/// answer an offline unblock (an OfflineUnblock request on their card, the challenge answered,
/// the request completed) through the same use cases as the API and <c>opencm card unblock</c>.
/// To anyone else the page does not exist.
/// </summary>
public sealed class HelpDeskModel : PageModel
{
    private readonly CallerResolver _callers;
    private readonly AccessPolicy _access;
    private readonly IDirectory _directory;
    private readonly ISmartcardStore _cards;
    private readonly PortalViews _views;
    private readonly SmartcardQueries _smartcards;
    private readonly HelpDeskUnblock _unblock;
    private readonly IAuditLog _audit;
    private readonly IProfileStore _profileStore;
    private readonly ProfileService _profiles;
    private readonly PortalAccess _portal;
    private readonly IDirectoryAdministration _names;
    private readonly ITemplateStore _templates;

    public HelpDeskModel(
        CallerResolver callers, AccessPolicy access, IDirectory directory, ISmartcardStore cards, PortalViews views,
        SmartcardQueries smartcards, HelpDeskUnblock unblock, IAuditLog audit, IProfileStore profileStore, ProfileService profiles,
        PortalAccess portal, IDirectoryAdministration names, ITemplateStore templates)
    {
        _portal = portal;
        _names = names;
        _templates = templates;
        _unblock = unblock;
        _audit = audit;
        _profileStore = profileStore;
        _profiles = profiles;
        _callers = callers;
        _access = access;
        _directory = directory;
        _cards = cards;
        _views = views;
        _smartcards = smartcards;
    }

    /// <summary>What the help desk searched for (<c>?name=</c>): a user's name or part of it, a card id, or a certificate's serial number.</summary>
    [BindProperty(SupportsGet = true)]
    public string? Name { get; set; }

    public Principal? Found { get; private set; }

    /// <summary>How <see cref="Found"/> was found when not by its exact name: "card …" or "serial …".</summary>
    public string? FoundBy { get; private set; }

    /// <summary>The users whose name contains the search, when more than one does (the page links each).</summary>
    public IReadOnlyList<Principal> Matches { get; private set; } = [];

    /// <summary>Every certificate the CA signed for the user, newest first, with its template's name (issue #23.13).</summary>
    public IReadOnlyList<StoredCertificate> Certificates { get; private set; } = [];

    /// <summary>Profile templates' names by uuid, for the profiles listed.</summary>
    public IReadOnlyDictionary<Guid, string> TemplateNames { get; private set; } = new Dictionary<Guid, string>();

    /// <summary>Most users a search by part of a name lists.</summary>
    public const int MaxMatches = 20;

    public IReadOnlyList<StoredSmartcard> Cards { get; private set; } = [];

    /// <summary>What the caller may start on each card on its user's behalf (the operations route's answer).</summary>
    public IReadOnlyDictionary<Guid, IReadOnlyList<RequestType>> CardOperations { get; private set; } = new Dictionary<Guid, IReadOnlyList<RequestType>>();

    /// <summary>A page of the requests made for the user, newest first (<see cref="PortalViews.RequestsAsync"/>).</summary>
    public PortalPage<RequestRow> Requests { get; private set; } = new([], null);

    /// <summary>The continuation of the requests' page before (opaque, from its "older" link); absent for the newest.</summary>
    [BindProperty(SupportsGet = true)]
    public string? Older { get; set; }

    /// <summary>A fresh token for each unblock form: a second post of the same form is known as such (post/redirect/get).</summary>
    public string Once { get; } = Guid.NewGuid().ToString("N");

    /// <summary>The user's software profiles, with what the caller may start on each on the user's behalf.</summary>
    public IReadOnlyList<ProfileView> Profiles { get; private set; } = [];

    public string? Error { get; private set; }

    public string? Answer { get; private set; }

    public Guid? UnblockRequest { get; private set; }

    /// <summary><c>?verify=chain</c>: the whole audit chain checked now (as <c>opencm audit verify</c>).</summary>
    [BindProperty(SupportsGet = true)]
    public string? Verify { get; set; }

    public AuditVerification? Chain { get; private set; }

    public async Task<IActionResult> OnGetAsync()
    {
        if (await ShowAsync() is { } notFound)
        {
            return notFound;
        }

        // What the unblock posted just before the redirect here (issue #18.8: post/redirect/get).
        if (TempData[AnswerKey] is string answered && answered.Split(' ') is [var request, var response] && Guid.TryParse(request, out var id))
        {
            (UnblockRequest, Answer) = (id, response.Length == 16 ? response : null);
            Repeated = response.Length != 16;
        }

        if (Verify == "chain")
        {
            // The chain key comes from the master key (decision 0010), resolved only when asked to verify.
            Chain = await AuditChain.VerifyAsync(_audit, HttpContext.RequestServices.GetRequiredService<AuditChainKey>(), HttpContext.RequestAborted);
        }

        return Page();
    }

    /// <summary>The unblock form was posted again (a resubmission): nothing was done a second time.</summary>
    public bool Repeated { get; private set; }

    public async Task<IActionResult> OnPostUnblockAsync(Guid card, string? challenge, string? once)
    {
        if (await ShowAsync() is { } notFound)
        {
            return notFound;
        }

        // The same form posted again (reload, back, a double click): no second request; the page says so.
        if (once is { Length: > 0 } && TempData.Peek(OnceKey) is string done && done.Split(' ') is [var form, var made] && form == once)
        {
            TempData[AnswerKey] = made + " repeated";
            return RedirectToPage(new { name = Name });
        }

        var bytes = ParseChallenge(challenge);
        var target = Cards.FirstOrDefault(c => c.Uuid == card);
        if (bytes is null || target is null)
        {
            return Refused(DomainError.Validation(bytes is null ? "challenge" : "card", bytes is null
                ? "The challenge is the card's 8 to 40 bytes: 16 to 80 hex digits (16 for a Base CSP card, 80 for a GIDS card)."
                : "No such card for this user."));
        }

        // As opencm card unblock: the request, the answer, the completion; each step the API's, audited.
        try
        {
            var caller = await _callers.ResolveAsync(HttpContext, HttpContext.RequestAborted);
            var (request, response) = await _unblock.AnswerOfflineUnblockAsync(caller, target.Uuid, bytes, Correlation.Get(HttpContext), HttpContext.RequestAborted);

            // Post/redirect/get: the answer travels to the page in the session's sealed temp-data
            // cookie, read once; the form's token stays remembered so a resubmission does nothing.
            TempData[AnswerKey] = $"{request.Uuid:D} {Convert.ToHexString(response)}";
            if (once is { Length: > 0 and <= 64 })
            {
                TempData[OnceKey] = $"{once} {request.Uuid:D}";
            }
        }
        catch (OpenCmException e) when (e.Error.Kind is not ErrorKind.Internal)
        {
            return Refused(e.Error);
        }

        return RedirectToPage(new { name = Name });
    }

    private const string AnswerKey = "helpdesk.unblock";
    private const string OnceKey = "helpdesk.unblock.once";

    private static byte[]? ParseChallenge(string? text)
    {
        var hex = string.Concat((text ?? "").Where(c => !char.IsWhiteSpace(c) && c != ':'));
        // A Base CSP card's 8 bytes or a GIDS card's 40 (decision 0013): whole 8-byte blocks.
        return hex.Length is >= SmartcardRules.MinChallengeLength * 2 and <= SmartcardRules.MaxChallengeLength * 2 && hex.Length % 16 == 0 && hex.All(char.IsAsciiHexDigit)
            ? Convert.FromHexString(hex)
            : null;
    }

    // Whoever the access policy lets use the help desk; then the user by name, their cards and the requests made for them.
    private async Task<IActionResult?> ShowAsync()
    {
        var ct = HttpContext.RequestAborted;
        var caller = await _callers.ResolveAsync(HttpContext, ct);
        if (!await _portal.MayUseHelpDeskAsync(caller, ct))
        {
            return NotFound();
        }

        if (string.IsNullOrWhiteSpace(Name))
        {
            return null;
        }

        Found = Name.Length <= 256 ? await FindAsync(Name.Trim(), ct) : null;
        if (Found is null)
        {
            Error = Matches.Count > 0 ? null : $"No user, card or certificate matches '{Name}'.";
            return null;
        }

        var cards = new List<StoredSmartcard>();
        foreach (var card in await _cards.ForUserAsync(Found.Uuid, ct))
        {
            if (await _access.MayReadCardAsync(card, caller, ct))
            {
                cards.Add(card);
            }
        }

        Cards = cards;
        var operations = new Dictionary<Guid, IReadOnlyList<RequestType>>();
        foreach (var card in cards)
        {
            operations[card.Uuid] = await _smartcards.OperationsAsync(caller, card.Uuid, ct);
        }

        CardOperations = operations;
        var profiles = new List<ProfileView>();
        foreach (var p in await _profileStore.ForUserAsync(Found.Uuid, null, ct))
        {
            if (p.SmartcardUuid == Guid.Empty && p.Status is ProfileStatus.Active or ProfileStatus.Suspended or ProfileStatus.Disabled)
            {
                profiles.Add(await _profiles.GetAsync(caller, p.Uuid, ct));
            }
        }

        Profiles = profiles;
        Certificates = [.. (await _profileStore.CertificatesOfUserAsync(Found.Uuid, ct)).OrderByDescending(c => c.Certificate.NotBefore).ThenBy(c => c.SerialHex, StringComparer.Ordinal)];
        var names = new Dictionary<Guid, string>();
        foreach (var template in profiles.Select(p => p.Profile.TemplateUuid).Distinct())
        {
            names[template] = (await _templates.FindAsync(template, ct))?.Name ?? template.ToString("D");
        }

        TemplateNames = names;
        Requests = await _views.RequestsAsync(caller, Found.Uuid, Older, ct);
        return null;
    }

    // The user the search names (issue #23.13): by exact name, else by a card's id, else by a
    // certificate's serial number, else the one user whose name contains it; several such users
    // are listed for the help desk to choose.
    private async Task<Principal?> FindAsync(string search, CancellationToken ct)
    {
        if (await _directory.FindByNameAsync(search, ct) is { Kind: PrincipalKind.User } named)
        {
            return named;
        }

        foreach (var cardId in new[] { search, search.ToUpperInvariant(), search.ToLowerInvariant() }.Distinct(StringComparer.Ordinal))
        {
            if (await _cards.LastByCardIdAsync(cardId, ct) is { } card && await _directory.FindAsync(card.UserUuid, ct) is { Kind: PrincipalKind.User } holder)
            {
                FoundBy = $"card {card.CardId}";
                return holder;
            }
        }

        // A serial as people copy it: hex, perhaps in pairs separated by colons or spaces.
        var serial = string.Concat(search.Where(c => c is not (':' or ' ')));
        if (serial.Length is >= 2 and <= 64 && serial.All(char.IsAsciiHexDigit)
            && await _profileStore.CertificateBySerialAsync(serial, ct) is { } certificate
            && await _directory.FindAsync(certificate.UserUuid, ct) is { Kind: PrincipalKind.User } owner)
        {
            FoundBy = $"serial {certificate.SerialHex.ToLowerInvariant()}";
            return owner;
        }

        var like = await _names.UsersNamedLikeAsync(search, MaxMatches, ct);
        if (like.Count == 1)
        {
            return like[0];
        }

        Matches = like;
        return null;
    }

    private PageResult Refused(DomainError error)
    {
        Error = error.Detail;
        HttpContext.Response.StatusCode = ErrorMapping.StatusCode(error.Kind);
        return Page();
    }
}
