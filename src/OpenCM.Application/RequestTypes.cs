using OpenCM.Domain;

namespace OpenCM.Application;

/// <summary>Facts about request types that the use cases need.</summary>
public static class RequestTypes
{
    /// <summary>Types that act on an existing profile or smart card named in the create body (SPEC §2).</summary>
    public static bool NeedsCredential(RequestType type) => type is not (RequestType.Enroll or RequestType.TemporaryCards or RequestType.None);

    /// <summary>
    /// Whether the user a request is for may execute it. Not for RecoverOnBehalf: its keys go to
    /// whoever recovers on the user's behalf (the initiator or an enrollment agent), else a user
    /// could recover for themselves what the policy keeps from self-service (issue #7.4).
    /// </summary>
    public static bool TargetExecutes(RequestType type) => type != RequestType.RecoverOnBehalf;
}
