using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using OpenCM.Authority;
using OpenCM.Contracts;
using OpenCM.Server.Wire;

namespace OpenCM.Server.Endpoints;

/// <summary>Operator routes (SPEC §1, §11): health, and GET /me to check what a token means.</summary>
internal static class OperationsEndpoints
{
    public static IEndpointRouteBuilder MapHealthEndpoints(this IEndpointRouteBuilder app)
    {
        // Live: the process answers. Ready: every readiness check passes (storage through its port).
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false, ResponseWriter = WriteHealthAsync });
        app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = c => c.Tags.Contains(Hosting.StorageReadiness.Tag), ResponseWriter = WriteHealthAsync });
        return app;
    }

    // The same small JSON body for every probe; unhealthy answers 503 (the health checks' default).
    private static Task WriteHealthAsync(HttpContext http, HealthReport report) =>
        EndpointContext.Json(new HealthDto(report.Status.ToString()), http.Response.StatusCode).ExecuteAsync(http);

    public static RouteGroupBuilder MapIdentityEndpoints(this RouteGroupBuilder api)
    {
        api.MapGet("/me", (HttpContext http) =>
        {
            var caller = http.Caller();
            var groups = caller.Token.Where(s => s != caller.UserSid).Select(s => s.Value).Order(StringComparer.Ordinal).ToList();
            return EndpointContext.Json(new CallerDto(caller.UserUuid, caller.Name, caller.UserSid.Value, groups));
        }).Returns<CallerDto>();
        return api;
    }
}

/// <summary>
/// What the CAs publish, unauthenticated as PKI publications are (SPEC §1): each CA's CRL and
/// certificate under the slug fixed when it was made (issue #20.5), the retired ones included
/// (issue #20.1, rollover), and OCSP answers for all of them (issue #20.3).
/// </summary>
internal static class PkiEndpoints
{
    public static IEndpointRouteBuilder MapPkiEndpoints(this IEndpointRouteBuilder app, string pathBase)
    {
        // Served from memory with its entity tag and thisUpdate: a client that has it gets 304 (If-None-Match, If-Modified-Since).
        app.MapGet(pathBase.TrimEnd('/') + "/crl/{file}", async (string file, CertificateAuthorities authorities, HttpContext http, CancellationToken ct) =>
        {
            var authority = Published(authorities, file, ".crl");
            var current = await authority.Crl.CurrentAsync(ct);
            http.RequestServices.GetService<Application.Telemetry.OpenCmMetrics>()?.CrlPublished(authority.Slug, current.BuiltAt, current.BuiltAt + authority.Crl.Validity);
            return Results.Bytes(current.Der, "application/pkix-crl", lastModified: current.BuiltAt,
                entityTag: new Microsoft.Net.Http.Headers.EntityTagHeaderValue(current.ETag));
        }).Produces(StatusCodes.Status200OK, contentType: "application/pkix-crl").AnswersProblems(StatusCodes.Status404NotFound, StatusCodes.Status500InternalServerError, StatusCodes.Status503ServiceUnavailable);
        // The active CA's chain, itself first and up to the root (issue #23.3: what `opencm ca root|chain` and a client
        // bootstrapping its trust fetch, as step-ca's /roots.pem or Vault's ca_chain): the slug-named .crt files give one
        // certificate each and say nothing of which CA is active. The literal segment wins over {file}; no slug ends in .pem.
        app.MapGet(pathBase.TrimEnd('/') + "/ca/chain.pem", (CertificateAuthorities authorities) =>
                Results.Text(string.Concat(authorities.Active.Chain.Select(c => System.Security.Cryptography.PemEncoding.WriteString("CERTIFICATE", c.Span) + "\n")),
                    "application/pem-certificate-chain"))
            .Produces(StatusCodes.Status200OK, contentType: "application/pem-certificate-chain").AnswersProblems(StatusCodes.Status500InternalServerError);
        app.MapGet(pathBase.TrimEnd('/') + "/ca/{file}", (string file, CertificateAuthorities authorities) =>
                Results.Bytes(Published(authorities, file, ".crt").Signer.Certificate.RawData, "application/pkix-cert"))
            .Produces(StatusCodes.Status200OK, contentType: "application/pkix-cert").AnswersProblems(StatusCodes.Status404NotFound, StatusCodes.Status500InternalServerError);
        app.MapOcspEndpoints(pathBase);
        return app;
    }

    // The CA publishing <file>; a name no CA publishes under is a 404 naming what is published.
    private static IssuingAuthority Published(CertificateAuthorities authorities, string file, string extension) =>
        file.EndsWith(extension, StringComparison.OrdinalIgnoreCase) && authorities.BySlug(file[..^extension.Length]) is { } authority
            ? authority
            : throw new OpenCM.Domain.OpenCmException(OpenCM.Domain.DomainError.NotFound(
                $"This server publishes {string.Join(", ", authorities.All.Select(a => a.Slug + extension))} only."));
}

/// <summary>Where the API lives (SPEC §1: path base configurable).</summary>
internal static class ApiPaths
{
    public const string Version = "/api/v1.0";

    public static string Base(HttpContext http) =>
        http.RequestServices.GetRequiredService<Hosting.ApiOptions>().PathBase.TrimEnd('/') + Version;
}
