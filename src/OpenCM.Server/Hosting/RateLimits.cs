using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.RateLimiting;
using OpenCM.Domain;
using OpenCM.Server.Errors;

namespace OpenCM.Server.Hosting;

/// <summary>Rate limits (configuration section <c>RateLimits</c>).</summary>
public sealed class RateLimitOptions
{
    public bool Enabled { get; set; } = true;

    /// <summary>Expensive calls (request creation, certificate data with its key generation and signing) one user may make at once.</summary>
    public int ExpensiveBurst { get; set; } = 60;

    /// <summary>How many of them each user gets back per minute.</summary>
    public int ExpensivePerMinute { get; set; } = 60;

    /// <summary>Portal sign-in attempts one address may make per minute (password guessing).</summary>
    public int SignInPerMinute { get; set; } = 10;
}

/// <summary>
/// Per-user limits on the routes that cost the server real work (issue #7.8), with ASP.NET
/// Core's rate limiter: a token bucket per caller (the token's subject; the address for a call
/// without one), refused as 429 problems with Retry-After.
/// </summary>
internal static class RateLimits
{
    public const string Expensive = "expensive";
    public const string SignIn = "signin";

    public static IServiceCollection AddOpenCmRateLimits(this IServiceCollection services)
    {
        services.AddRateLimiter(o =>
        {
            o.AddPolicy(Expensive, http =>
            {
                var options = http.RequestServices.GetRequiredService<RateLimitOptions>();
                if (!options.Enabled)
                {
                    return RateLimitPartition.GetNoLimiter("off");
                }

                return RateLimitPartition.GetTokenBucketLimiter(CallerKey(http), _ => new TokenBucketRateLimiterOptions
                {
                    TokenLimit = Math.Max(1, options.ExpensiveBurst),
                    TokensPerPeriod = Math.Max(1, options.ExpensivePerMinute),
                    ReplenishmentPeriod = TimeSpan.FromMinutes(1),
                    QueueLimit = 0,
                    AutoReplenishment = true,
                });
            });
            // Sign-in attempts per address, whatever the name tried: guessing costs a minute per ten.
            o.AddPolicy(SignIn, http =>
            {
                var options = http.RequestServices.GetRequiredService<RateLimitOptions>();
                return !options.Enabled || !HttpMethods.IsPost(http.Request.Method)
                    ? RateLimitPartition.GetNoLimiter("off")
                    : RateLimitPartition.GetFixedWindowLimiter("address:" + http.Connection.RemoteIpAddress, _ => new FixedWindowRateLimiterOptions
                    {
                        PermitLimit = Math.Max(1, options.SignInPerMinute),
                        Window = TimeSpan.FromMinutes(1),
                        QueueLimit = 0,
                    });
            });
            o.OnRejected = async (context, ct) =>
            {
                if (context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter))
                {
                    context.HttpContext.Response.Headers.RetryAfter = ((int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
                }

                await Problems.WriteAsync(context.HttpContext, new DomainError(ErrorKind.RateLimited,
                    "You have made too many requests of this kind; wait before trying again.")).ConfigureAwait(false);
            };
        });
        return services;
    }

    // The caller's user GUID, read as the caller resolver reads it (one user, whichever claim form
    // its tokens carry, is one bucket); the remote address for a call without one.
    private static string CallerKey(HttpContext http) =>
        CallerResolver.UserUuid(http.User) is { } user ? "user:" + user.ToString("D") : "address:" + http.Connection.RemoteIpAddress;
}
