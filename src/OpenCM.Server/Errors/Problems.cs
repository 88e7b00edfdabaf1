using System.Text.Json;
using OpenCM.Contracts;
using OpenCM.Domain;

namespace OpenCM.Server.Errors;

/// <summary>
/// Answers a <see cref="DomainError"/> over HTTP: the status from <see cref="ErrorMapping"/> (the
/// one place kinds become statuses), the headers that status calls for, and the body in the
/// format of the front-end the request came to. Each front-end has one problem writer over the
/// one <see cref="ErrorKind"/> set: the portal's pages, and the API's problem JSON for everything
/// else; EST's text under /.well-known/est/ (issue #24); ACME's RFC 8555 problem documents under /acme.
/// </summary>
internal static class Problems
{
    // The first writer that answers the request writes its body; the API's answers every request.
    private static readonly IProblemWriter[] Writers = [Endpoints.EstProblems.Instance, Endpoints.ScepProblems.Instance, AcmeProblems.Instance, Portal.PortalProblems.Instance, ApiProblems.Instance];

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

        if (status == StatusCodes.Status429TooManyRequests)
        {
            // Whichever limit refused (a use case's budget, the sign-in limit), the one place that says when to come back.
            var seconds = Math.Max(1, (int)Math.Ceiling((error.RetryAfter ?? TimeSpan.FromMinutes(1)).TotalSeconds));
            context.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
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

/// <summary>ACME's problem documents under /acme (RFC 8555 §6.7; issue #24.5): the type from the one ErrorKind mapping in OpenCM.Acme.</summary>
internal sealed class AcmeProblems : IProblemWriter
{
    public static readonly AcmeProblems Instance = new();

    public bool Answers(HttpContext context) => OpenCM.Acme.AcmeEndpoints.Answers(context);

    public Task WriteAsync(HttpContext context, DomainError error, int status) => OpenCM.Acme.AcmeEndpoints.WriteProblemAsync(context, error, status);
}

/// <summary>The API's problem JSON (RFC 9457 with OpenCM's members): one <see cref="ProblemDto"/>, serialized by the generated context.</summary>
internal sealed class ApiProblems : IProblemWriter
{
    public static readonly ApiProblems Instance = new();

    public static ProblemDto Body(HttpContext context, DomainError error, int status) =>
        new($"https://opencm.dev/errors/{error.Code}", ErrorMapping.Title(error.Kind), status, error.Detail, error.Code, Correlation.Echo(context))
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
/// Every request gets a correlation id of the server's own making: the one its log lines and its
/// audit events carry (<see cref="Get"/>). The caller's <c>X-Correlation-Id</c>, when it is a sane
/// token (<see cref="OpenCM.Application.CorrelationIds.IsSaneClientValue"/>; anything else is dropped), is kept beside
/// it, never in its place (issue #18): the audit stores it in a column of its own, and the
/// response header and error bodies echo it as before (<see cref="Echo"/>), so a client finds its
/// own id where it always did.
/// </summary>
internal static class Correlation
{
    public const string Header = "X-Correlation-Id";
    private const string Key = "opencm.correlation";
    private const string ClientKey = "opencm.correlation.client";

    /// <summary>The server's own correlation id of the request.</summary>
    public static string Get(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Items.TryGetValue(Key, out var existing) && existing is string s)
        {
            return s;
        }

        var id = NewId();
        context.Items[Key] = id;
        return id;
    }

    /// <summary>The caller's <c>X-Correlation-Id</c> when it is a sane token; otherwise null (dropped).</summary>
    public static string? Client(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Items.TryGetValue(ClientKey, out var existing))
        {
            return existing as string;
        }

        var given = context.Request.Headers[Header].ToString();
        var client = OpenCM.Application.CorrelationIds.IsSaneClientValue(given) ? given : null;
        context.Items[ClientKey] = client;
        return client;
    }

    /// <summary>What the response header and error bodies carry: the caller's id when it sent a sane one, else the server's.</summary>
    public static string Echo(HttpContext context) => Client(context) ?? Get(context);

    /// <summary>What use cases are given to audit: the server's id, with the caller's beside it (<see cref="OpenCM.Application.CorrelationIds"/>).</summary>
    public static string ForAudit(HttpContext context) => OpenCM.Application.CorrelationIds.WithClient(Get(context), Client(context));

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
        context.Response.Headers[Header] = Echo(context);
        var logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("OpenCM.Request");
        using (logger.BeginScope(new CorrelationScope(id, Client(context))))
        {
            await next(context).ConfigureAwait(false);
        }
    });
}

/// <summary>
/// The logging scope of a request: its correlation ids as properties (JSON logs write each one) and
/// as text ("CorrelationId:…", where a formatter writes a scope's text, not a type name; issue #21.6).
/// </summary>
internal sealed class CorrelationScope(string id, string? client) : IReadOnlyList<KeyValuePair<string, object>>
{
    private readonly KeyValuePair<string, object>[] _items = client is null
        ? [new("CorrelationId", id)]
        : [new("CorrelationId", id), new("ClientCorrelationId", client)];

    public int Count => _items.Length;

    public KeyValuePair<string, object> this[int index] => _items[index];

    public IEnumerator<KeyValuePair<string, object>> GetEnumerator() => ((IEnumerable<KeyValuePair<string, object>>)_items).GetEnumerator();

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString() => string.Join(" ", _items.Select(i => $"{i.Key}:{i.Value}"));
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

                // A database that cannot be reached arrives typed: the storage provider raises
                // Unavailable where it opens, reads or writes, and every store reads through it
                // (issue #17); the edge asks no provider.
                _ => null,
            };
            if (error is { Kind: ErrorKind.Unavailable })
            {
                // An outage, not a bug: one line without the stack; the node recovers by itself when the database returns.
                context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("OpenCM.Storage")
                    .LogWarning("Database unavailable ({Reason}); correlation id {CorrelationId}", ex.GetBaseException().Message, Correlation.ForAudit(context));
            }

            if (error is null && context.RequestAborted.IsCancellationRequested)
            {
                return;
            }

            if (error is null or { Kind: ErrorKind.Internal })
            {
                var logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("OpenCM.Errors");
                logger.LogError(ex, "Unhandled error; correlation id {CorrelationId}", Correlation.ForAudit(context));
                error = new DomainError(ErrorKind.Internal, $"An internal error occurred. Quote correlation id {Correlation.Echo(context)} to the administrator.");
            }

            context.Response.Clear();
            context.Response.Headers[Correlation.Header] = Correlation.Echo(context);
            await Problems.WriteAsync(context, error).ConfigureAwait(false);
        }
    });
}
