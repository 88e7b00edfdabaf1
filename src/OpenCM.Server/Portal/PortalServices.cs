using System.Security.Claims;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Mvc.ApplicationModels;
using OpenCM.Application;
using OpenCM.Server.Auth;
using OpenCM.Server.Hosting;

namespace OpenCM.Server.Portal;

/// <summary>
/// The portal (issue #10): server-rendered Razor Pages under the API's path base, signed in with
/// a cookie of its own scheme. The API never accepts that cookie (it stays bearer-only, so no
/// cross-site request can act through it); pages resolve the same <see cref="Caller"/> as the API
/// and call the same application services, so rights, dual control and audit are the API's.
/// </summary>
public static class PortalServices
{
    public const string Scheme = "OpenCM.Portal";
    public const string CookieName = "opencm.portal";

    /// <summary>The scheme that signs in with the configured OIDC authority (only registered when one is configured for the portal).</summary>
    public const string OidcScheme = "OpenCM.Portal.Oidc";

    public static IServiceCollection AddOpenCmPortal(this IServiceCollection services, AuthOptions auth)
    {
        ArgumentNullException.ThrowIfNull(auth);
        // The pages are compiled into this assembly; named outright, since the process that hosts
        // them is often another (the opencm executable), whose discovery would not find them.
        services.AddRazorPages(o =>
        {
            o.Conventions.ConfigureFilter(new NoHandlerFilter());
            o.Conventions.AuthorizeFolder("/", Policy);
            o.Conventions.AllowAnonymousToPage("/SignIn");
            o.Conventions.AllowAnonymousToPage("/SignedIn");
            o.Conventions.AddPageApplicationModelConvention("/SignIn",
                m => m.EndpointMetadata.Add(new Microsoft.AspNetCore.RateLimiting.EnableRateLimitingAttribute(Hosting.RateLimits.SignIn)));
        }).AddApplicationPart(typeof(PortalServices).Assembly);
        services.AddScoped<PortalAccess>();

        // Every page lives under the path base (/CertificateManagement), beside the API.
        services.AddOptions<Microsoft.AspNetCore.Mvc.RazorPages.RazorPagesOptions>()
            .Configure<ApiOptions>((o, api) => o.Conventions.Add(new PathBaseConvention(api.PathBase.Trim('/'))));
        services.AddAuthorizationBuilder().AddPolicy(Policy, p => p.AddAuthenticationSchemes(Scheme).RequireAuthenticatedUser());
        services.AddAuthentication().AddCookie(Scheme, _ => { });
        services.AddOptions<CookieAuthenticationOptions>(Scheme).Configure<ApiOptions, TimeProvider>((o, api, clock) =>
        {
            o.TimeProvider = clock; // the sliding 8 hours on the server's one clock, as the absolute lifetime
            var root = api.PathBase.TrimEnd('/');
            o.Cookie.Name = CookieName;
            o.Cookie.HttpOnly = true;
            o.Cookie.SameSite = SameSiteMode.Strict;
            o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest; // Secure whenever served over HTTPS
            o.Cookie.Path = root + "/";
            o.LoginPath = root + "/signin";
            o.LogoutPath = root + "/signout";
            o.AccessDeniedPath = root + "/signin";
            o.ExpireTimeSpan = TimeSpan.FromHours(8);
            o.SlidingExpiration = true;
            o.Events = new PortalSessionEvents(); // sessions end on the server (issue #18.6)
        });
        if (auth.PortalUsesAuthority)
        {
            services.AddAuthentication().AddOpenIdConnect(OidcScheme, _ => { });
            services.AddOptions<Microsoft.AspNetCore.Authentication.OpenIdConnect.OpenIdConnectOptions>(OidcScheme)
                .Configure<ApiOptions, AuthOptions, TimeProvider>((o, api, a, clock) => PortalOidc.Configure(o, a, api.PathBase.TrimEnd('/'), clock));
        }

        services.AddAntiforgery(o =>
        {
            o.Cookie.Name = "opencm.antiforgery";
            o.Cookie.HttpOnly = true;
            o.Cookie.SameSite = SameSiteMode.Strict;
            o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
        });

        // The portal's cookies go to the portal's path only (issue #18.8), as the session's does:
        // routes are prefixed with the path base rather than served under UsePathBase, so
        // ASP.NET Core's default (the request's PathBase) would be "/", the whole host.
        services.AddOptions<Microsoft.AspNetCore.Antiforgery.AntiforgeryOptions>()
            .Configure<ApiOptions>((o, api) => o.Cookie.Path = api.PathBase.TrimEnd('/') + "/");
        services.AddOptions<Microsoft.AspNetCore.Mvc.CookieTempDataProviderOptions>().Configure<ApiOptions>((o, api) =>
        {
            o.Cookie.Name = "opencm.tempdata";
            o.Cookie.Path = api.PathBase.TrimEnd('/') + "/";
            o.Cookie.HttpOnly = true;
            o.Cookie.SameSite = SameSiteMode.Strict;
            o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
        });
        return services;
    }

    /// <summary>The claims a portal session carries: those of a token of this server's own, so the caller resolves the same way.</summary>
    public static ClaimsPrincipal SessionFor(Principal user, AuthOptions auth)
    {
        ArgumentNullException.ThrowIfNull(user);
        ArgumentNullException.ThrowIfNull(auth);
        var identity = new ClaimsIdentity(
        [
            new Claim(ClaimNames.Subject, user.Uuid.ToString("D")),
            new Claim(ClaimNames.Name, user.Name),
            new Claim(ClaimNames.PrimarySid, user.Sid.Value),
            new Claim("iss", auth.Issuer),
        ], Scheme, ClaimNames.Name, null);
        return new ClaimsPrincipal(identity);
    }

    /// <summary>Where to go after signing in: <paramref name="returnUrl"/> when it is a local path under the portal, else the portal's home (never an open redirect).</summary>
    public static string LocalReturn(string? returnUrl, ApiOptions api, Microsoft.AspNetCore.Mvc.IUrlHelper url)
    {
        ArgumentNullException.ThrowIfNull(api);
        ArgumentNullException.ThrowIfNull(url);
        var home = api.PathBase.TrimEnd('/') + "/";
        return returnUrl is { } r && url.IsLocalUrl(r) && r.StartsWith(home, StringComparison.Ordinal) ? r : home;
    }

    /// <summary>Security headers on every response (CSP without inline script, no framing), and the portal's static files.</summary>
    public static WebApplication UseOpenCmPortal(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        // A form may post only here, and redirect on only to the authority the sign-in button goes to
        // (browsers hold form-action to every redirect that follows a form's submission).
        var auth = app.Services.GetRequiredService<AuthOptions>();
        var formAction = auth.PortalUsesAuthority && Uri.TryCreate(auth.Authority, UriKind.Absolute, out var authority)
            ? $"'self' {authority.GetLeftPart(UriPartial.Authority)}"
            : "'self'";
        var policy = $"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action {formAction}; frame-ancestors 'none'";
        app.Use((context, next) =>
        {
            var headers = context.Response.Headers;
            headers.ContentSecurityPolicy = policy;
            headers.XContentTypeOptions = "nosniff";
            headers["Referrer-Policy"] = "no-referrer";
            headers.XFrameOptions = "DENY";
            if (context.Request.IsHttps)
            {
                headers.StrictTransportSecurity = "max-age=31536000";
            }

            return next(context);
        });

        // A page that answers 404 with no body (an unknown request, a page the caller may not
        // use: unknown and not-yours look alike) is shown as OpenCM's error page, not left to the
        // browser's own (issue #23.12). Only for a browser on the portal's paths: the API and the
        // PKI files answer problem JSON as before.
        app.UseStatusCodePages(context =>
        {
            var http = context.HttpContext;
            return http.Response.StatusCode == StatusCodes.Status404NotFound && PortalProblems.Instance.Answers(http)
                ? Errors.Problems.WriteAsync(http, Domain.DomainError.NotFound("There is no such page, or it is not yours to see."))
                : Task.CompletedTask;
        });
        return app;
    }

    /// <summary>The pages, and their static files (embedded, so that every way of running the server has them).</summary>
    public static WebApplication MapOpenCmPortal(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var root = app.Services.GetRequiredService<ApiOptions>().PathBase.TrimEnd('/');
        app.MapGet(root + "/static/{**file}", (string file, HttpContext http) =>
        {
            if (!StaticFiles.Value.TryGetValue(file, out var asset))
            {
                return Results.NotFound();
            }

            http.Response.Headers.CacheControl = "no-cache";
            return Results.Bytes(asset.Bytes, asset.ContentType, entityTag: asset.ETag);
        }).AllowAnonymous();
        app.MapRazorPages();

        // A person who types the server's bare address lands on the portal (issue #23.12); the API
        // and the PKI files keep their own paths under the path base.
        if (root.Length > 0)
        {
            app.MapGet("/", () => Results.Redirect(root + "/")).AllowAnonymous().ExcludeFromDescription();
            app.MapGet("/favicon.ico", () => Results.Redirect(root + "/static/favicon.svg")).AllowAnonymous().ExcludeFromDescription();
        }

        return app;
    }

    private sealed record StaticFile(byte[] Bytes, string ContentType, Microsoft.Net.Http.Headers.EntityTagHeaderValue ETag);

    private const string StaticPrefix = "OpenCM.Portal.Static/";

    // Every embedded file under Portal/ by its path below static/: nothing else can be named.
    private static readonly Lazy<Dictionary<string, StaticFile>> StaticFiles = new(() =>
    {
        var assembly = typeof(PortalServices).Assembly;
        var files = new Dictionary<string, StaticFile>(StringComparer.Ordinal);
        foreach (var name in assembly.GetManifestResourceNames().Where(n => n.StartsWith(StaticPrefix, StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            var bytes = copy.ToArray();
            var type = Path.GetExtension(name) switch
            {
                ".css" => "text/css; charset=utf-8",
                ".svg" => "image/svg+xml",
                _ => "text/javascript; charset=utf-8",
            };
            var tag = new Microsoft.Net.Http.Headers.EntityTagHeaderValue($"\"{Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes))[..16]}\"");
            files[name[StaticPrefix.Length..]] = new StaticFile(bytes, type, tag);
        }

        return files;
    });

    private const string Policy = "portal";

    // A form posted to a handler the page does not have (?handler=Bogus, or a page with no POST at
    // all) would render the page with nothing loaded: it is a 400 instead.
    private sealed class NoHandlerFilter : Microsoft.AspNetCore.Mvc.Filters.IAsyncPageFilter
    {
        public Task OnPageHandlerSelectionAsync(Microsoft.AspNetCore.Mvc.Filters.PageHandlerSelectedContext context) => Task.CompletedTask;

        public Task OnPageHandlerExecutionAsync(Microsoft.AspNetCore.Mvc.Filters.PageHandlerExecutingContext context, Microsoft.AspNetCore.Mvc.Filters.PageHandlerExecutionDelegate next)
        {
            ArgumentNullException.ThrowIfNull(context);
            ArgumentNullException.ThrowIfNull(next);
            if (context.HandlerMethod is null)
            {
                context.Result = new Microsoft.AspNetCore.Mvc.BadRequestResult();
                return Task.CompletedTask;
            }

            return next();
        }
    }

    // Page routes are prefixed with the configured path base.
    private sealed class PathBaseConvention(string root) : IPageRouteModelConvention
    {
        public void Apply(PageRouteModel model)
        {
            foreach (var selector in model.Selectors)
            {
                var template = (selector.AttributeRouteModel?.Template ?? "").TrimStart('/');
                selector.AttributeRouteModel!.Template = string.IsNullOrEmpty(template) ? root : $"{root}/{template}";
            }
        }
    }
}
