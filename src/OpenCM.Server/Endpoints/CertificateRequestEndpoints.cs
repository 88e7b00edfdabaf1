using OpenCM.Application;
using OpenCM.Contracts;
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
        }).Returns<List<GenerationOptionsDto>>();
        api.MapPost("/requests/{id}/certificatedata", async (HttpContext http, string id, EnrollmentService enrollment) =>
        {
            var requestId = EndpointContext.RouteGuid(id, "id");
            var body = await WireBody.ReadAsync<CertificateDataBody>(http.Request, http.RequestAborted);
            var (_, results) = await enrollment.SubmitCertificateDataAsync(
                http.Caller(), requestId, body.CertificateRequests ?? [], body.PfxPassword, http.CorrelationId(), http.RequestAborted);
            return EndpointContext.Json(results.Select(CertificateDto.From).ToList());
        }).Takes<CertificateDataBody>().Returns<List<CertificateDto>>().AnswersProblems(StatusCodes.Status429TooManyRequests);
        return api;
    }
}
