using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using OpenCM.Application;
using OpenCM.Server.Auth;
using OpenCM.Server.Portal;

namespace OpenCM.Server.Pages;

/// <summary>
/// The approvers' queue (issue #10.3, #18.5): a page of the pending requests the caller may
/// approve or deny and has not voted on, newest first, as <see cref="PortalViews.ApprovalQueueAsync"/>
/// prepares it; <c>?older=</c> (the page's own link) goes on to older ones.
/// </summary>
public sealed class ApprovalsModel : PageModel
{
    private readonly CallerResolver _callers;
    private readonly PortalViews _views;
    private readonly PortalAccess _portal;

    public ApprovalsModel(CallerResolver callers, PortalViews views, PortalAccess portal)
    {
        _callers = callers;
        _views = views;
        _portal = portal;
    }

    /// <summary>Whether the caller approves requests at all (<see cref="PortalAccess.MayApproveAsync"/>, the navigation's rule too).</summary>
    public bool MayApprove { get; private set; }

    /// <summary>The continuation of the page before (opaque, from its "older" link); absent for the newest.</summary>
    [BindProperty(SupportsGet = true)]
    public string? Older { get; set; }

    public PortalPage<RequestRow> Waiting { get; private set; } = new([], null);

    public async Task OnGetAsync()
    {
        var caller = await _callers.ResolveAsync(HttpContext, HttpContext.RequestAborted);
        Waiting = await _views.ApprovalQueueAsync(caller, Older, HttpContext.RequestAborted);
        MayApprove = await _portal.MayApproveAsync(caller, HttpContext.RequestAborted);
    }
}
