namespace OpenCM.Domain;

/// <summary>A change of an existing profile that a request's transition makes, with what happens to its certificates.</summary>
/// <param name="RevocationReason">RFC 5280 reason code for revoking the profile's certificates, or null to leave them.</param>
public sealed record ProfileTransition(Guid Profile, ProfileStatus From, ProfileStatus To, int? RevocationReason);

/// <summary>Rules for request types that act on an existing software profile (SPEC §4, issue #3).</summary>
public static class ProfileRules
{
    public const int Unspecified = 0;
    public const int Superseded = 4;
    public const int CessationOfOperation = 5;

    /// <summary>Which request types a profile's status allows.</summary>
    public static IReadOnlyList<RequestType> AllowedTypes(ProfileStatus status) => status switch
    {
        ProfileStatus.Active => [RequestType.OnlineUpdate, RequestType.Renew, RequestType.Duplicate, RequestType.Recover, RequestType.RecoverOnBehalf, RequestType.Revoke, RequestType.Retire],
        ProfileStatus.Suspended => [RequestType.Reinstate, RequestType.Retire],
        ProfileStatus.Disabled => [RequestType.Retire],
        _ => [],
    };

    /// <summary>Types the server executes by itself as soon as the request is Approved (no client step).</summary>
    public static bool IsServerExecuted(RequestType type) => type is RequestType.Revoke or RequestType.Retire;

    /// <summary>Types OpenCM can execute on a software profile today; the rest are refused at creation.</summary>
    public static bool IsSupported(RequestType type) =>
        type is RequestType.Revoke or RequestType.Retire or RequestType.Renew or RequestType.Recover or RequestType.RecoverOnBehalf;

    /// <summary>Types whose execution returns the profile's archived keys instead of issuing certificates.</summary>
    public static bool IsKeyRecovery(RequestType type) => type is RequestType.Recover or RequestType.RecoverOnBehalf;

    /// <summary>What completing a request of <paramref name="type"/> does to the profile it names.</summary>
    public static ProfileTransition? OnCompletion(RequestType type, Guid oldProfile, ProfileStatus oldStatus) => type switch
    {
        RequestType.Revoke => new ProfileTransition(oldProfile, oldStatus, ProfileStatus.Disabled, Unspecified),
        RequestType.Retire => new ProfileTransition(oldProfile, oldStatus, ProfileStatus.Retired, CessationOfOperation),
        RequestType.Renew => new ProfileTransition(oldProfile, oldStatus, ProfileStatus.Retired, Superseded),
        _ => null,
    };
}
