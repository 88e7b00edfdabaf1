using System.Text.Json;
using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.Server.Auth;
using OpenCM.Server.Errors;
using OpenCM.Server.Wire;

namespace OpenCM.Server.Endpoints;

/// <summary>What every API handler needs from the HTTP context.</summary>
internal static class EndpointContext
{
    private const string CallerKey = "opencm.caller";

    /// <summary>Resolves the caller once per request, before the handler runs.</summary>
    public static RouteGroupBuilder WithCaller(this RouteGroupBuilder group) => group.AddEndpointFilter(async (ctx, next) =>
    {
        var http = ctx.HttpContext;
        var resolver = http.RequestServices.GetRequiredService<CallerResolver>();
        http.Items[CallerKey] = await resolver.ResolveAsync(http.User, http.RequestAborted).ConfigureAwait(false);
        return await next(ctx).ConfigureAwait(false);
    });

    public static Caller Caller(this HttpContext context) =>
        context.Items[CallerKey] as Caller ?? throw new InvalidOperationException("The caller was not resolved for this endpoint.");

    public static string CorrelationId(this HttpContext context) => Correlation.Get(context);

    public static Guid RouteGuid(string text, string field) =>
        Guid.TryParse(text, out var id) ? id : throw new OpenCmException(DomainError.Validation(field, $"'{field}' must be a GUID."));

    /// <summary>
    /// A JSON response serialized up front, so that it carries Content-Length as the reference's
    /// service-details page lists (and is not sent chunked).
    /// </summary>
    public static IResult Json(object value, int status = StatusCodes.Status200OK) =>
        new JsonBytesResult(JsonSerializer.SerializeToUtf8Bytes(value, value.GetType(), WireFormat.Options), status);

    private sealed class JsonBytesResult(byte[] body, int status) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            var response = httpContext.Response;
            response.StatusCode = status;
            response.ContentType = WireFormat.JsonContentType;
            response.ContentLength = body.Length;
            return response.Body.WriteAsync(body, httpContext.RequestAborted).AsTask();
        }
    }
}
