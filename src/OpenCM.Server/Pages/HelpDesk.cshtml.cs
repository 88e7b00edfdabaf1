using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.Server.Auth;
using OpenCM.Server.Errors;

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

    public HelpDeskModel(
        CallerResolver callers, AccessPolicy access, IDirectory directory, ISmartcardStore cards, PortalViews views,
        SmartcardQueries smartcards, HelpDeskUnblock unblock, IAuditLog audit, IProfileStore profileStore, ProfileService profiles)
    {
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

    [BindProperty(SupportsGet = true)]
    public string? Name { get; set; }

    public Principal? Found { get; private set; }

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
        if (!await _access.MayUseHelpDeskAsync(caller, ct))
        {
            return NotFound();
        }

        if (string.IsNullOrWhiteSpace(Name))
        {
            return null;
        }

        Found = Name.Length <= 256 ? await _directory.FindByNameAsync(Name, ct) : null;
        if (Found is not { Kind: PrincipalKind.User })
        {
            Found = null;
            Error = $"No user named '{Name}'.";
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
        Requests = await _views.RequestsAsync(caller, Found.Uuid, Older, ct);
        return null;
    }

    private PageResult Refused(DomainError error)
    {
        Error = error.Detail;
        HttpContext.Response.StatusCode = ErrorMapping.StatusCode(error.Kind);
        return Page();
    }
}
