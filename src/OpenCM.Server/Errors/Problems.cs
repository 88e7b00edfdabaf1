using System.Text.Json;
using OpenCM.Contracts;
using OpenCM.Domain;

namespace OpenCM.Server.Errors;

/// <summary>
/// Answers a <see cref="DomainError"/> over HTTP: the status from <see cref="ErrorMapping"/> (the
/// one place kinds become statuses), the headers that status calls for, and the body in the
/// format of the front-end the request came to. Each front-end has one problem writer over the
/// one <see cref="ErrorKind"/> set: the portal's pages, and the API's problem JSON for everything
/// else; a later ACME or EST front-end adds its own writer (RFC 8555 problem types, EST's text).
/// </summary>
internal static class Problems
{
    // The first writer that answers the request writes its body; the API's answers every request.
    private static readonly IProblemWriter[] Writers = [Portal.PortalProblems.Instance, ApiProblems.Instance];

    public static Task WriteAsync(HttpContext context, DomainError error)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(error);
        var status = ErrorMapping.StatusCode(error.Kind);
        context.Response.StatusCode = status;
        if (status == StatusCodes.Status401Unauthorized && !context.Response.Headers.ContainsKey(Microsoft.Net.Http.Headers.HeaderNames.WWWAuthenticate))
        {
            // Every way in the API accepts: bearer tokens, and Kerberos where it is on (issue #19).
            context.Response.Headers.WWWAuthenticate = context.RequestServices.GetService<Auth.NegotiateOptions>() is { Enabled: true }
                ? new Microsoft.Extensions.Primitives.StringValues(["Negotiate", "Bearer"])
                : "Bearer";
        }

        if (status == StatusCodes.Status503ServiceUnavailable)
        {
            // Long enough for a database failover to finish, short enough not to strand clients.
            context.Response.Headers.RetryAfter = "5";
        }

        return Array.Find(Writers, w => w.Answers(context))!.WriteAsync(context, error, status);
    }
}

/// <summary>One front-end's format for errors: the same kinds and statuses, its own body.</summary>
internal interface IProblemWriter
{
    /// <summary>Whether the request came to this front-end (by its path, and what the client accepts).</summary>
    bool Answers(HttpContext context);

    /// <summary>Writes the body of <paramref name="error"/>; status and headers are already set.</summary>
    Task WriteAsync(HttpContext context, DomainError error, int status);
}

/// <summary>The API's problem JSON (RFC 9457 with OpenCM's members): one <see cref="ProblemDto"/>, serialized by the generated context.</summary>
internal sealed class ApiProblems : IProblemWriter
{
    public static readonly ApiProblems Instance = new();

    public static ProblemDto Body(HttpContext context, DomainError error, int status) =>
        new($"https://opencm.dev/errors/{error.Code}", ErrorMapping.Title(error.Kind), status, error.Detail, error.Code, Correlation.Get(context))
        {
            Field = error.Field,
            CurrentStatus = error.CurrentStatus is { } current ? (int)current : null,
        };

    public bool Answers(HttpContext context) => true;

    public Task WriteAsync(HttpContext context, DomainError error, int status)
    {
        context.Response.ContentType = ProblemDto.MediaType + "; charset=utf-8";
        var bytes = JsonSerializer.SerializeToUtf8Bytes(Body(context, error, status), WireJson.TypeInfo<ProblemDto>());
        context.Response.ContentLength = bytes.Length;
        return context.Response.Body.WriteAsync(bytes).AsTask();
    }
}

/// <summary>
/// Every request gets a correlation id (the caller's <c>X-Correlation-Id</c> when it is a sane
/// token, else a new one); it is echoed in the response, in error bodies and in the logs.
/// </summary>
internal static class Correlation
{
    public const string Header = "X-Correlation-Id";
    private const string Key = "opencm.correlation";

    public static string Get(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Items.TryGetValue(Key, out var existing) && existing is string s)
        {
            return s;
        }

        var given = context.Request.Headers[Header].ToString();
        var id = given.Length is > 0 and <= 64 && given.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')
            ? given
            : NewId();
        context.Items[Key] = id;
        return id;
    }

    // 128 bits from a generator seeded once per process: the id must be unique, not secret (it
    // names a request in the logs and grants nothing). Guid.NewGuid read /dev/urandom once per
    // request on Linux, a system call on every request of the server (docs/benchmarks.md).
    private static string NewId()
    {
        Span<byte> bytes = stackalloc byte[16];
        Random.Shared.NextBytes(bytes);
        return Convert.ToHexStringLower(bytes);
    }

    public static IApplicationBuilder UseCorrelation(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        var id = Get(context);
        context.Response.Headers[Header] = id;
        var logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("OpenCM.Request");
        using (logger.BeginScope(new Dictionary<string, object> { ["CorrelationId"] = id }))
        {
            await next(context).ConfigureAwait(false);
        }
    });
}

/// <summary>Turns exceptions into problem details; unexpected ones become a 500 that reveals nothing but the correlation id.</summary>
internal static class ErrorHandling
{
    public static IApplicationBuilder UseOpenCmErrors(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        try
        {
            await next(context).ConfigureAwait(false);
        }
        catch (Exception ex) when (!context.Response.HasStarted)
        {
            var error = ex switch
            {
                OpenCmException e => e.Error,
                BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge } =>
                    new DomainError(ErrorKind.PayloadTooLarge, "The request body is too large."),
                BadHttpRequestException b => new DomainError(ErrorKind.ValidationFailed, b.Message),
                OperationCanceledException when context.RequestAborted.IsCancellationRequested => null,

                // A database that cannot be reached arrives typed: the storage provider raises Unavailable.
                _ => null,
            };
            if (error is { Kind: ErrorKind.Unavailable })
            {
                // An outage, not a bug: one line without the stack; the node recovers by itself when the database returns.
                context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("OpenCM.Storage")
                    .LogWarning("Database unavailable ({Reason}); correlation id {CorrelationId}", ex.GetBaseException().Message, Correlation.Get(context));
            }

            if (error is null && context.RequestAborted.IsCancellationRequested)
            {
                return;
            }

            if (error is null or { Kind: ErrorKind.Internal })
            {
                var logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("OpenCM.Errors");
                logger.LogError(ex, "Unhandled error; correlation id {CorrelationId}", Correlation.Get(context));
                error = new DomainError(ErrorKind.Internal, $"An internal error occurred. Quote correlation id {Correlation.Get(context)} to the administrator.");
            }

            context.Response.Clear();
            context.Response.Headers[Correlation.Header] = Correlation.Get(context);
            await Problems.WriteAsync(context, error).ConfigureAwait(false);
        }
    });
}
