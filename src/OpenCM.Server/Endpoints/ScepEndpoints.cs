using OpenCM.Application;
using OpenCM.Authority;
using OpenCM.Domain;
using OpenCM.Server.Errors;
using OpenCM.Server.Hosting;

namespace OpenCM.Server.Endpoints;

/// <summary>
/// SCEP (RFC 8894) at <c>{Api:PathBase}/scep</c> (issue #24.3), GET and POST with the
/// <c>operation</c> query parameter: <c>GetCACaps</c>, <c>GetCACert</c> (the CA chain and the RA
/// certificate) and <c>PKIOperation</c> (<see cref="ScepPkiOperation"/>). Unauthenticated, as SCEP
/// is: a request is authorized by its one-time challenge password or, to renew, by the current
/// certificate that signs it. Errors before a CertRep can be made are HTTP statuses with a text
/// body (<see cref="ScepProblems"/>); refusals of a readable request are CertRep FAILUREs. docs/scep.md.
/// </summary>
internal static class ScepEndpoints
{
    /// <summary>What GetCACaps answers (RFC 8894 §3.5.2): what OpenCM takes and does, one per line.</summary>
    internal static readonly string[] Capabilities = ["AES", "POSTPKIOperation", "Renewal", "SCEPStandard", "SHA-256"];

    public static IEndpointRouteBuilder MapScepEndpoints(this IEndpointRouteBuilder app, string pathBase)
    {
        ArgumentNullException.ThrowIfNull(pathBase);
        app.Map(Route(pathBase), HandleAsync).ExcludeFromDescription();
        return app;
    }

    /// <summary>The SCEP path under <paramref name="pathBase"/>.</summary>
    public static string Route(string pathBase) => pathBase.TrimEnd('/') + "/scep";

    private static async Task<IResult> HandleAsync(HttpContext http, ScepRaKeys ras, CertificateAuthorities authorities, ScepOptions options, ScepPkiOperation pki)
    {
        var post = HttpMethods.IsPost(http.Request.Method);
        if (!post && !HttpMethods.IsGet(http.Request.Method))
        {
            http.Response.Headers.Allow = "GET, POST";
            return Text("SCEP answers GET and POST (RFC 8894 §4.1).", StatusCodes.Status405MethodNotAllowed);
        }

        var operation = http.Request.Query["operation"];
        if (operation.Count != 1)
        {
            throw new OpenCmException(DomainError.Validation("operation", "Name one SCEP operation: GetCACaps, GetCACert or PKIOperation."));
        }

        switch (operation[0])
        {
            case "GetCACaps":
                return Results.Text(string.Join('\n', Capabilities) + "\n", "text/plain");

            case "GetCACert":
                // RFC 8894 §4.2.1.2: with an RA, a certs-only SignedData of the RA and the CA certificates. The message parameter (a CA name) is not needed: one CA signs.
                var ra = await ras.CurrentAsync(http.RequestAborted);
                return Results.Bytes(EstEndpoints.CertsOnly([ra.Certificate.RawDataMemory, .. authorities.Active.Chain]), "application/x-x509-ca-ra-cert");

            case "PKIOperation":
                var message = post ? await BodyAsync(http, options.MaxMessageBytes) : FromQuery(http, options.MaxMessageBytes);
                return Results.Bytes(await pki.AnswerAsync(message, http, http.RequestAborted), "application/x-pki-message");

            default:
                throw new OpenCmException(DomainError.Validation("operation", "Unknown SCEP operation; this server has GetCACaps, GetCACert and PKIOperation."));
        }
    }

    // POST: the DER pkiMessage as the body (RFC 8894 §4.3), read up to the limit.
    private static async Task<byte[]> BodyAsync(HttpContext http, int limit)
    {
        if (http.Request.ContentLength > limit)
        {
            throw new OpenCmException(new DomainError(ErrorKind.PayloadTooLarge, $"A SCEP message is at most {limit} bytes."));
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await http.Request.Body.ReadAsync(chunk, http.RequestAborted)) > 0)
        {
            if (buffer.Length + read > limit)
            {
                throw new OpenCmException(new DomainError(ErrorKind.PayloadTooLarge, $"A SCEP message is at most {limit} bytes."));
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    // GET: the pkiMessage in base64 in the message parameter (RFC 8894 §4.3); URL-safe base64 is read too (micromdm's scepclient sends it).
    private static byte[] FromQuery(HttpContext http, int limit)
    {
        var message = http.Request.Query["message"];
        if (message.Count != 1 || string.IsNullOrEmpty(message[0]))
        {
            throw new OpenCmException(DomainError.Validation("message", "PKIOperation over GET needs the pkiMessage in base64 as 'message'."));
        }

        var text = message[0]!;
        if (text.Length > (limit / 3 * 4) + 4)
        {
            throw new OpenCmException(new DomainError(ErrorKind.PayloadTooLarge, $"A SCEP message is at most {limit} bytes."));
        }

        var standard = text.Replace('-', '+').Replace('_', '/').Replace(' ', '+');
        standard = standard.PadRight(standard.Length + ((4 - (standard.Length % 4)) % 4), '=');
        var bytes = new byte[standard.Length];
        return Convert.TryFromBase64String(standard, bytes, out var written)
            ? bytes[..written]
            : throw new OpenCmException(DomainError.Validation("message", "The message is not base64."));
    }

    private static IResult Text(string text, int status) => Results.Text(text + "\n", "text/plain", System.Text.Encoding.UTF8, status);
}

/// <summary>
/// SCEP's problem writer: every error under <c>{Api:PathBase}/scep</c> that comes before a CertRep
/// could be made (no operation, a body that is no pkiMessage, too large, a database out of reach)
/// is its HTTP status with the detail as text/plain, never the API's problem JSON.
/// </summary>
internal sealed class ScepProblems : IProblemWriter
{
    public static readonly ScepProblems Instance = new();

    public bool Answers(HttpContext context)
    {
        var route = ScepEndpoints.Route(context.RequestServices.GetService<ApiOptions>()?.PathBase ?? OpenCmComposition.DefaultPathBase);
        return string.Equals(context.Request.Path.Value, route, StringComparison.OrdinalIgnoreCase)
            || (context.Request.Path.Value ?? "").StartsWith(route + "/", StringComparison.OrdinalIgnoreCase);
    }

    public Task WriteAsync(HttpContext context, DomainError error, int status)
    {
        context.Response.ContentType = "text/plain; charset=utf-8";
        var bytes = System.Text.Encoding.UTF8.GetBytes(error.Detail + "\n");
        context.Response.ContentLength = bytes.Length;
        return context.Response.Body.WriteAsync(bytes).AsTask();
    }
}
