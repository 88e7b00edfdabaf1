using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using OpenCM.Server.Auth;
using OpenCM.Server.Hosting;
using OpenCM.Server.Portal;

namespace OpenCM.Server.Pages;

/// <summary>
/// Sign-in with a directory user's password (the embedded default; issue #10), with the OIDC
/// authority, or with Windows (Kerberos, where <c>Auth:Negotiate</c> is on; issue #19).
/// </summary>
public sealed class SignInModel : PageModel
{
    private readonly Passwords _passwords;
    private readonly AuthOptions _auth;
    private readonly ApiOptions _api;
    private readonly NegotiateOptions _negotiate;
    private readonly OpenCM.Application.IDirectory _directory;

    public SignInModel(Passwords passwords, AuthOptions auth, ApiOptions api, NegotiateOptions negotiate, OpenCM.Application.IDirectory directory)
    {
        _negotiate = negotiate;
        _directory = directory;
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

    /// <summary>Set after the authority's sign-in came back without a user OpenCM knows (or was refused there).</summary>
    [BindProperty(SupportsGet = true, Name = "failed")]
    public string? AuthorityFailed { get; set; }

    /// <summary>What the authority's button says, or null when the portal signs in with passwords only.</summary>
    public string? Authority => _auth.PortalUsesAuthority ? _auth.PortalDisplayName : null;

    /// <summary>Whether the page offers "Sign in with Windows".</summary>
    public bool Windows => _negotiate.Enabled;

    /// <summary>
    /// "Sign in with Windows": the browser answers Negotiate's 401 with the user's Kerberos ticket
    /// (SPNEGO), and a success becomes the portal's own session, as a password's does. A browser
    /// without a ticket gets the 401 page; nothing is kept of a refused exchange.
    /// </summary>
    public async Task<IActionResult> OnGetWindowsAsync()
    {
        if (!_negotiate.Enabled)
        {
            return NotFound();
        }

        var result = await HttpContext.AuthenticateAsync(NegotiateHandler.SchemeName);
        if (!result.Succeeded || CallerResolver.UserUuid(result.Principal) is not { } uuid
            || await _directory.FindAsync(uuid, HttpContext.RequestAborted) is not { Kind: OpenCM.Application.PrincipalKind.User } user)
        {
            return Challenge(NegotiateHandler.SchemeName);
        }

        await HttpContext.SignInAsync(PortalServices.Scheme, PortalServices.SessionFor(user, _auth));
        return LocalRedirect(SafeReturn());
    }

    public void OnGet()
    {
        if (AuthorityFailed is not null)
        {
            Response.StatusCode = StatusCodes.Status401Unauthorized;
        }
    }

    /// <summary>
    /// Off to the authority (authorization code flow). It comes back to /signedin, a page of this
    /// site, which then opens the return URL: the session cookie is SameSite=Strict, and a browser
    /// does not send it on a chain of redirects that began at another site.
    /// </summary>
    public IActionResult OnPostAuthority()
    {
        if (!_auth.PortalUsesAuthority)
        {
            return NotFound();
        }

        var landing = _api.PathBase.TrimEnd('/') + "/signedin?returnUrl=" + Uri.EscapeDataString(SafeReturn());
        return Challenge(new AuthenticationProperties { RedirectUri = landing }, PortalServices.OidcScheme);
    }

    public async Task<IActionResult> OnPostAsync()
    {
        // Unknown name, no password and wrong password answer alike; the password is never kept or logged.
        var user = await _passwords.VerifyAsync(Name ?? "", Password ?? "", Errors.Correlation.Get(HttpContext), HttpContext.RequestAborted);
        Password = null;
        if (user is null)
        {
            Failed = true;
            Response.StatusCode = StatusCodes.Status401Unauthorized;
            return Page();
        }

        await HttpContext.SignInAsync(PortalServices.Scheme, PortalServices.SessionFor(user, _auth));

        return LocalRedirect(SafeReturn());
    }

    // Only a local path under the portal: never an open redirect.
    private string SafeReturn() => PortalServices.LocalReturn(ReturnUrl, _api, Url);
}
