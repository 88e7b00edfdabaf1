using System.Text.Json.Serialization;

namespace OpenCM.Contracts;

/// <summary>
/// The body of every error answer: RFC 9457 problem details with OpenCM's members
/// (docs/error-handling.md), served as <c>application/problem+json</c>. <see cref="ErrorCode"/>
/// is the stable name of the error kind; clients decide on it and on <see cref="Status"/>,
/// never on <see cref="Title"/> or <see cref="Detail"/>, which are English for people.
/// </summary>
/// <param name="Type">https://opencm.dev/errors/{errorCode}.</param>
/// <param name="Title">The kind's fixed one-line summary.</param>
/// <param name="Status">The HTTP status, as the response carries it.</param>
/// <param name="Detail">What went wrong this time; never a secret.</param>
/// <param name="ErrorCode">The error kind's name (ValidationFailed, NotFound, ...).</param>
/// <param name="CorrelationId">The request's correlation id, as in the X-Correlation-Id header and the server's log.</param>
public sealed record ProblemDto(
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("title")] string Title,
    [property: JsonPropertyName("status")] int Status,
    [property: JsonPropertyName("detail")] string Detail,
    [property: JsonPropertyName("errorCode")] string ErrorCode,
    [property: JsonPropertyName("correlationId")] string CorrelationId)
{
    /// <summary>The media type of a problem body.</summary>
    public const string MediaType = "application/problem+json";

    /// <summary>The offending property, data item, query parameter or route value (ValidationFailed); absent otherwise.</summary>
    [JsonPropertyName("field")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Field { get; init; }

    /// <summary>The request's status as a number (InvalidStatusTransition); absent otherwise.</summary>
    [JsonPropertyName("currentStatus")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? CurrentStatus { get; init; }
}
