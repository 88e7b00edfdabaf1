using OpenCM.Domain;

namespace OpenCM.Server.Errors;

/// <summary>The one place where error kinds become HTTP statuses (docs/error-handling.md).</summary>
internal static class ErrorMapping
{
    public static int StatusCode(ErrorKind kind) => kind switch
    {
        ErrorKind.ValidationFailed => StatusCodes.Status400BadRequest,
        ErrorKind.Unauthenticated => StatusCodes.Status401Unauthorized,
        ErrorKind.Forbidden or ErrorKind.PolicyDisabled => StatusCodes.Status403Forbidden,
        ErrorKind.NotFound => StatusCodes.Status404NotFound,
        ErrorKind.InvalidStatusTransition or ErrorKind.Conflict => StatusCodes.Status409Conflict,
        ErrorKind.PreconditionFailed => StatusCodes.Status412PreconditionFailed,
        ErrorKind.PayloadTooLarge => StatusCodes.Status413PayloadTooLarge,
        ErrorKind.UnsupportedMediaType => StatusCodes.Status415UnsupportedMediaType,
        ErrorKind.RateLimited => StatusCodes.Status429TooManyRequests,
        ErrorKind.Unavailable => StatusCodes.Status503ServiceUnavailable,
        ErrorKind.Internal => StatusCodes.Status500InternalServerError,
        _ => StatusCodes.Status500InternalServerError,
    };

    public static string Title(ErrorKind kind) => kind switch
    {
        ErrorKind.ValidationFailed => "The request is invalid.",
        ErrorKind.Unauthenticated => "Authentication is required.",
        ErrorKind.Forbidden => "The caller lacks the right for this operation.",
        ErrorKind.PolicyDisabled => "The policy does not allow this request type.",
        ErrorKind.NotFound => "The resource does not exist.",
        ErrorKind.InvalidStatusTransition => "The request cannot move to that status.",
        ErrorKind.Conflict => "The request conflicts with the current state of the resource.",
        ErrorKind.PreconditionFailed => "The resource does not match the given version.",
        ErrorKind.PayloadTooLarge => "The request body is too large.",
        ErrorKind.UnsupportedMediaType => "The request body must be JSON.",
        ErrorKind.RateLimited => "Too many requests of this kind; try again later.",
        ErrorKind.Unavailable => "The service cannot reach its database; try again shortly.",
        _ => "An internal error occurred.",
    };
}
