namespace OpenCM.Domain;

/// <summary>A change of an existing profile that a request's transition makes, with what happens to its certificates.</summary>
/// <param name="RevocationReason">RFC 5280 reason code for revoking the profile's certificates, or null to leave them.</param>
/// <param name="ReleaseHolds">Whether certificates on hold (reason certificateHold) become current again.</param>
public sealed record ProfileTransition(Guid Profile, ProfileStatus From, ProfileStatus To, int? RevocationReason, bool ReleaseHolds = false);

/// <summary>Rules for request types that act on an existing software profile (SPEC §4, issue #3).</summary>
public static class ProfileRules
{
    public const int Unspecified = 0;
    public const int Superseded = 4;
    public const int CessationOfOperation = 5;
    public const int CertificateHold = 6;

    /// <summary>RFC 5280 reason 8: a certificate taken off hold leaves the CRL (told to the CA as such).</summary>
    public const int RemoveFromCrl = 8;

    /// <summary>The data item a Revoke request may carry to say why (its policy decides whether it collects it).</summary>
    public const string RevocationReasonItem = "Revocation Reason";

    // RFC 5280 reason codes by the names operators use; 7 is unused and 8 (removeFromCRL) is not a reason to revoke.
    private static readonly Dictionary<string, int> Reasons = new(StringComparer.OrdinalIgnoreCase)
    {
        ["unspecified"] = 0,
        ["keyCompromise"] = 1,
        ["affiliationChanged"] = 3,
        ["superseded"] = 4,
        ["cessationOfOperation"] = 5,
        ["certificateHold"] = 6,
        ["privilegeWithdrawn"] = 9,
    };

    /// <summary>Which request types a profile's status allows.</summary>
    public static IReadOnlyList<RequestType> AllowedTypes(ProfileStatus status) => status switch
    {
        ProfileStatus.Active => [RequestType.OnlineUpdate, RequestType.Renew, RequestType.Duplicate, RequestType.Recover, RequestType.RecoverOnBehalf, RequestType.Revoke, RequestType.Retire],
        ProfileStatus.Suspended => [RequestType.Reinstate, RequestType.Retire],
        ProfileStatus.Disabled => [RequestType.Retire],
        _ => [],
    };

    /// <summary>
    /// Types the server executes by itself as soon as the request is Approved (no client step).
    /// Retiring a smart card waits for its client, which wipes the card and then says so with
    /// PUT /requests/{rid}/smartcards/{id} (update-smartcard-status); revoking or reinstating one
    /// needs no card at hand (a lost card is revoked).
    /// </summary>
    public static bool IsServerExecuted(RequestType type, bool onCard = false) =>
        type is RequestType.Revoke or RequestType.Reinstate || (type is RequestType.Retire && !onCard);

    /// <summary>The reason code a Revoke request's data names; unspecified when it names none (or an unknown one).</summary>
    public static int RevocationReason(IReadOnlyList<DataItem> data)
    {
        ArgumentNullException.ThrowIfNull(data);
        var value = data.FirstOrDefault(d => string.Equals(d.Name, RevocationReasonItem, StringComparison.OrdinalIgnoreCase))?.Value;
        return value is not null && Reasons.TryGetValue(value.Trim(), out var code) ? code : Unspecified;
    }

    /// <summary>Types OpenCM can execute on a software profile today; the rest are refused at creation.</summary>
    public static bool IsSupported(RequestType type) =>
        type is RequestType.Revoke or RequestType.Retire or RequestType.Renew or RequestType.Recover or RequestType.RecoverOnBehalf
            or RequestType.Reinstate or RequestType.Duplicate or RequestType.OnlineUpdate;

    /// <summary>
    /// Types that issue a new profile through certificate data, as Enroll does. A smart card's
    /// Recover is one: its replacement card gets new certificates, and the lost card's archived
    /// keys besides (key history).
    /// </summary>
    public static bool IssuesNewProfile(RequestType type, bool onCard = false) =>
        type is RequestType.Enroll or RequestType.Renew or RequestType.Duplicate or RequestType.OnlineUpdate
            || (type is RequestType.Recover or RequestType.TemporaryCards && onCard);

    /// <summary>Types whose execution returns the software profile's archived keys instead of issuing certificates.</summary>
    public static bool IsKeyRecovery(RequestType type, bool onCard = false) => type is RequestType.RecoverOnBehalf || (type is RequestType.Recover && !onCard);

    /// <summary>What completing a request of <paramref name="type"/> does to the profile it names.</summary>
    /// <param name="revocationReason">For Revoke: certificateHold suspends, anything else disables.</param>
    /// <param name="onCard">
    /// The profile is a smart card's: a Recover replaces the lost card, whose certificates are
    /// revoked; a temporary card puts the permanent card's certificates on hold while it is out.
    /// </param>
    public static ProfileTransition? OnCompletion(RequestType type, Guid oldProfile, ProfileStatus oldStatus, int revocationReason = Unspecified, bool onCard = false) => type switch
    {
        RequestType.Recover when onCard => new ProfileTransition(oldProfile, oldStatus, ProfileStatus.Disabled, revocationReason),
        RequestType.TemporaryCards when onCard => new ProfileTransition(oldProfile, oldStatus, ProfileStatus.Suspended, CertificateHold),
        RequestType.Revoke when revocationReason == CertificateHold => new ProfileTransition(oldProfile, oldStatus, ProfileStatus.Suspended, CertificateHold),
        RequestType.Revoke => new ProfileTransition(oldProfile, oldStatus, ProfileStatus.Disabled, revocationReason),
        RequestType.Reinstate => new ProfileTransition(oldProfile, oldStatus, ProfileStatus.Active, null, ReleaseHolds: true),
        RequestType.Retire => new ProfileTransition(oldProfile, oldStatus, ProfileStatus.Retired, CessationOfOperation),
        RequestType.Renew or RequestType.OnlineUpdate => new ProfileTransition(oldProfile, oldStatus, ProfileStatus.Retired, Superseded),
        _ => null,
    };
}
