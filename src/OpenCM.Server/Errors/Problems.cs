using System.Text.Json;
using OpenCM.Domain;

namespace OpenCM.Server.Errors;

/// <summary>Writes RFC 9457 problem details with the stable <c>errorCode</c> and the <c>correlationId</c> (SPEC §9).</summary>
internal static class Problems
{
    private static readonly JsonSerializerOptions Json = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static Task WriteAsync(HttpContext context, DomainError error)
    {
        ArgumentNullException.ThrowIfNull(context);
        var status = ErrorMapping.StatusCode(error.Kind);
        var body = new Dictionary<string, object?>
        {
            ["type"] = $"https://opencm.dev/errors/{error.Code}",
            ["title"] = ErrorMapping.Title(error.Kind),
            ["status"] = status,
            ["detail"] = error.Detail,
            ["errorCode"] = error.Code,
            ["correlationId"] = Correlation.Get(context),
        };
        if (error.Field is not null)
        {
            body["field"] = error.Field;
        }

        if (error.CurrentStatus is { } current)
        {
            body["currentStatus"] = (int)current;
        }

        context.Response.StatusCode = status;
        if (status == StatusCodes.Status401Unauthorized)
        {
            context.Response.Headers.WWWAuthenticate = "Bearer";
        }

        if (status == StatusCodes.Status503ServiceUnavailable)
        {
            // Long enough for a database failover to finish, short enough not to strand clients.
            context.Response.Headers.RetryAfter = "5";
        }

        if (WantsPage(context))
        {
            return WritePageAsync(context, error, status);
        }

        context.Response.ContentType = "application/problem+json; charset=utf-8";
        var bytes = JsonSerializer.SerializeToUtf8Bytes(body, Json);
        context.Response.ContentLength = bytes.Length;
        return context.Response.Body.WriteAsync(bytes).AsTask();
    }

    // A browser on a portal page gets the same error as a page; API clients always get problem JSON.
    private static bool WantsPage(HttpContext context)
    {
        var root = context.RequestServices.GetService<Hosting.ApiOptions>()?.PathBase.TrimEnd('/') ?? "/CertificateManagement";
        var path = context.Request.Path.Value ?? "";
        return path.StartsWith(root + "/", StringComparison.OrdinalIgnoreCase)
            && !path.StartsWith(root + Endpoints.ApiPaths.Version, StringComparison.OrdinalIgnoreCase)
            && !path.StartsWith(root + "/crl/", StringComparison.OrdinalIgnoreCase)
            && !path.StartsWith(root + "/ca/", StringComparison.OrdinalIgnoreCase)
            && context.Request.Headers.Accept.ToString().Contains("text/html", StringComparison.OrdinalIgnoreCase);
    }

    private static Task WritePageAsync(HttpContext context, DomainError error, int status)
    {
        var root = System.Net.WebUtility.HtmlEncode(context.RequestServices.GetService<Hosting.ApiOptions>()?.PathBase.TrimEnd('/') ?? "/CertificateManagement");
        var title = System.Net.WebUtility.HtmlEncode(ErrorMapping.Title(error.Kind));
        var detail = System.Net.WebUtility.HtmlEncode(error.Detail);
        var html = $"""
            <!DOCTYPE html>
            <html lang="en">
            <head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{title} · OpenCM</title><link rel="stylesheet" href="{root}/static/portal.css"></head>
            <body><main id="main"><h1>{title}</h1><p role="alert">{detail}</p><p>Reference: <code>{System.Net.WebUtility.HtmlEncode(Correlation.Get(context))}</code></p><p><a href="{root}/">Back to the portal</a></p></main></body>
            </html>
            """;
        context.Response.ContentType = "text/html; charset=utf-8";
        var bytes = System.Text.Encoding.UTF8.GetBytes(html);
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
