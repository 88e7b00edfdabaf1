using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using OpenCM.Server.Hosting;
using OpenCM.Server.Portal;

namespace OpenCM.Server.Pages;

/// <summary>Sign-out: a POST (with its antiforgery token), so that no link or image can sign anyone out.</summary>
public sealed class SignOutModel : PageModel
{
    private readonly ApiOptions _api;

    public SignOutModel(ApiOptions api) => _api = api;

    public IActionResult OnGet() => NotFound();

    public async Task<IActionResult> OnPostAsync()
    {
        await HttpContext.SignOutAsync(PortalServices.Scheme);
        return LocalRedirect(_api.PathBase.TrimEnd('/') + "/signin");
    }
}
