using OpenCM.Application;
using OpenCM.Server.Wire;

namespace OpenCM.Server.Endpoints;

/// <summary>Certificate requests of an executing enrollment (SPEC §1, §7).</summary>
internal static class CertificateRequestEndpoints
{
    public static RouteGroupBuilder MapCertificateRequestEndpoints(this RouteGroupBuilder api)
    {
        api.MapGet("/requests/{id}/certificaterequestgenerationoptions", async (HttpContext http, string id, EnrollmentService enrollment) =>
        {
            var options = await enrollment.GenerationOptionsAsync(http.Caller(), EndpointContext.RouteGuid(id, "id"), http.RequestAborted);
            return EndpointContext.Json(options.Select(GenerationOptionsDto.From).ToList());
        });
        return api;
    }
}
