using OpenCM.Application;
using OpenCM.Domain;

namespace OpenCM.Server.Endpoints;

/// <summary>EST's side of the one device enrollment (issue #24.1): a submission, and its answer in EST's terms (RFC 7030 §4.2.3).</summary>
internal static class EstEnrollment
{
    public static Task<IResult> SubmitAsync(HttpContext http, Caller caller, ProfileTemplate template, byte[] certificateRequest, bool reenroll, CancellationToken ct)
    {
        _ = (http, caller, template, certificateRequest, reenroll, ct);
        return Task.FromResult(Results.Text("EST enrollment is not available on this server yet.\n", "text/plain", System.Text.Encoding.UTF8, StatusCodes.Status501NotImplemented));
    }
}
