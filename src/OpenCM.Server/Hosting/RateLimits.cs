using System.Threading.RateLimiting;
using Microsoft.AspNetCore.RateLimiting;
using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.Server.Errors;

namespace OpenCM.Server.Hosting;

/// <summary>Rate limits (configuration section <c>RateLimits</c>).</summary>
public sealed class RateLimitOptions
{
    /// <summary>The configuration section it is bound from (docs/configuration.md lists its keys).</summary>
    public const string Section = "RateLimits";

    public bool Enabled { get; set; } = true;

    /// <summary>Expensive calls (request creation, certificate data with its key generation and signing) one user may make at once, through the API and the portal together.</summary>
    public int ExpensiveBurst { get; set; } = 60;

    /// <summary>How many of them each user gets back per minute.</summary>
    public int ExpensivePerMinute { get; set; } = 60;

    /// <summary>Cheap writes (binding a smart card, votes) one user may make at once.</summary>
    public int WriteBurst { get; set; } = 120;

    /// <summary>How many of them each user gets back per minute.</summary>
    public int WritePerMinute { get; set; } = 120;

    /// <summary>Portal sign-in attempts one address may make per minute (password guessing).</summary>
    public int SignInPerMinute { get; set; } = 10;
}

/// <summary>
/// Per-user budgets at the use cases' entry (issue #7.8, #18.4): a token bucket per resolved
/// caller (user GUID) and kind of cost, so the API and the portal, which call the same use
/// cases, draw from one bucket. A refusal is RateLimited with when to come back; the problem
/// writer turns it into a 429 with Retry-After.
/// </summary>
internal sealed class TokenBucketBudget : ICallerBudget, IDisposable
{
    private readonly PartitionedRateLimiter<(Guid User, CallerCost Cost)> _limiter;
    private readonly Application.Telemetry.OpenCmMetrics? _metrics;

    public TokenBucketBudget(RateLimitOptions options, Application.Telemetry.OpenCmMetrics? metrics = null)
    {
        _metrics = metrics;
        _limiter = PartitionedRateLimiter.Create<(Guid User, CallerCost Cost), (Guid, CallerCost)>(key =>
        {
            if (!options.Enabled)
            {
                return RateLimitPartition.GetNoLimiter(key);
            }

            var (burst, perMinute) = key.Cost == CallerCost.Expensive
                ? (options.ExpensiveBurst, options.ExpensivePerMinute)
                : (options.WriteBurst, options.WritePerMinute);
            return RateLimitPartition.GetTokenBucketLimiter(key, _ => new TokenBucketRateLimiterOptions
            {
                TokenLimit = Math.Max(1, burst),
                TokensPerPeriod = Math.Max(1, perMinute),
                ReplenishmentPeriod = TimeSpan.FromMinutes(1),
                QueueLimit = 0,
                AutoReplenishment = true,
            });
        });
    }

    public void Spend(Caller caller, CallerCost cost)
    {
        ArgumentNullException.ThrowIfNull(caller);
        using var lease = _limiter.AttemptAcquire((caller.UserUuid, cost));
        if (!lease.IsAcquired)
        {
            _metrics?.RateLimited(cost == CallerCost.Expensive ? "expensive" : "write");
            throw new OpenCmException(new DomainError(ErrorKind.RateLimited, "You have made too many requests of this kind; wait before trying again.")
            {
                RetryAfter = lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? retryAfter : null,
            });
        }
    }

    public void Dispose() => _limiter.Dispose();
}

/// <summary>The limit that stays at the HTTP edge: sign-in attempts per client address (there is no caller yet).</summary>
internal static class RateLimits
{
    public const string SignIn = "signin";

    public static IServiceCollection AddOpenCmRateLimits(this IServiceCollection services)
    {
        services.AddSingleton<TokenBucketBudget>();
        services.AddSingleton<ICallerBudget>(sp => sp.GetRequiredService<TokenBucketBudget>());
        services.AddRateLimiter(o =>
        {
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
                context.HttpContext.RequestServices.GetService<Application.Telemetry.OpenCmMetrics>()?.RateLimited(SignIn);
                await Problems.WriteAsync(context.HttpContext, new DomainError(ErrorKind.RateLimited, "You have made too many requests of this kind; wait before trying again.")
                {
                    RetryAfter = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? retryAfter : null,
                }).ConfigureAwait(false);
            };
        });
        return services;
    }
}
