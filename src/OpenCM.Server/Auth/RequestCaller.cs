using OpenCM.Application;

namespace OpenCM.Server;

/// <summary>
/// The caller of an HTTP request, resolved once (issue #17.5): the API's endpoints, the portal's
/// pages and the use cases' rate limits read the same <see cref="Caller"/>, from whichever
/// authentication the request came with (a bearer token, a portal session) through the one chain
/// of caller sources (<see cref="CallerResolver"/>).
/// </summary>
internal static class RequestCaller
{
    private static readonly object Key = new();

    /// <summary>The request's caller: resolved on first use from <see cref="HttpContext.User"/>, the same answer after.</summary>
    public static Task<Caller> ResolveAsync(this CallerResolver resolver, HttpContext http, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(resolver);
        ArgumentNullException.ThrowIfNull(http);
        if (http.Items.TryGetValue(Key, out var known) && known is Task<Caller> resolved)
        {
            return resolved;
        }

        // The request's own cancellation, not the first reader's: the answer is shared by every later one.
        var task = resolver.ResolveAsync(http.User, http.RequestAborted);
        http.Items[Key] = task;
        return task;
    }

    /// <summary>The request's caller (<see cref="ResolveAsync"/>), with the resolver of the request's services.</summary>
    public static Task<Caller> CallerAsync(this HttpContext http)
    {
        ArgumentNullException.ThrowIfNull(http);
        return http.RequestServices.GetRequiredService<CallerResolver>().ResolveAsync(http);
    }

    /// <summary>The caller already resolved for this request (by the API's endpoint filter).</summary>
    public static Caller ResolvedCaller(this HttpContext http)
    {
        ArgumentNullException.ThrowIfNull(http);
        return http.Items.TryGetValue(Key, out var known) && known is Task<Caller> { IsCompletedSuccessfully: true } resolved
            ? resolved.Result
            : throw new InvalidOperationException("The caller was not resolved for this request.");
    }
}
