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

    /// <summary>The EST operation that submits.</summary>
    public enum Operation
    {
        SimpleEnroll,
        SimpleReenroll,
        ServerKeyGen,
    }

    public static async Task<IResult> SubmitAsync(HttpContext http, Caller caller, ProfileTemplate template, byte[] certificateRequest, Operation operation, CancellationToken ct)
    {
        var name = operation switch { Operation.SimpleReenroll => "simplereenroll", Operation.ServerKeyGen => "serverkeygen", _ => "simpleenroll" };
        var serverKey = operation == Operation.ServerKeyGen;
        var input = new DeviceEnrollmentInput(
            EnrollmentProtocol.Est,
            template.Uuid,
            Convert.ToBase64String(certificateRequest),
            DeviceNames.OfCertificateRequest(certificateRequest),
            // serverkeygen's reference differs from simpleenroll's for the same CSR: they are different enrollments.
            (serverKey ? "estkg:" : "") + ClientReference(certificateRequest),
            // A policy that does not collect comments refuses any (RequestRules): then none.
            template.PolicyFor(RequestType.Enroll) is { CollectComments: true } ? $"EST {name} from {http.Connection.RemoteIpAddress}" : "",
            serverKey);
        var outcome = await http.RequestServices.GetRequiredService<DeviceEnrollment>().SubmitAsync(caller, input, http.CorrelationId(), ct);
        switch (outcome)
        {
            case DeviceOutcome.Issued issued when !serverKey:
                return EstEndpoints.Base64(http, EstEndpoints.CertsOnly([issued.Certificate.Der]), CertsOnly);
            case DeviceOutcome.Issued { Pkcs8PrivateKey: { } key } issued:
                return ServerKeyAnswer(http, key, issued.Certificate.Der);
            case DeviceOutcome.Issued issued:
                // The key went out once, with the certificate; the server never sends it again (docs/est.md).
                throw new OpenCmException(new DomainError(ErrorKind.Conflict,
                    $"Request {issued.Request.Uuid:D} was issued and its key delivered once; the server does not send a key twice (its archived copy is returned only by key recovery). Send a new request for a new key."));
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

    /// <summary>
    /// §4.4.2: multipart/mixed, the private key first as application/pkcs8 (unencrypted: no
    /// encryption attributes were asked for, TLS protects it), then the certificate as a certs-only
    /// PKCS#7; each part base64 DER. Not cached anywhere; the key buffer is wiped once written.
    /// </summary>
    private static IResult ServerKeyAnswer(HttpContext http, byte[] pkcs8, byte[] certificate)
    {
        var boundary = "est-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
        var body = new StringBuilder()
            .Append("--").Append(boundary).Append("\r\n")
            .Append("Content-Type: application/pkcs8\r\n")
            .Append("Content-Transfer-Encoding: base64\r\n\r\n")
            .Append(Convert.ToBase64String(pkcs8, Base64FormattingOptions.InsertLineBreaks)).Append("\r\n")
            .Append("--").Append(boundary).Append("\r\n")
            .Append("Content-Type: ").Append(CertsOnly).Append("\r\n")
            .Append("Content-Transfer-Encoding: base64\r\n\r\n")
            .Append(Convert.ToBase64String(EstEndpoints.CertsOnly([certificate]), Base64FormattingOptions.InsertLineBreaks)).Append("\r\n")
            .Append("--").Append(boundary).Append("--\r\n");
        CryptographicOperations.ZeroMemory(pkcs8);
        http.Response.Headers.CacheControl = "no-store";
        return Results.Bytes(Encoding.ASCII.GetBytes(body.ToString()), $"multipart/mixed; boundary={boundary}");
    }
}
