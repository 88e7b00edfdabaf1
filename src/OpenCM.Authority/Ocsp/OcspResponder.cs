using System.Collections.Concurrent;
using OpenCM.Application;
using OpenCM.Domain;

namespace OpenCM.Authority.Ocsp;

/// <summary>What to send back: the OCSPResponse and, for a successful one, its times (for HTTP caching, RFC 5019 §6.2).</summary>
public sealed record OcspAnswer(byte[] Der, OcspResponseStatus Status, DateTimeOffset? ProducedAt = null, DateTimeOffset? NextUpdate = null, bool HasNonce = false);

/// <summary>
/// The OCSP responder (RFC 6960) for the CAs it is given. Statuses are cached per (issuer, serial)
/// and asked of the store again at most once per <see cref="RecheckInterval"/> (another node's
/// revocation) or at once after <see cref="Invalidate"/> (a revocation published here), as the
/// CRL publisher does; a nonce-less single-CertID request, the RFC 5019 profile caches and CDNs
/// repeat, gets a response signed once and served until the status changes or half its validity
/// has passed. A request with a nonce is signed for itself (its nonce is in what is signed).
/// </summary>
public sealed class OcspResponder : IDisposable
{
    /// <summary>How long a cached status is served without asking the store again.</summary>
    public static readonly TimeSpan RecheckInterval = TimeSpan.FromSeconds(1);

    private readonly Func<IReadOnlyList<OcspIssuer>> _issuers;
    private readonly IReadOnlyList<OcspIssuer>? _owned;
    private readonly TimeProvider _clock;
    private readonly OcspOptions _options;
    private readonly TimeSpan _validity;
    private readonly ConcurrentDictionary<(OcspIssuer Issuer, string Serial), CachedStatus> _statuses = new();
    private readonly ConcurrentDictionary<string, SignedResponse> _signed = new(StringComparer.Ordinal);
    private long _generation;

    /// <summary>A responder for <paramref name="issuers"/>, which it owns (disposes).</summary>
    public OcspResponder(IReadOnlyList<OcspIssuer> issuers, TimeProvider clock, OcspOptions options)
        : this(() => issuers, clock, options)
    {
        _owned = issuers;
    }

    /// <summary>A responder for every CA <paramref name="authorities"/> holds, as it holds them now (they own their issuers; issue #20.1).</summary>
    public OcspResponder(CertificateAuthorities authorities, TimeProvider clock, OcspOptions options)
        : this(() => (authorities ?? throw new ArgumentNullException(nameof(authorities))).Ocsp, clock, options)
    {
    }

    private OcspResponder(Func<IReadOnlyList<OcspIssuer>> issuers, TimeProvider clock, OcspOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _issuers = issuers;
        _clock = clock;
        _options = options;
        _validity = TimeSpan.FromMinutes(Math.Max(1, options.ValidityMinutes));
    }

    /// <summary>The settings the responder runs with (the HTTP route reads its size bound).</summary>
    public OcspOptions Options => _options;

    /// <summary>A revocation was recorded: every cached status is asked of the store again before it is served.</summary>
    public void Invalidate() => Interlocked.Increment(ref _generation);

    public void Dispose()
    {
        foreach (var issuer in _owned ?? [])
        {
            issuer.Dispose();
        }
    }

    /// <summary>Answers the DER OCSPRequest <paramref name="request"/>; every input gets an OCSPResponse.</summary>
    public async Task<OcspAnswer> RespondAsync(ReadOnlyMemory<byte> request, CancellationToken ct)
    {
        var (parsed, status) = request.Length > _options.MaxRequestBytes
            ? (null, OcspResponseStatus.MalformedRequest)
            : OcspRequestReader.Read(request, Math.Max(1, _options.MaxRequests));
        if (parsed is null)
        {
            return Failed(status);
        }

        // One signature covers the whole response, so every CertID must be of one CA this server
        // holds; otherwise the responder is not authoritative for the request (RFC 6960 §2.3).
        var issuer = _issuers().FirstOrDefault(i => i.Issued(parsed.CertIds[0]));
        if (issuer is null || !parsed.CertIds.All(issuer.Issued))
        {
            return Failed(OcspResponseStatus.Unauthorized);
        }

        try
        {
            var now = _clock.GetUtcNow();
            var generation = Interlocked.Read(ref _generation);
            var cacheable = parsed.Nonce is null && parsed.CertIds.Count == 1;
            var answers = new List<OcspSingleAnswer>(parsed.CertIds.Count);
            var statuses = new List<SerialStatus?>(parsed.CertIds.Count);
            foreach (var id in parsed.CertIds)
            {
                var found = await StatusAsync(issuer, id.SerialHex, now, generation, ct).ConfigureAwait(false);
                statuses.Add(found);
                answers.Add(Answer(id, found));
            }

            var key = cacheable ? Convert.ToHexString(parsed.CertIds[0].Encoded.Span) : null;
            if (key is not null && _signed.TryGetValue(key, out var signed) && signed.Found == statuses[0] && now >= signed.ProducedAt && now < signed.ProducedAt + (_validity / 2))
            {
                return new OcspAnswer(signed.Der, OcspResponseStatus.Successful, signed.ProducedAt, signed.NextUpdate);
            }

            var signingKey = issuer.SigningKey(now, _options);
            var nextUpdate = now + _validity;
            var der = OcspResponseWriter.Successful(signingKey, answers, now, nextUpdate, parsed.Nonce);
            if (key is not null)
            {
                Bound(_signed);
                _signed[key] = new SignedResponse(statuses[0], der, now, nextUpdate);
            }

            return new OcspAnswer(der, OcspResponseStatus.Successful, now, nextUpdate, parsed.Nonce is not null);
        }
        catch (OpenCmException e) when (e.Error.Kind == ErrorKind.Unavailable)
        {
            // The store cannot be reached now: the client may ask again (§2.3 tryLater), rather than a 503 it may not read.
            return Failed(OcspResponseStatus.TryLater);
        }
    }

    private async Task<SerialStatus?> StatusAsync(OcspIssuer issuer, string serialHex, DateTimeOffset now, long generation, CancellationToken ct)
    {
        if (_statuses.TryGetValue((issuer, serialHex), out var cached) && cached.Generation == generation && now >= cached.CheckedAt && now < cached.CheckedAt + RecheckInterval)
        {
            return cached.Found;
        }

        var found = await issuer.LookupAsync(serialHex, ct).ConfigureAwait(false);

        // Stored under the generation read before the store was asked: a revocation published
        // meanwhile makes this entry stale at once, rather than serving the older status for a second.
        Bound(_statuses);
        _statuses[(issuer, serialHex)] = new CachedStatus(found, now, generation);
        return found;
    }

    // Bounded memory under a flood of distinct serials: past the cap the cache starts over, which
    // costs one store read per serial asked again, never unbounded growth.
    private void Bound<TKey, TValue>(ConcurrentDictionary<TKey, TValue> cache)
        where TKey : notnull
    {
        if (cache.Count >= Math.Max(1, _options.CacheEntries))
        {
            cache.Clear();
        }
    }

    /// <summary>
    /// certStatus from the store (RFC 6960 §2.2). Never issued by this CA: unknown. Revoked (with
    /// its time and reason) while revoked_at is set. Anything else recorded is good, a Reserved
    /// serial included: it is recorded before the CA signs it, so a client holding a certificate
    /// with it holds one this CA signed in the moment before the store said so, and "good" is
    /// what §2.2 means (not revoked); were the request undone, the serial is revoked with it.
    /// </summary>
    private static OcspSingleAnswer Answer(OcspCertId id, SerialStatus? found) => found switch
    {
        null => new OcspSingleAnswer(id, OcspCertStatus.Unknown),
        { RevokedAt: { } at } => new OcspSingleAnswer(id, OcspCertStatus.Revoked, at, found.Reason),
        _ => new OcspSingleAnswer(id, OcspCertStatus.Good),
    };

    private static OcspAnswer Failed(OcspResponseStatus status) => new(OcspResponseWriter.Status(status), status);

    private sealed record CachedStatus(SerialStatus? Found, DateTimeOffset CheckedAt, long Generation);

    private sealed record SignedResponse(SerialStatus? Found, byte[] Der, DateTimeOffset ProducedAt, DateTimeOffset NextUpdate);
}
