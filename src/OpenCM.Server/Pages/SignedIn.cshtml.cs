using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using OpenCM.Server.Hosting;
using OpenCM.Server.Portal;

namespace OpenCM.Server.Pages;

/// <summary>
/// Where the authority's sign-in lands (issue #10.1). The browser came here through redirects that
/// began at the authority's site, so it has not sent the SameSite=Strict session cookie yet; this
/// page of the portal's own opens the return URL, and that navigation, begun here, carries it.
/// </summary>
public sealed class SignedInModel : PageModel
{
    private readonly ApiOptions _api;

    public SignedInModel(ApiOptions api) => _api = api;

    [BindProperty(SupportsGet = true)]
    public string? ReturnUrl { get; set; }

    public string Target { get; private set; } = "/";

    public void OnGet() => Target = PortalServices.LocalReturn(ReturnUrl, _api, Url);
}
