using Net.Pkcs11Interop.Common;
using OpenCM.Domain;

namespace OpenCM.Authority.Pkcs11;

/// <summary>
/// The HSM is not usable as configured (module, token, PIN or key): found at start, so the host
/// refuses to serve with this message. Messages name what is wrong and never carry the PIN.
/// </summary>
public sealed class Pkcs11ConfigurationException : Exception
{
    public Pkcs11ConfigurationException()
    {
    }

    public Pkcs11ConfigurationException(string message)
        : base(message)
    {
    }

    public Pkcs11ConfigurationException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>Return values that mean the token (or our sessions with it) went away, not that the request was wrong.</summary>
internal static class TokenFailures
{
    private static readonly HashSet<CKR> Gone =
    [
        CKR.CKR_DEVICE_REMOVED,
        CKR.CKR_DEVICE_ERROR,
        CKR.CKR_DEVICE_MEMORY,
        CKR.CKR_TOKEN_NOT_PRESENT,
        CKR.CKR_TOKEN_NOT_RECOGNIZED,
        CKR.CKR_SLOT_ID_INVALID,
        CKR.CKR_SESSION_HANDLE_INVALID,
        CKR.CKR_SESSION_CLOSED,
        CKR.CKR_SESSION_COUNT,
        CKR.CKR_USER_NOT_LOGGED_IN,
        CKR.CKR_OBJECT_HANDLE_INVALID,
        CKR.CKR_KEY_HANDLE_INVALID,
        CKR.CKR_CRYPTOKI_NOT_INITIALIZED,
        CKR.CKR_GENERAL_ERROR,
        CKR.CKR_FUNCTION_FAILED,
    ];

    public static bool IsGone(Pkcs11Exception e) => Gone.Contains(e.RV);

    /// <summary>
    /// What a use case sees while the token is away: Unavailable, a 503 problem the client retries
    /// (as the LDAP directory does when it cannot be reached, docs/error-handling.md).
    /// </summary>
    public static OpenCmException Unavailable(string token, Exception cause) =>
        new(new DomainError(ErrorKind.Unavailable, $"The CA's key token ({token}) cannot be reached now; try again shortly."), cause);
}
