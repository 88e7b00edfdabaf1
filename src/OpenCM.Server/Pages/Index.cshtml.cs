using Microsoft.AspNetCore.Mvc.RazorPages;
using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.Server.Auth;

namespace OpenCM.Server.Pages;

/// <summary>The portal's home: the templates the user may use and the requests they may read, through the API's own services.</summary>
public sealed class IndexModel : PageModel
{
    private readonly CallerResolver _callers;
    private readonly TemplateService _templates;
    private readonly RequestQueries _requests;
    private readonly ProfileService _profiles;
    private readonly SmartcardQueries _cards;

    public IndexModel(CallerResolver callers, TemplateService templates, RequestQueries requests, ProfileService profiles, SmartcardQueries cards)
    {
        _callers = callers;
        _templates = templates;
        _requests = requests;
        _profiles = profiles;
        _cards = cards;
    }

    /// <summary>The user's profiles in use or on hold, with the request types they may start on each (as GET /profiles/{id}/operations).</summary>
    public IReadOnlyList<ProfileView> Profiles { get; private set; } = [];

    /// <summary>The caller's current certificates by profile (GET /certificates' answer).</summary>
    public ILookup<Guid, CertificateView> Certificates { get; private set; } = Array.Empty<CertificateView>().ToLookup(c => c.Certificate.ProfileUuid);

    /// <summary>The user's cards, with their operations (as GET /smartcards/{id}/operations).</summary>
    public IReadOnlyList<(StoredSmartcard Card, string Template, IReadOnlyList<RequestType> Operations)> Cards { get; private set; } = [];

    public Caller Caller { get; private set; } = null!;

    public IReadOnlyList<ProfileTemplate> Templates { get; private set; } = [];

    public IReadOnlyList<CmRequest> Requests { get; private set; } = [];

    public async Task OnGetAsync()
    {
        Caller = await _callers.ResolveAsync(HttpContext, HttpContext.RequestAborted);
        Templates = await _templates.ListVisibleAsync(Caller, HttpContext.RequestAborted);
        Requests = (await _requests.ListAsync(Caller, new RequestListFilter(null, null, 0, 100), HttpContext.RequestAborted)).Items;
        Profiles = [.. (await _profiles.ListAsync(Caller, null, HttpContext.RequestAborted))
            .Where(p => p.Profile.SmartcardUuid == Guid.Empty && p.Profile.Status is ProfileStatus.Active or ProfileStatus.Suspended or ProfileStatus.Disabled)];
        Certificates = (await _profiles.UserCertificatesAsync(Caller, HttpContext.RequestAborted)).ToLookup(c => c.Certificate.ProfileUuid);
        var cards = new List<(StoredSmartcard, string, IReadOnlyList<RequestType>)>();
        foreach (var (card, template) in await _cards.ListAsync(Caller, HttpContext.RequestAborted))
        {
            if (card.Status is not (SmartcardStatus.Retired or SmartcardStatus.New))
            {
                cards.Add((card, template?.Name ?? card.TemplateUuid.ToString("D"), await _cards.OperationsAsync(Caller, card.Uuid, HttpContext.RequestAborted)));
            }
        }

        Cards = cards;
    }
}
