using Microsoft.Net.Http.Headers;
using OpenCM.Authority.Ocsp;
using OpenCM.Domain;

namespace OpenCM.Server.Endpoints;

/// <summary>
/// The OCSP responder's HTTP binding (RFC 6960 appendix A.1), part of what the CA publishes and
/// unauthenticated like the CRL: POST of a DER OCSPRequest, or GET with it base64 in the path.
/// A well-formed HTTP request always gets 200 with an OCSPResponse, whose status says what was
/// wrong with the OCSP request (malformedRequest, unauthorized, tryLater), since that is what
/// OCSP clients read; only HTTP-level faults (media type, size) are 4xx problems.
/// </summary>
internal static class OcspEndpoints
{
    public const string RequestMediaType = "application/ocsp-request";
    public const string ResponseMediaType = "application/ocsp-response";

    public static IEndpointRouteBuilder MapOcspEndpoints(this IEndpointRouteBuilder app, string pathBase)
    {
        var route = pathBase.TrimEnd('/') + "/ocsp";
        app.MapPost(route, async (HttpContext http, OcspResponder ocsp, CancellationToken ct) =>
        {
            var der = await ReadBodyAsync(http.Request, ocsp.Options.MaxRequestBytes, ct);
            return Answer(await ocsp.RespondAsync(der, ct), cacheable: false);
        }).Produces(StatusCodes.Status200OK, contentType: ResponseMediaType)
            .AnswersProblems(StatusCodes.Status413PayloadTooLarge, StatusCodes.Status415UnsupportedMediaType, StatusCodes.Status500InternalServerError);

        // The catch-all keeps the '/' that base64 may hold; the path is percent-decoded here
        // (A.1: "url-encoding of base-64 encoding"), '%2F' included, which the server leaves encoded.
        app.MapGet(route + "/{**request}", async (string? request, OcspResponder ocsp, CancellationToken ct) =>
        {
            var der = Decode(request, ocsp.Options.MaxRequestBytes);
            var answer = der is null ? new OcspAnswer(OcspResponseWriter.Status(OcspResponseStatus.MalformedRequest), OcspResponseStatus.MalformedRequest) : await ocsp.RespondAsync(der, ct);
            return Answer(answer, cacheable: true);
        }).Produces(StatusCodes.Status200OK, contentType: ResponseMediaType)
            .AnswersProblems(StatusCodes.Status500InternalServerError);
        return app;
    }

    private static async Task<byte[]> ReadBodyAsync(HttpRequest request, int maxBytes, CancellationToken ct)
    {
        if (!MediaTypeHeaderValue.TryParse(request.ContentType, out var media) ||
            !media.MediaType.Equals(RequestMediaType, StringComparison.OrdinalIgnoreCase))
        {
            throw new OpenCmException(new DomainError(ErrorKind.UnsupportedMediaType, $"The request body must be {RequestMediaType}."));
        }

        if (request.ContentLength > maxBytes)
        {
            throw TooLarge(maxBytes);
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[8 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, ct)) > 0)
        {
            if (buffer.Length + read > maxBytes)
            {
                throw TooLarge(maxBytes);
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    private static OpenCmException TooLarge(int maxBytes) =>
        new(new DomainError(ErrorKind.PayloadTooLarge, $"An OCSP request is at most {maxBytes} bytes."));

    // Percent-decoding then base64; anything that is not both is no request (null: malformedRequest).
    private static byte[]? Decode(string? path, int maxBytes)
    {
        // base64 of maxBytes, each character of it percent-encoded at worst.
        var maxChars = (maxBytes + 2) / 3 * 4;
        if (string.IsNullOrEmpty(path) || path.Length > maxChars * 3)
        {
            return null;
        }

        var base64 = Uri.UnescapeDataString(path);
        var bytes = new byte[(base64.Length / 4 * 3) + 3];
        return base64.Length <= maxChars && Convert.TryFromBase64String(base64, bytes, out var written) ? bytes[..written] : null;
    }

    // RFC 5019 §6.2: a GET answer may be cached by HTTP caches until its nextUpdate; one that
    // echoes a nonce, or says no more than an error, is for this request only.
    private static OcspResult Answer(OcspAnswer answer, bool cacheable) => new OcspResult(answer, cacheable);

    private sealed class OcspResult(OcspAnswer answer, bool cacheable) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.RequestServices.GetService<Application.Telemetry.OpenCmMetrics>()?.OcspAnswered(answer.Status.ToString(), answer.NextUpdate);
            var response = httpContext.Response;
            response.StatusCode = StatusCodes.Status200OK;
            response.ContentType = ResponseMediaType;
            response.ContentLength = answer.Der.Length;
            if (cacheable && answer is { Status: OcspResponseStatus.Successful, HasNonce: false, ProducedAt: { } produced, NextUpdate: { } next })
            {
                var now = httpContext.RequestServices.GetRequiredService<TimeProvider>().GetUtcNow();
                var maxAge = Math.Max(0, (long)(next - now).TotalSeconds);
                response.Headers.CacheControl = $"max-age={maxAge}, public, no-transform, must-revalidate";
                response.Headers.LastModified = produced.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
                response.Headers.Expires = next.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
            }
            else if (cacheable)
            {
                response.Headers.CacheControl = "no-store";
            }

            return response.Body.WriteAsync(answer.Der, httpContext.RequestAborted).AsTask();
        }
    }
}
