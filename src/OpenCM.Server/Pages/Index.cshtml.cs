using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using OpenCM.Application;
using OpenCM.Server.Auth;

namespace OpenCM.Server.Pages;

/// <summary>
/// The portal's home: the user summary <see cref="PortalViews.UserSummaryAsync"/> prepares (the
/// templates the user may use, their certificates and cards with what they may start on each,
/// and a page of the requests they may read, newest first; <c>?older=</c> goes on).
/// </summary>
public sealed class IndexModel : PageModel
{
    private readonly CallerResolver _callers;
    private readonly PortalViews _views;

    public IndexModel(CallerResolver callers, PortalViews views)
    {
        _callers = callers;
        _views = views;
    }

    /// <summary>The continuation of the requests' page before (opaque, from its "older" link); absent for the newest.</summary>
    [BindProperty(SupportsGet = true)]
    public string? Older { get; set; }

    public UserSummary Summary { get; private set; } = null!;

    public async Task OnGetAsync()
    {
        var caller = await _callers.ResolveAsync(HttpContext, HttpContext.RequestAborted);
        Summary = await _views.UserSummaryAsync(caller, Older, HttpContext.RequestAborted);
    }
}
