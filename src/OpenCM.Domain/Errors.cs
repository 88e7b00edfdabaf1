namespace OpenCM.Domain;

/// <summary>
/// The closed set of error kinds. Each kind is also the stable <c>errorCode</c> on the wire, and
/// maps to exactly one HTTP status in the server's single mapping (docs/error-handling.md).
/// </summary>
public enum ErrorKind
{
    ValidationFailed,
    Unauthenticated,
    Forbidden,
    PolicyDisabled,
    NotFound,
    InvalidStatusTransition,
    Conflict,
    PreconditionFailed,
    PayloadTooLarge,
    UnsupportedMediaType,
    RateLimited,

    /// <summary>The database cannot be reached now; the client should retry (503 with Retry-After).</summary>
    Unavailable,
    Internal,
}

/// <summary>A typed failure: what went wrong, for which input field, in which state.</summary>
/// <param name="Kind">The kind; also the wire error code.</param>
/// <param name="Detail">Human-readable explanation; never contains secrets.</param>
/// <param name="Field">The offending input item, for validation failures.</param>
/// <param name="CurrentStatus">The request's status, for state conflicts.</param>
public sealed record DomainError(ErrorKind Kind, string Detail, string? Field = null, RequestStatus? CurrentStatus = null)
{
    public string Code => Kind.ToString();

    /// <summary>For <see cref="ErrorKind.RateLimited"/>: when the caller may try again (the 429's Retry-After).</summary>
    public TimeSpan? RetryAfter { get; init; }

    public static DomainError Validation(string field, string detail) => new(ErrorKind.ValidationFailed, detail, field);

    public static DomainError NotFound(string detail) => new(ErrorKind.NotFound, detail);

    public static DomainError Forbidden(string detail) => new(ErrorKind.Forbidden, detail);

    public static DomainError Transition(RequestStatus current, string detail) =>
        new(ErrorKind.InvalidStatusTransition, detail, CurrentStatus: current);
}

/// <summary>Carries a <see cref="DomainError"/> through layers that are not pure.</summary>
public sealed class OpenCmException : Exception
{
    public OpenCmException(DomainError error)
        : base(error.Detail) => Error = error;

    /// <summary>A typed failure caused by <paramref name="innerException"/> (a database that cannot be reached, for the log).</summary>
    public OpenCmException(DomainError error, Exception innerException)
        : base(error.Detail, innerException) => Error = error;

    public OpenCmException()
        : this(new DomainError(ErrorKind.Internal, "Unspecified error."))
    {
    }

    public OpenCmException(string message)
        : this(new DomainError(ErrorKind.Internal, message))
    {
    }

    public OpenCmException(string message, Exception innerException)
        : base(message, innerException) => Error = new DomainError(ErrorKind.Internal, message);

    public DomainError Error { get; }
}
