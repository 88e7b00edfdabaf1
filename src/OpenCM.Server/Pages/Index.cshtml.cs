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

    public IndexModel(CallerResolver callers, TemplateService templates, RequestQueries requests)
    {
        _callers = callers;
        _templates = templates;
        _requests = requests;
    }

    public Caller Caller { get; private set; } = null!;

    public IReadOnlyList<ProfileTemplate> Templates { get; private set; } = [];

    public IReadOnlyList<CmRequest> Requests { get; private set; } = [];

    public async Task OnGetAsync()
    {
        Caller = await _callers.ResolveAsync(User, HttpContext.RequestAborted);
        Templates = await _templates.ListVisibleAsync(Caller, HttpContext.RequestAborted);
        Requests = (await _requests.ListAsync(Caller, new RequestListFilter(null, false, 0, 100), HttpContext.RequestAborted)).Items;
    }
}
