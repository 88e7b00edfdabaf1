using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace OpenCM.TestKit;

/// <summary>
/// An OIDC authority on loopback Kestrel, as ADFS or Keycloak would answer: discovery, JWKS,
/// RSA-signed tokens, and the authorization code flow with PKCE (a sign-in form naming one of
/// <see cref="Users"/>, single-use codes, a token endpoint checking the client, redirect URI and
/// code verifier). Tests hand out tokens directly with <see cref="Token"/>.
/// </summary>
public sealed class TestOidcProvider : IAsyncDisposable
{
    public const string ClientId = "opencm-portal";
    public const string ClientSecret = "portal client secret";
    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, Grant> _codes = new(StringComparer.Ordinal);

    private TestOidcProvider(WebApplication app, RsaSecurityKey key, TimeProvider clock)
    {
        _app = app;
        Key = key;
        Clock = clock;
    }

    public string Issuer { get; private set; } = "";

    public RsaSecurityKey Key { get; }

    public TimeProvider Clock { get; }

    /// <summary>Who may sign in at the form, with the claims their ID token carries besides iss, aud, nonce and times.</summary>
    public ConcurrentDictionary<string, IDictionary<string, object>> Users { get; } = new(StringComparer.Ordinal);

    /// <summary>How many codes the token endpoint redeemed.</summary>
    public int Redeemed => _redeemed;

    private int _redeemed;

    private sealed record Grant(string User, string RedirectUri, string? Nonce, string? Challenge, DateTimeOffset Expires);

    public static async Task<TestOidcProvider> StartAsync(TimeProvider? clock = null)
    {
        var key = new RsaSecurityKey(RSA.Create(2048)) { KeyId = "adfs-test" };
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var provider = new TestOidcProvider(app, key, clock ?? TimeProvider.System);
        app.MapGet("/.well-known/openid-configuration", () => Results.Json(new Dictionary<string, object>
        {
            ["issuer"] = provider.Issuer,
            ["jwks_uri"] = provider.Issuer + "/keys",
            ["authorization_endpoint"] = provider.Issuer + "/authorize",
            ["token_endpoint"] = provider.Issuer + "/token",
            ["response_types_supported"] = new[] { "code" },
            ["subject_types_supported"] = new[] { "public" },
            ["id_token_signing_alg_values_supported"] = new[] { "RS256" },
            ["code_challenge_methods_supported"] = new[] { "S256" },
        }));
        app.MapGet("/keys", () =>
        {
            var jwk = JsonWebKeyConverter.ConvertFromRSASecurityKey(new RsaSecurityKey(key.Rsa.ExportParameters(false)) { KeyId = key.KeyId });
            return Results.Json(new Dictionary<string, object>
            {
                ["keys"] = new[] { new Dictionary<string, string> { ["kty"] = "RSA", ["kid"] = jwk.Kid, ["n"] = jwk.N, ["e"] = jwk.E, ["use"] = "sig", ["alg"] = "RS256" } },
            });
        });
        app.MapGet("/authorize", (HttpRequest request) => SignInForm(request.Query));
        app.MapPost("/authorize", async (HttpRequest request) => provider.Authorize(await request.ReadFormAsync()));
        app.MapPost("/token", async (HttpRequest request) => provider.Redeem(await request.ReadFormAsync()));
        await app.StartAsync();
        provider.Issuer = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return provider;
    }

    /// <summary>A token of this authority (for bearer-token tests), issued at <see cref="Samples.Now"/> unless told.</summary>
    public string Token(IDictionary<string, object> claims, string audience = "urn:opencm:test", SecurityKey? key = null, string? issuer = null, DateTimeOffset? now = null) =>
        new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = issuer ?? Issuer,
            Audience = audience,
            IssuedAt = (now ?? Samples.Now).UtcDateTime,
            NotBefore = (now ?? Samples.Now).UtcDateTime,
            Expires = (now ?? Samples.Now).UtcDateTime.AddMinutes(30),
            Claims = claims,
            SigningCredentials = new SigningCredentials(key ?? Key, SecurityAlgorithms.RsaSha256),
        });

    // The authority's own sign-in page: the parameters ride along as hidden fields.
    private static IResult SignInForm(IQueryCollection query)
    {
        var hidden = string.Concat(new[] { "client_id", "redirect_uri", "state", "nonce", "code_challenge", "code_challenge_method", "response_type" }
            .Select(n => $"<input type=\"hidden\" name=\"{n}\" value=\"{WebUtility.HtmlEncode(query[n].ToString())}\">"));
        return Results.Content($"""
            <!DOCTYPE html><html lang="en"><head><title>Test authority</title></head><body><main>
            <h1>Test authority</h1>
            <form method="post" action="/authorize">{hidden}
            <label>User at the authority <input name="user" required></label>
            <button type="submit">Sign in at the authority</button>
            </form></main></body></html>
            """, "text/html; charset=utf-8");
    }

    private IResult Authorize(IFormCollection form)
    {
        var redirect = form["redirect_uri"].ToString();
        if (form["client_id"] != ClientId || !Uri.TryCreate(redirect, UriKind.Absolute, out var back) || !back.IsLoopback || form["response_type"] != "code")
        {
            return Results.BadRequest("bad client, redirect_uri or response_type");
        }

        var state = Uri.EscapeDataString(form["state"].ToString());
        if (!Users.ContainsKey(form["user"].ToString()))
        {
            return Results.Redirect($"{redirect}?error=access_denied&state={state}");
        }

        var code = Base64UrlEncoder.Encode(RandomNumberGenerator.GetBytes(24));
        var challenge = form["code_challenge"].ToString();
        _codes[code] = new Grant(form["user"].ToString(), redirect, form["nonce"].ToString(), challenge.Length == 0 ? null : challenge, Clock.GetUtcNow().AddMinutes(2));
        return Results.Redirect($"{redirect}?code={code}&state={state}");
    }

    private IResult Redeem(IFormCollection form)
    {
        // Single use, for this client and redirect URI, with the verifier of the challenge.
        if (form["grant_type"] != "authorization_code" || !_codes.TryRemove(form["code"].ToString(), out var grant) || grant.Expires < Clock.GetUtcNow())
        {
            return Results.Json(new { error = "invalid_grant" }, statusCode: 400);
        }

        if (form["client_id"] != ClientId || form["client_secret"] != ClientSecret || form["redirect_uri"] != grant.RedirectUri)
        {
            return Results.Json(new { error = "invalid_client" }, statusCode: 401);
        }

        if (grant.Challenge is null || Base64UrlEncoder.Encode(SHA256.HashData(Encoding.ASCII.GetBytes(form["code_verifier"].ToString()))) != grant.Challenge)
        {
            return Results.Json(new { error = "invalid_grant", error_description = "PKCE" }, statusCode: 400);
        }

        Interlocked.Increment(ref _redeemed);
        var accessToken = Base64UrlEncoder.Encode(RandomNumberGenerator.GetBytes(32));
        var claims = new Dictionary<string, object>(Users[grant.User])
        {
            ["at_hash"] = Base64UrlEncoder.Encode(SHA256.HashData(Encoding.ASCII.GetBytes(accessToken))[..16]),
        };
        if (!string.IsNullOrEmpty(grant.Nonce))
        {
            claims["nonce"] = grant.Nonce;
        }

        var idToken = Token(claims, audience: ClientId, now: Clock.GetUtcNow());
        return Results.Json(new Dictionary<string, object> { ["access_token"] = accessToken, ["token_type"] = "Bearer", ["expires_in"] = 1800, ["id_token"] = idToken });
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        Key.Rsa.Dispose();
    }
}
