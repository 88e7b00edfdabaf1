using OpenCM.Domain;

namespace OpenCM.Acme;

/// <summary>
/// ACME's problem documents (RFC 8555 §6.7) over the one <see cref="ErrorKind"/> set. A failure
/// ACME names more precisely than its kind (badNonce, badSignatureAlgorithm, rejectedIdentifier,
/// ...) travels as an ordinary <see cref="OpenCmException"/> whose <see cref="DomainError.Field"/>
/// is that type's URN: the status still comes from the kind through the server's one mapping, and
/// <see cref="TypeOf"/> is the one place a kind becomes an ACME type. Under /acme no other format
/// is written.
/// </summary>
public static class AcmeErrors
{
    public const string Urn = "urn:ietf:params:acme:error:";
    public const string MediaType = "application/problem+json";

    public const string Malformed = "malformed";
    public const string BadNonce = "badNonce";
    public const string BadSignatureAlgorithm = "badSignatureAlgorithm";
    public const string BadPublicKey = "badPublicKey";
    public const string Unauthorized = "unauthorized";
    public const string AccountDoesNotExist = "accountDoesNotExist";
    public const string ExternalAccountRequired = "externalAccountRequired";
    public const string RejectedIdentifier = "rejectedIdentifier";
    public const string UnsupportedIdentifier = "unsupportedIdentifier";
    public const string OrderNotReady = "orderNotReady";
    public const string BadCsr = "badCSR";
    public const string BadRevocationReason = "badRevocationReason";
    public const string AlreadyRevoked = "alreadyRevoked";
    public const string InvalidContact = "invalidContact";
    public const string RateLimited = "rateLimited";
    public const string ServerInternal = "serverInternal";

    /// <summary>A failure of ACME type <paramref name="type"/> with the status of <paramref name="kind"/>.</summary>
    public static OpenCmException Problem(ErrorKind kind, string type, string detail) => new(new DomainError(kind, detail, Urn + type));

    public static OpenCmException Malformed400(string detail) => Problem(ErrorKind.ValidationFailed, Malformed, detail);

    public static OpenCmException Unauthorized403(string detail) => Problem(ErrorKind.Forbidden, Unauthorized, detail);

    /// <summary>The ACME error type (a full URN) of <paramref name="error"/>.</summary>
    public static string TypeOf(DomainError error)
    {
        ArgumentNullException.ThrowIfNull(error);
        if (error.Field is { } field && field.StartsWith(Urn, StringComparison.Ordinal))
        {
            return field;
        }

        return Urn + error.Kind switch
        {
            // The engine's refusals of a name (decision 0014) and of the CSR (finalize).
            ErrorKind.ValidationFailed when string.Equals(error.Field, RequestedNames.Field, StringComparison.Ordinal) => RejectedIdentifier,
            ErrorKind.ValidationFailed when error.Field is { } f && (f.Contains("csr", StringComparison.OrdinalIgnoreCase) || f.Contains("request", StringComparison.OrdinalIgnoreCase) || f.Contains("key", StringComparison.OrdinalIgnoreCase)) => BadCsr,
            ErrorKind.Unauthenticated or ErrorKind.Forbidden or ErrorKind.PolicyDisabled => Unauthorized,
            ErrorKind.RateLimited => RateLimited,
            ErrorKind.Unavailable or ErrorKind.Internal => ServerInternal,

            // RFC 8555 has no "not found" or "conflict" type: boulder answers malformed with the status, as here.
            _ => Malformed,
        };
    }
}
