using OpenCM.Domain;

namespace OpenCM.Application;

/// <summary>Facts about request types that the use cases need.</summary>
public static class RequestTypes
{
    /// <summary>Types that act on an existing profile or smart card named in the create body (SPEC §2).</summary>
    public static bool NeedsCredential(RequestType type) => type is not (RequestType.Enroll or RequestType.TemporaryCards or RequestType.None);
}
