using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.OpenIdConnect;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.Server.Auth;

namespace OpenCM.Server.Portal;

/// <summary>
/// Portal sign-in with the configured OIDC authority (issue #10.1): the authorization code flow
/// with PKCE, as ADFS, Entra ID and Keycloak offer it. The ID token's claims become the portal
/// session, and the caller is resolved from them exactly as from the authority's bearer tokens
/// (SPEC §5), so a user the API would refuse cannot sign in either.
/// </summary>
internal static class PortalOidc
{
    // Claims of the protocol, not of the user: not kept in the session cookie.
    private static readonly HashSet<string> ProtocolClaims = new(StringComparer.Ordinal)
    {
        "nonce", "at_hash", "c_hash", "aud", "azp", "exp", "iat", "nbf", "auth_time", "sid", "s_hash", "amr", "acr", "iss",
    };

    public static void Configure(OpenIdConnectOptions o, AuthOptions auth, string root, TimeProvider clock)
    {
        o.Authority = auth.Authority;
        o.RequireHttpsMetadata = auth.RequireHttpsMetadata;
        o.ClientId = auth.PortalClientId;
        o.ClientSecret = string.IsNullOrEmpty(auth.PortalClientSecret) ? null : auth.PortalClientSecret;
        o.ResponseType = OpenIdConnectResponseType.Code;
        o.UsePkce = true;
        o.SignInScheme = PortalServices.Scheme;
        o.CallbackPath = root + "/signin-oidc";
        o.MapInboundClaims = false;
        o.SaveTokens = false; // the session needs the user's claims, not the authority's tokens
        o.GetClaimsFromUserInfoEndpoint = false;
        o.TimeProvider = clock;
        o.Scope.Clear();
        o.Scope.Add("openid");
        foreach (var scope in auth.PortalScopes.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            o.Scope.Add(scope);
        }

        // The code comes back on a top-level GET (response_mode=query), so the correlation and
        // nonce cookies can be SameSite=Lax: form_post would need SameSite=None, which browsers
        // drop over plain HTTP. They are scoped to the portal and Secure over HTTPS.
        o.ResponseMode = OpenIdConnectResponseMode.Query;
        foreach (var cookie in new[] { o.CorrelationCookie, o.NonceCookie })
        {
            cookie.SameSite = SameSiteMode.Lax;
            cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            cookie.Path = root + "/";
        }

        o.TokenValidationParameters.NameClaimType = ClaimNames.Name;
        o.TokenValidationParameters.LifetimeValidator = Hosting.OpenCmServices.Lifetime(clock);

        // The nonce's own timestamp would be read off the wall clock; the nonce cookie (which
        // expires on the injected clock) and its one-time match bind the answer to this browser.
        o.ProtocolValidator.RequireTimeStampInNonce = false;
        o.Events = new OpenIdConnectEvents
        {
            OnTicketReceived = context => SessionAsync(context, root),
            OnRemoteFailure = context => FailedAsync(context.HttpContext, context, root),
            OnAccessDenied = context => FailedAsync(context.HttpContext, context, root),
        };
    }

    // The session holds the ID token's user claims and its issuer, once the caller resolves.
    private static async Task SessionAsync(TicketReceivedContext context, string root)
    {
        var principal = context.Principal!;
        var issuer = principal.Claims.FirstOrDefault()?.Issuer ?? "";
        var identity = new ClaimsIdentity(
            principal.Claims.Where(c => !ProtocolClaims.Contains(c.Type)).Select(c => new Claim(c.Type, c.Value, c.ValueType, issuer)),
            PortalServices.Scheme, ClaimNames.Name, null);
        identity.AddClaim(new Claim("iss", issuer));
        var session = new ClaimsPrincipal(identity);
        try
        {
            // The session being made, not the request's user (there is none yet): through the same chain of caller sources.
            var caller = await context.HttpContext.RequestServices.GetRequiredService<CallerResolver>().ResolveAsync(session, context.HttpContext.RequestAborted);
            if (identity.FindFirst(ClaimNames.Name) is null)
            {
                identity.AddClaim(new Claim(ClaimNames.Name, caller.Name));
            }
        }
        catch (OpenCmException)
        {
            // A user the API would refuse (no GUID, no SID, unknown to the directory) gets no session.
            context.Response.Redirect(root + "/signin?failed=authority");
            context.HandleResponse();
            return;
        }

        context.Principal = session;
    }

    // A refusal or an error at the authority: back to the sign-in page, which says so, never a 500.
    private static Task FailedAsync(HttpContext http, HandleRequestContext<RemoteAuthenticationOptions> context, string root)
    {
        // The kind of failure only: the authority's messages may echo codes or tokens.
        http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("OpenCM.Portal")
            .LogWarning("Sign-in with the authority failed ({Failure}); correlation {CorrelationId}.", (context as RemoteFailureContext)?.Failure?.GetType().Name ?? "access denied", Errors.Correlation.Get(http));
        http.Response.Redirect(root + "/signin?failed=authority");
        context.HandleResponse();
        return Task.CompletedTask;
    }
}
