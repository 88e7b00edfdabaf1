using System.Text.Json;
using OpenCM.Application;
using OpenCM.Contracts;
using OpenCM.Domain;
using OpenCM.Server.Auth;
using OpenCM.Server.Errors;
using OpenCM.Server.Wire;

namespace OpenCM.Server.Endpoints;

/// <summary>What every API handler needs from the HTTP context.</summary>
internal static class EndpointContext
{
    /// <summary>Resolves the request's caller (<see cref="RequestCaller"/>) before the handler runs: a refused one never reaches it.</summary>
    public static RouteGroupBuilder WithCaller(this RouteGroupBuilder group) => group.AddEndpointFilter(async (ctx, next) =>
    {
        await ctx.HttpContext.CallerAsync().ConfigureAwait(false);
        return await next(ctx).ConfigureAwait(false);
    });

    public static Caller Caller(this HttpContext context) => context.ResolvedCaller();

    /// <summary>The correlation id use cases audit: the server's, with the caller's <c>X-Correlation-Id</c> beside it.</summary>
    public static string CorrelationId(this HttpContext context) => Correlation.ForAudit(context);

    public static Guid RouteGuid(string text, string field) =>
        Guid.TryParse(text, out var id) ? id : throw new OpenCmException(DomainError.Validation(field, $"'{field}' must be a GUID."));

    /// <summary>
    /// A JSON response serialized up front, so that it carries Content-Length as the reference's
    /// service-details page lists (and is not sent chunked).
    /// </summary>
    public static IResult Json<T>(T value, int status = StatusCodes.Status200OK) =>
        new JsonBytesResult(JsonSerializer.SerializeToUtf8Bytes(value, WireJson.TypeInfo<T>()), status);

    /// <summary>
    /// OpenAPI: the route answers <typeparamref name="T"/>, and the problems every API route may
    /// give (docs/error-handling.md): invalid input, no or a bad token, a right lacking, nothing
    /// readable there, an internal error, the database out of reach.
    /// </summary>
    public static RouteHandlerBuilder Returns<T>(this RouteHandlerBuilder route, int status = StatusCodes.Status200OK) =>
        route.Produces<T>(status, "application/json")
            .AnswersProblems(
                StatusCodes.Status400BadRequest, StatusCodes.Status401Unauthorized, StatusCodes.Status403Forbidden, StatusCodes.Status404NotFound,
                StatusCodes.Status500InternalServerError, StatusCodes.Status503ServiceUnavailable);

    /// <summary>OpenAPI: the route may answer these statuses, each with OpenCM's problem body (<see cref="ProblemDto"/>).</summary>
    public static RouteHandlerBuilder AnswersProblems(this RouteHandlerBuilder route, params int[] statuses)
    {
        ArgumentNullException.ThrowIfNull(statuses);
        foreach (var status in statuses)
        {
            route = route.Produces<ProblemDto>(status, ProblemDto.MediaType);
        }

        return route;
    }

    /// <summary>OpenAPI: the route reads a <typeparamref name="T"/> body (read by <see cref="WireBody"/>, so limits and media type apply).</summary>
    /// <remarks>
    /// Described by an operation transformer, not <c>Accepts&lt;T&gt;</c>: that also constrains routing
    /// by content type, and a wrong one must reach <see cref="WireBody"/> to be answered 415 with a problem body.
    /// </remarks>
    public static RouteHandlerBuilder Takes<T>(this RouteHandlerBuilder route)
        where T : notnull =>
        route.AddOpenApiOperationTransformer(async (operation, context, ct) =>
            {
                // One named schema in the document's components, referenced from the operation.
                var schema = await context.GetOrCreateSchemaAsync(typeof(T), null, ct).ConfigureAwait(false);
                var id = typeof(T).Name;
                context.Document?.AddComponent(id, schema);
                operation.RequestBody = new Microsoft.OpenApi.OpenApiRequestBody
                {
                    Required = true,
                    Content = new Dictionary<string, Microsoft.OpenApi.OpenApiMediaType>
                    {
                        ["application/json"] = new() { Schema = new Microsoft.OpenApi.OpenApiSchemaReference(id, context.Document) },
                    },
                };
            })
            .AnswersProblems(StatusCodes.Status409Conflict, StatusCodes.Status413PayloadTooLarge, StatusCodes.Status415UnsupportedMediaType);

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
