namespace OpenCM.Domain;

/// <summary>A change of an existing profile that a request's transition makes, with what happens to its certificates.</summary>
/// <param name="RevocationReason">RFC 5280 reason code for revoking the profile's certificates, or null to leave them.</param>
/// <param name="ReleaseHolds">Whether certificates on hold (reason certificateHold) become current again.</param>
public sealed record ProfileTransition(Guid Profile, ProfileStatus From, ProfileStatus To, int? RevocationReason, bool ReleaseHolds = false);

/// <summary>Revocation reasons and what requests do to software profiles (SPEC §4, issue #3); per kind in <see cref="RequestKinds"/>.</summary>
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

    /// <summary>Which request types a profile's status allows (<see cref="RequestKinds.AllowedOn(ProfileStatus)"/>).</summary>
    public static IReadOnlyList<RequestType> AllowedTypes(ProfileStatus status) => RequestKinds.AllowedOn(status);

    /// <summary>The reason code a Revoke request's data names; unspecified when it names none (or an unknown one).</summary>
    public static int RevocationReason(IReadOnlyList<DataItem> data)
    {
        ArgumentNullException.ThrowIfNull(data);
        var value = data.FirstOrDefault(d => string.Equals(d.Name, RevocationReasonItem, StringComparison.OrdinalIgnoreCase))?.Value;
        return value is not null && Reasons.TryGetValue(value.Trim(), out var code) ? code : Unspecified;
    }

    /// <summary>What completing a request of <paramref name="type"/> on software does to the profile it names (its kind's <see cref="RequestKind.ProfileOnCompletion"/>).</summary>
    /// <param name="revocationReason">For Revoke: certificateHold suspends, anything else disables.</param>
    public static ProfileTransition? OnCompletion(RequestType type, Guid oldProfile, ProfileStatus oldStatus, int revocationReason = Unspecified) =>
        RequestKinds.Of(type, Medium.Software).ProfileOnCompletion(oldProfile, oldStatus, revocationReason);
}
