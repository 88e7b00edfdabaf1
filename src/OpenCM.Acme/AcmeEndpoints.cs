using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using OpenCM.Application;
using OpenCM.Domain;

namespace OpenCM.Acme;

/// <summary>
/// RFC 8555 at <c>/acme/{template label}/</c> (issue #24.4; docs/acme.md): the directory and nonces
/// by GET/HEAD, every other resource by a JWS POST (POST-as-GET to read). Errors are ACME problem
/// documents (<see cref="WriteProblemAsync"/>), with a fresh Replay-Nonce, never problem JSON of the API.
/// </summary>
public static class AcmeEndpoints
{
    public const string Root = "/acme";
    private const string JoseJson = "application/jose+json";

    /// <summary>The ACME front-end's services: options, nonces, the engine as its issuer. The store, the EAB keys and the validator come from their own registrations.</summary>
    public static IServiceCollection AddOpenCmAcme(this IServiceCollection services, IConfiguration configuration)
    {
        services.TryAddSingleton(AcmeOptions.From(configuration));
        services.TryAddSingleton<AcmeNonces>();
        services.TryAddSingleton<IAcmeIssuer, EngineAcmeIssuer>();
        return services;
    }

    /// <summary>Maps the ACME routes; <paramref name="correlation"/> is the server's correlation id of a request, for the audit.</summary>
    public static IEndpointRouteBuilder MapAcmeEndpoints(this IEndpointRouteBuilder app, Func<HttpContext, string> correlation)
    {
        ArgumentNullException.ThrowIfNull(app);
        var root = Root + "/{label}/";
        app.Map(root + "directory", async (string label, HttpContext http) =>
        {
            var site = await SiteAsync(http, label);
            if (!HttpMethods.IsGet(http.Request.Method) && !HttpMethods.IsHead(http.Request.Method))
            {
                await MethodNotAllowedAsync(http, "GET");
                return;
            }

            await WriteAsync(http, site, new AcmeReply(200, AcmeService.Directory(site)), nonce: false);
        }).ExcludeFromDescription();

        app.Map(root + "new-nonce", async (string label, HttpContext http) =>
        {
            var site = await SiteAsync(http, label);
            if (!HttpMethods.IsGet(http.Request.Method) && !HttpMethods.IsHead(http.Request.Method))
            {
                await MethodNotAllowedAsync(http, "GET, HEAD");
                return;
            }

            // RFC 8555 §7.2: HEAD answers 200, GET 204; both carry the nonce and are not cached.
            await WriteAsync(http, site, new AcmeReply(HttpMethods.IsHead(http.Request.Method) ? 200 : 204), nonce: true);
        }).ExcludeFromDescription();

        Post(app, root + "new-account", correlation, jwk: true, kid: false, (s, site, v, _, ct) => s.NewAccountAsync(site, v, ct));
        Post(app, root + "acct/{id}", correlation, jwk: false, kid: true, (s, site, v, r, ct) => s.AccountAsync(site, v, r["id"], ct));
        Post(app, root + "acct/{id}/orders", correlation, jwk: false, kid: true, (s, site, v, r, ct) => s.OrdersAsync(site, v, r["id"], ct));
        Post(app, root + "key-change", correlation, jwk: false, kid: true, (s, site, v, _, ct) => s.KeyChangeAsync(site, v, ct));
        Post(app, root + "new-order", correlation, jwk: false, kid: true, (s, site, v, _, ct) => s.NewOrderAsync(site, v, ct));
        Post(app, root + "order/{id}", correlation, jwk: false, kid: true, (s, site, v, r, ct) => s.OrderAsync(site, v, r["id"], ct));
        Post(app, root + "order/{id}/finalize", correlation, jwk: false, kid: true, (s, site, v, r, ct) => s.FinalizeAsync(site, v, r["id"], ct));
        Post(app, root + "authz/{id}", correlation, jwk: false, kid: true, (s, site, v, r, ct) => s.AuthorizationAsync(site, v, r["id"], ct));
        Post(app, root + "chall/{id}/{type}", correlation, jwk: false, kid: true, (s, site, v, r, ct) => s.ChallengeAsync(site, v, r["id"], r["type"], ct));
        Post(app, root + "cert/{id}", correlation, jwk: false, kid: true, (s, _, v, r, ct) => s.CertificateAsync(v, r["id"], ct));
        Post(app, root + "revoke-cert", correlation, jwk: true, kid: true, (s, site, v, _, ct) => s.RevokeAsync(site, v, ct));

        // Anything else under /acme: an ACME 404, after the label (an unknown label is 404 as well).
        app.Map(Root + "/{**rest}", (HttpContext http) =>
            Task.FromException(AcmeErrors.Problem(ErrorKind.NotFound, AcmeErrors.Malformed, "No such ACME resource."))).ExcludeFromDescription();
        return app;
    }

    private delegate Task<AcmeReply> Handler(AcmeService service, AcmeSite site, AcmeVerified request, IReadOnlyDictionary<string, string> route, CancellationToken ct);

    private static void Post(IEndpointRouteBuilder app, string pattern, Func<HttpContext, string> correlation, bool jwk, bool kid, Handler handler) =>
        app.Map(pattern, async (HttpContext http) =>
        {
            var label = (string)http.Request.RouteValues["label"]!;
            var site = await SiteAsync(http, label);
            if (!HttpMethods.IsPost(http.Request.Method))
            {
                // RFC 8555 §6.3: resources other than the directory and newNonce are read by POST-as-GET.
                await MethodNotAllowedAsync(http, "POST");
                return;
            }

            var jws = JwsMessage.Parse(await BodyAsync(http));
            var service = new AcmeService(http.RequestServices, correlation(http));
            var requestUrl = RequestUrl(http);
            var verified = await service.VerifyAsync(site, requestUrl, jws, jwk, kid, http.RequestAborted);
            var route = http.Request.RouteValues.Where(v => v.Value is string).ToDictionary(v => v.Key, v => (string)v.Value!, StringComparer.Ordinal);
            var reply = await handler(service, site, verified, route, http.RequestAborted);
            await WriteAsync(http, site, reply, nonce: true);
        }).ExcludeFromDescription();

    private static async Task<AcmeSite> SiteAsync(HttpContext http, string label)
    {
        var template = await AcmeService.TemplateAsync(http.RequestServices.GetRequiredService<ITemplateStore>(), label, http.RequestAborted);
        return new AcmeSite(template, $"{Origin(http)}{Root}/{label}");
    }

    private static string Origin(HttpContext http) => $"{http.Request.Scheme}://{http.Request.Host.Value}{http.Request.PathBase.Value}";

    // The URL the client sent to, as the JWS's url must name it (RFC 8555 §6.4).
    private static string RequestUrl(HttpContext http) => Origin(http) + http.Request.Path.Value;

    // The JWS body: application/jose+json (§6.2), at most Acme:MaxBodyBytes, read no further than that.
    private static async Task<byte[]> BodyAsync(HttpContext http)
    {
        var options = http.RequestServices.GetRequiredService<AcmeOptions>();
        var type = http.Request.ContentType ?? "";
        var semicolon = type.IndexOf(';', StringComparison.Ordinal);
        if (!string.Equals((semicolon < 0 ? type : type[..semicolon]).Trim(), JoseJson, StringComparison.OrdinalIgnoreCase))
        {
            throw AcmeErrors.Problem(ErrorKind.UnsupportedMediaType, AcmeErrors.Malformed, "ACME requests are application/jose+json (RFC 8555 §6.2).");
        }

        var tooLarge = AcmeErrors.Problem(ErrorKind.PayloadTooLarge, AcmeErrors.Malformed, $"The request body is larger than {options.MaxBodyBytes} bytes.");
        if (http.Request.ContentLength > options.MaxBodyBytes)
        {
            throw tooLarge;
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int read;
        while ((read = await http.Request.Body.ReadAsync(chunk, http.RequestAborted)) > 0)
        {
            if (buffer.Length + read > options.MaxBodyBytes)
            {
                throw tooLarge;
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    private static async Task WriteAsync(HttpContext http, AcmeSite site, AcmeReply reply, bool nonce)
    {
        var response = http.Response;
        response.StatusCode = reply.Status;
        response.Headers.CacheControl = "no-store";
        if (nonce)
        {
            response.Headers["Replay-Nonce"] = http.RequestServices.GetRequiredService<AcmeNonces>().New();
        }

        response.Headers.Append("Link", $"<{site.Url("directory")}>;rel=\"index\"");
        foreach (var link in reply.Links)
        {
            response.Headers.Append("Link", link);
        }

        if (reply.Location is { } location)
        {
            response.Headers.Location = location;
        }

        if (reply.RetryAfter is { } seconds)
        {
            response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        var bytes = reply.Text is { } text ? Encoding.UTF8.GetBytes(text)
            : reply.Body is { } body ? Encoding.UTF8.GetBytes(body.ToJsonString())
            : null;
        if (bytes is null || HttpMethods.IsHead(http.Request.Method))
        {
            return;
        }

        response.ContentType = reply.ContentType ?? "application/json";
        response.ContentLength = bytes.Length;
        await response.Body.WriteAsync(bytes, http.RequestAborted);
    }

    private static Task MethodNotAllowedAsync(HttpContext http, string allow)
    {
        http.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
        http.Response.Headers.Allow = allow;
        return WriteProblemAsync(http, new DomainError(ErrorKind.ValidationFailed, $"This resource answers {allow} only.", AcmeErrors.Urn + AcmeErrors.Malformed), StatusCodes.Status405MethodNotAllowed);
    }

    /// <summary>Whether a request came to the ACME front-end (its problem writer answers it).</summary>
    public static bool Answers(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var path = context.Request.Path.Value ?? "";
        return path.StartsWith(Root + "/", StringComparison.OrdinalIgnoreCase) || string.Equals(path, Root, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// An ACME problem document (RFC 8555 §6.7, RFC 7807) of <paramref name="error"/>, whose status
    /// the caller set; with a fresh Replay-Nonce (§6.5: badNonce's retry needs one).
    /// </summary>
    public static async Task WriteProblemAsync(HttpContext context, DomainError error, int status)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(error);
        if (context.RequestServices.GetService<AcmeNonces>() is { } nonces)
        {
            // A stamp, not a row: it costs nothing and needs no database (AcmeNonces), so even a 503 carries one.
            context.Response.Headers["Replay-Nonce"] = nonces.New();
        }

        context.Response.Headers.CacheControl = "no-store";
        context.Response.ContentType = AcmeErrors.MediaType;
        var body = new JsonObject { ["type"] = AcmeErrors.TypeOf(error), ["detail"] = error.Detail, ["status"] = status };
        var bytes = Encoding.UTF8.GetBytes(body.ToJsonString());
        context.Response.ContentLength = bytes.Length;
        await context.Response.Body.WriteAsync(bytes);
    }
}
