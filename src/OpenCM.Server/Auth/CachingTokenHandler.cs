using Microsoft.Extensions.Caching.Memory;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace OpenCM.Server.Auth;

/// <summary>
/// Validates each distinct token once and remembers the result until the token expires.
/// Checking an ES256 or RS256 signature costs far more than the rest of a typical API call
/// (docs/benchmarks.md), and a client sends the same token many times. A hit requires the very
/// same token string, and its expiry (plus the allowed clock skew) is checked again against the
/// injected clock on every hit; invalid tokens are never remembered. The cache is bounded.
/// </summary>
internal sealed class CachingTokenHandler : JsonWebTokenHandler, IDisposable
{
    private readonly TimeProvider _clock;
    private readonly MemoryCache _cache;

    public CachingTokenHandler(TimeProvider clock, int capacity)
    {
        _clock = clock;
        _cache = new MemoryCache(new MemoryCacheOptions { SizeLimit = capacity });
    }

    public override async Task<TokenValidationResult> ValidateTokenAsync(string token, TokenValidationParameters validationParameters)
    {
        ArgumentNullException.ThrowIfNull(validationParameters);
        var now = _clock.GetUtcNow().UtcDateTime;
        if (_cache.TryGetValue(token, out Entry? hit) && hit is not null && now <= hit.ValidUntil)
        {
            // Each request gets its own identity object, so nothing one request does can leak into another.
            return new TokenValidationResult
            {
                IsValid = true,
                ClaimsIdentity = hit.Result.ClaimsIdentity.Clone(),
                SecurityToken = hit.Result.SecurityToken,
                Issuer = hit.Result.Issuer,
                TokenType = hit.Result.TokenType,
            };
        }

        var result = await base.ValidateTokenAsync(token, validationParameters).ConfigureAwait(false);

        // RFC 7515 §4.1.11: a token whose "crit" names extensions the recipient does not
        // understand is invalid. OpenCM understands none.
        if (result.IsValid && result.SecurityToken is JsonWebToken critical && critical.TryGetHeaderValue<object>("crit", out _))
        {
            return new TokenValidationResult { IsValid = false, Exception = new SecurityTokenValidationException("The token names critical header parameters (crit) this server does not understand.") };
        }

        if (result.IsValid && result.SecurityToken is JsonWebToken jwt && jwt.ValidTo > DateTime.MinValue)
        {
            var validUntil = jwt.ValidTo + validationParameters.ClockSkew;
            _cache.Set(token, new Entry(result, validUntil), new MemoryCacheEntryOptions
            {
                Size = 1,
                AbsoluteExpirationRelativeToNow = validUntil > now ? validUntil - now : TimeSpan.FromSeconds(1),
            });
        }

        return result;
    }

    public void Dispose() => _cache.Dispose();

    private sealed record Entry(TokenValidationResult Result, DateTime ValidUntil);
}
