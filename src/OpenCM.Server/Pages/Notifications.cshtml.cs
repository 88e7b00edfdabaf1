using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using OpenCM.Application;
using OpenCM.Composition;
using OpenCM.Server.Auth;

namespace OpenCM.Server.Pages;

/// <summary>
/// The delivery log of notifications and webhooks (issue #21.2), for CM managers, as
/// <c>opencm notifications list</c> shows it: newest first, <c>?failed=1</c> for the given-up ones
/// only. To anyone else the page does not exist.
/// </summary>
public sealed class NotificationsModel : PageModel
{
    /// <summary>The most rows one page shows.</summary>
    public const int Rows = 200;

    private readonly CallerResolver _callers;
    private readonly AccessPolicy _access;
    private readonly INotificationOutbox _log;

    public NotificationsModel(CallerResolver callers, AccessPolicy access, INotificationOutbox log)
    {
        _callers = callers;
        _access = access;
        _log = log;
    }

    /// <summary><c>?failed=1</c>: only deliveries given up after their last try.</summary>
    [BindProperty(SupportsGet = true)]
    public string? Failed { get; set; }

    public bool FailedOnly => Failed is "1" or "true";

    public IReadOnlyList<Delivery> Deliveries { get; private set; } = [];

    public async Task<IActionResult> OnGetAsync()
    {
        var ct = HttpContext.RequestAborted;
        if (!await _access.IsManagerAsync(await _callers.ResolveAsync(HttpContext, ct), ct))
        {
            return NotFound();
        }

        Deliveries = await _log.ListAsync(FailedOnly, Rows, ct);
        return Page();
    }
}
