using System.Security.Cryptography;
using System.Text;
using OpenCM.Application;
using OpenCM.Domain;

namespace OpenCM.Server.Endpoints;

/// <summary>
/// EST's side of the one device enrollment (issue #24.1): the CSR goes to
/// <see cref="DeviceEnrollment.SubmitAsync"/> with its own names, and the outcome comes back in
/// EST's terms (RFC 7030 §4.2.3): the certificate as a certs-only PKCS#7, or 202 with Retry-After
/// while approvers have not approved. EST has no transaction id: a retry is the same POST, found by
/// the caller and the CSR (<see cref="ClientReference"/>), which resumes the request it made first.
/// </summary>
internal static class EstEnrollment
{
    /// <summary>§4.2.3: the media type of an issued certificate.</summary>
    public const string CertsOnly = "application/pkcs7-mime; smime-type=certs-only";

    /// <summary>The client's handle of an enrollment: <c>est:</c> and the SHA-256 of its CSR's DER in hex (the same CSR again is a retry).</summary>
    public static string ClientReference(byte[] certificateRequestDer) => "est:" + Convert.ToHexStringLower(SHA256.HashData(certificateRequestDer));

    public static async Task<IResult> SubmitAsync(HttpContext http, Caller caller, ProfileTemplate template, byte[] certificateRequest, bool reenroll, CancellationToken ct)
    {
        var input = new DeviceEnrollmentInput(
            EnrollmentProtocol.Est,
            template.Uuid,
            Convert.ToBase64String(certificateRequest),
            DeviceNames.OfCertificateRequest(certificateRequest),
            ClientReference(certificateRequest),
            // A policy that does not collect comments refuses any (RequestRules): then none.
            template.PolicyFor(RequestType.Enroll) is { CollectComments: true } ? $"EST {(reenroll ? "simplereenroll" : "simpleenroll")} from {http.Connection.RemoteIpAddress}" : "");
        var outcome = await http.RequestServices.GetRequiredService<DeviceEnrollment>().SubmitAsync(caller, input, http.CorrelationId(), ct);
        switch (outcome)
        {
            case DeviceOutcome.Issued issued:
                return EstEndpoints.Base64(http, EstEndpoints.CertsOnly([issued.Certificate.Der]), CertsOnly);
            case DeviceOutcome.Waiting waiting:
                var seconds = http.RequestServices.GetRequiredService<EstOptions>().RetryAfterSeconds;
                http.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
                return Results.Text(
                    $"Request {waiting.Request.Uuid:D} waits for {waiting.ApprovalsNeeded} more approval(s); send the same request again in {seconds} seconds (RFC 7030 §4.2.3).\n",
                    "text/plain", Encoding.UTF8, StatusCodes.Status202Accepted);
            default:
                throw new InvalidOperationException("An outcome the device enrollment does not make.");
        }
    }
}
