using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using OpenCM.Server.Auth;
using OpenCM.Server.Hosting;
using OpenCM.Server.Portal;

namespace OpenCM.Server.Pages;

/// <summary>Sign-in with a directory user's password (the embedded default; issue #10).</summary>
public sealed class SignInModel : PageModel
{
    private readonly Passwords _passwords;
    private readonly AuthOptions _auth;
    private readonly ApiOptions _api;

    public SignInModel(Passwords passwords, AuthOptions auth, ApiOptions api)
    {
        _passwords = passwords;
        _auth = auth;
        _api = api;
    }

    [BindProperty]
    public string? Name { get; set; }

    [BindProperty]
    public string? Password { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? ReturnUrl { get; set; }

    public bool Failed { get; private set; }

    public void OnGet()
    {
    }

    public async Task<IActionResult> OnPostAsync()
    {
        // Unknown name, no password and wrong password answer alike; the password is never kept or logged.
        var user = await _passwords.VerifyAsync(Name ?? "", Password ?? "", HttpContext.RequestAborted);
        Password = null;
        if (user is null)
        {
            Failed = true;
            Response.StatusCode = StatusCodes.Status401Unauthorized;
            return Page();
        }

        await HttpContext.SignInAsync(PortalServices.Scheme, PortalServices.SessionFor(user, _auth));

        // Only a local path under the portal: never an open redirect.
        var home = _api.PathBase.TrimEnd('/') + "/";
        return LocalRedirect(ReturnUrl is { } r && Url.IsLocalUrl(r) && r.StartsWith(home, StringComparison.Ordinal) ? r : home);
    }
}
