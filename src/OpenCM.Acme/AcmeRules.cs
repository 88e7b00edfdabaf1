using OpenCM.Application;

namespace OpenCM.Acme;

/// <summary>
/// The status rules of RFC 8555 §7.1.6 as pure functions of what is stored and the time (after
/// boulder's sa/model.go statusForOrder): an object's status is derived on every read, so an
/// expiry needs no sweeper and every node agrees.
/// </summary>
public static class AcmeRules
{
    /// <summary>An authorization's status now: a pending or valid one past its expiry is expired (§7.1.6).</summary>
    public static AcmeStatus AuthorizationStatus(AcmeAuthorization authorization, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(authorization);
        return authorization.Status is AcmeStatus.Pending or AcmeStatus.Valid && now >= authorization.Expires ? AcmeStatus.Expired : authorization.Status;
    }

    /// <summary>
    /// An order's status now, from its own state and its authorizations' (statusForOrder):
    /// an error or a final status stays; past its expiry, or with an authorization that failed,
    /// expired or was deactivated, it is invalid; with one still pending, pending; all valid and
    /// finalize under way (a request exists), processing; all valid, ready.
    /// </summary>
    public static AcmeStatus OrderStatus(AcmeOrder order, IReadOnlyList<AcmeAuthorization> authorizations, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(order);
        ArgumentNullException.ThrowIfNull(authorizations);
        if (order.Error is not null || order.Status is AcmeStatus.Invalid)
        {
            return AcmeStatus.Invalid;
        }

        if (order.Status == AcmeStatus.Valid || order.CertificateSerial is not null)
        {
            return AcmeStatus.Valid;
        }

        if (order.Status == AcmeStatus.Processing)
        {
            // Issuance under way is not cut short by the order's expiry: the approvers' answer decides.
            return AcmeStatus.Processing;
        }

        if (now >= order.Expires)
        {
            return AcmeStatus.Invalid;
        }

        var statuses = authorizations.Select(a => AuthorizationStatus(a, now)).ToList();
        if (statuses.Count == 0 || statuses.Count != order.AuthorizationIds.Count)
        {
            return AcmeStatus.Invalid; // an order without its authorizations cannot become ready
        }

        if (statuses.Any(s => s is AcmeStatus.Invalid or AcmeStatus.Expired or AcmeStatus.Deactivated or AcmeStatus.Revoked))
        {
            return AcmeStatus.Invalid;
        }

        return statuses.Any(s => s == AcmeStatus.Pending) ? AcmeStatus.Pending : AcmeStatus.Ready;
    }

    /// <summary>Whether a client may ask for the validation of <paramref name="challenge"/> now: it and its authorization are pending (§7.5.1).</summary>
    public static bool MayRespond(AcmeAuthorization authorization, AcmeChallengeState challenge, DateTimeOffset now) =>
        AuthorizationStatus(authorization, now) == AcmeStatus.Pending && challenge.Status == AcmeStatus.Pending;

    /// <summary>The authorization after its challenge <paramref name="type"/> was validated: the challenge and the authorization valid, or both invalid with the error (§7.1.6).</summary>
    public static AcmeAuthorization AfterValidation(AcmeAuthorization authorization, string type, ChallengeCheck check, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(authorization);
        ArgumentNullException.ThrowIfNull(check);
        var challenges = authorization.Challenges.Select(c => c.Type != type ? c
            : check.Valid ? c with { Status = AcmeStatus.Valid, Validated = now, Error = null }
            : c with { Status = AcmeStatus.Invalid, Error = new AcmeStoredError(check.ProblemType ?? AcmeErrors.Urn + AcmeErrors.Unauthorized, check.Detail ?? "The challenge was not met.") }).ToList();
        return authorization with { Status = check.Valid ? AcmeStatus.Valid : AcmeStatus.Invalid, Challenges = challenges };
    }

    /// <summary>Whether a client may deactivate the authorization (§7.5.2: pending or valid).</summary>
    public static bool MayDeactivate(AcmeAuthorization authorization, DateTimeOffset now) =>
        AuthorizationStatus(authorization, now) is AcmeStatus.Pending or AcmeStatus.Valid;

    /// <summary>The wire name of a status: lower case (§7.1.6).</summary>
    public static string Name(AcmeStatus status) => status switch
    {
        AcmeStatus.Pending => "pending",
        AcmeStatus.Ready => "ready",
        AcmeStatus.Processing => "processing",
        AcmeStatus.Valid => "valid",
        AcmeStatus.Invalid => "invalid",
        AcmeStatus.Deactivated => "deactivated",
        AcmeStatus.Revoked => "revoked",
        AcmeStatus.Expired => "expired",
        _ => throw new ArgumentOutOfRangeException(nameof(status)),
    };
}
