using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using OpenCM.Application;

namespace OpenCM.Server.Portal;

/// <summary>
/// Portal sessions that end on the server (issue #18.6). A copied <c>opencm.portal</c> cookie
/// used to work after sign-out and after a password change, until its sliding 8 hours lapsed:
/// the cookie was the whole session. Now signing in records a session (<see cref="IPortalSessions"/>,
/// in the database, so every node agrees) whose random id the sealed cookie carries; every
/// request checks it is still there and younger than <see cref="AuthOptions.PortalSessionMaxHours"/>;
/// sign-out and a new password delete it.
/// </summary>
internal sealed class PortalSessionEvents : CookieAuthenticationEvents
{
    /// <summary>The claim that names the session (its random id; the database holds only its hash).</summary>
    public const string SessionClaim = "opencm.session";

    public override async Task SigningIn(CookieSigningInContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var identity = context.Principal?.Identity as ClaimsIdentity
            ?? throw new InvalidOperationException("A portal session needs a claims identity.");
        var user = CallerResolver.UserUuid(context.Principal!)
            ?? throw new InvalidOperationException("A portal session needs a user GUID.");
        foreach (var stale in identity.FindAll(SessionClaim).ToList())
        {
            identity.RemoveClaim(stale);
        }

        var id = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        var (sessions, clock, lifetime) = Services(context.HttpContext);
        var now = clock.GetUtcNow();
        await sessions.StartAsync(Hash(id), user, now, now - lifetime, context.HttpContext.RequestAborted).ConfigureAwait(false);
        identity.AddClaim(new Claim(SessionClaim, id));
        await base.SigningIn(context).ConfigureAwait(false);
    }

    public override async Task ValidatePrincipal(CookieValidatePrincipalContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var id = context.Principal?.FindFirst(SessionClaim)?.Value;
        var (sessions, clock, lifetime) = Services(context.HttpContext);
        var session = id is null ? null : await sessions.FindAsync(Hash(id), context.HttpContext.RequestAborted).ConfigureAwait(false);
        if (session is null || clock.GetUtcNow() - session.Started >= lifetime || session.User != CallerResolver.UserUuid(context.Principal!))
        {
            // Signed out, a new password, or too old: the cookie is dropped, and the page asks for a sign-in.
            context.RejectPrincipal();
            await context.HttpContext.SignOutAsync(PortalServices.Scheme).ConfigureAwait(false);
            return;
        }

        await base.ValidatePrincipal(context).ConfigureAwait(false);
    }

    public override async Task SigningOut(CookieSigningOutContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        // The signed-in user, as the page's authorization read it from the cookie (the sign-out page
        // is not anonymous). A rejected cookie signs out with no user: its session is already gone or past its lifetime.
        var id = context.HttpContext.User.FindFirst(SessionClaim)?.Value;
        if (id is not null)
        {
            await Services(context.HttpContext).Sessions.EndAsync(Hash(id), CancellationToken.None).ConfigureAwait(false);
        }

        await base.SigningOut(context).ConfigureAwait(false);
    }

    private static (IPortalSessions Sessions, TimeProvider Clock, TimeSpan Lifetime) Services(HttpContext http)
    {
        var services = http.RequestServices;
        var hours = services.GetRequiredService<AuthOptions>().PortalSessionMaxHours;
        return (services.GetRequiredService<IPortalSessions>(), services.GetRequiredService<TimeProvider>(),
            TimeSpan.FromHours(hours > 0 ? hours : 12));
    }

    // The database keeps the hash only: reading the table gives no cookie's session away.
    private static string Hash(string id) => Convert.ToHexStringLower(SHA256.HashData(Encoding.ASCII.GetBytes(id)));
}
