using OpenCM.Acme;
using OpenCM.Domain;
using OpenCM.Server.Endpoints;
using OpenCM.Server.Errors;
using OpenCM.Server.Portal;

namespace OpenCM.Server.Hosting;

/// <summary>The HTTP pipeline and route map.</summary>
public static class OpenCmPipeline
{
    public static WebApplication MapOpenCm(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var api = app.Services.GetRequiredService<ApiOptions>();
        app.UseOpenCmProxies();
        app.UseCorrelation();
        app.UseOpenCmPortal();
        app.UseOpenCmErrors();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseRateLimiter();

        app.MapHealthEndpoints();
        app.MapPkiEndpoints(api.PathBase);
        app.MapEstEndpoints();
        app.MapScepEndpoints(api.PathBase);
        app.MapAcmeEndpoints(Correlation.ForAudit);
        app.MapOpenApi("/openapi/{documentName}.json");
        if (api.Enabled)
        {
            var group = app.MapGroup(api.PathBase.TrimEnd('/') + ApiPaths.Version).RequireAuthorization().WithCaller();
            group.MapRequestEndpoints();
            group.MapProfileTemplateEndpoints();
            group.MapCertificateRequestEndpoints();
            group.MapProfileEndpoints();
            group.MapSmartcardEndpoints();
            group.MapIdentityEndpoints();
        }

        app.MapOpenCmPortal();

        // Anything unmapped (all of the API when it is disabled) is a 404 problem.
        app.MapFallback(context => Problems.WriteAsync(context, DomainError.NotFound("No such resource.")));
        return app;
    }
}
