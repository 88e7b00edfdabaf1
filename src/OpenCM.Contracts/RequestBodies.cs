using System.Text.Json.Serialization;

namespace OpenCM.Contracts;

// Request bodies of the MIM CM REST API v1.0 (SPEC §2). Property names match case-insensitively;
// every property is optional on the wire, and the use cases say which are required. They are
// wire types of their own (enumerations below, DataItemDto), which the server's endpoints map to
// the Domain's: the wire stays as the reference publishes it whatever the Domain becomes.

/// <summary>POST /requests (create-request).</summary>
public sealed record CreateRequestBody(
    [property: JsonConverter(typeof(StrictEnumConverter<WireRequestType>))] WireRequestType? Type = null,
    [property: JsonConverter(typeof(GuidTextConverter))] Guid? ProfileTemplateUuid = null,
    [property: JsonConverter(typeof(DataCollectionConverter))] IReadOnlyList<DataItemDto>? DataCollection = null,
    [property: JsonConverter(typeof(GuidTextConverter))] Guid? Target = null,
    [property: JsonConverter(typeof(StrictStringConverter))] string? Comment = null,
    [property: JsonConverter(typeof(IntegerOrStringConverter))] int? Priority = null,
    [property: JsonConverter(typeof(GuidTextConverter))] Guid? Smartcard = null,
    [property: JsonConverter(typeof(GuidTextConverter))] Guid? Profile = null);

/// <summary>PUT /requests/{id} (the seed page): Completed, Canceled or Abandoned.</summary>
public sealed record SetStatusBody(
    [property: JsonConverter(typeof(StrictEnumConverter<WireRequestStatus>))] WireRequestStatus? Status = null);

/// <summary>An approver's decision on a pending request (OpenCM's approvals extension).</summary>
public enum ApprovalDecision
{
    Approve = 1,
    Deny = 2,
}

/// <summary>POST /requests/{id}/approvals.</summary>
public sealed record ApprovalBody(
    [property: JsonConverter(typeof(StrictEnumConverter<ApprovalDecision>))] ApprovalDecision? Decision = null,
    [property: JsonConverter(typeof(StrictStringConverter))] string? Comment = null);

/// <summary>POST /requests/{id}/certificatedata: one PKCS#10 per client-generated certificate, and the PFX password for server-made keys.</summary>
public sealed record CertificateDataBody(
    [property: JsonConverter(typeof(StringListConverter))] IReadOnlyList<string>? CertificateRequests = null,
    [property: JsonConverter(typeof(StrictStringConverter))] string? PfxPassword = null);

/// <summary>POST /smartcards (assign-smartcard-to-request): the request to bind, the physical card's id and its ATR.</summary>
public sealed record AssignSmartcardBody(
    [property: JsonConverter(typeof(GuidTextConverter))] Guid? RequestId = null,
    [property: JsonConverter(typeof(StrictStringConverter))] string? CardId = null,
    [property: JsonConverter(typeof(StrictStringConverter))] string? Atr = null);

/// <summary>PUT /requests/{rid}/smartcards/{id} (update-smartcard-status): the status the request moves its card to, e.g. "Retired".</summary>
public sealed record SetCardStatusBody(
    [property: JsonConverter(typeof(StrictEnumConverter<WireSmartcardStatus>))] WireSmartcardStatus? Status = null);

/// <summary>POST /smartcards/{id}/offlineunblock (OpenCM extension): the challenge the card's user reads out (8 bytes, a GIDS card's 40; decision 0013), base64-encoded.</summary>
public sealed record OfflineUnblockBody(
    [property: JsonConverter(typeof(StrictStringConverter))] string? Challenge = null);

/// <summary>
/// A request's type as the wire names and numbers it (SPEC §3; the reference's RequestType).
/// Names and numbers are the wire's and never change; the server maps them to the Domain's.
/// </summary>
[WireName("RequestType")]
public enum WireRequestType
{
    None = 0,
    Enroll = 1,
    Duplicate = 2,
    OnlineUpdate = 3,
    TemporaryCards = 4,
    Unblock = 5,
    Retire = 6,
    Revoke = 7,
    Recover = 8,
    RecoverOnBehalf = 9,
    Renew = 10,
    Reinstate = 11,
    OfflineUnblock = 12,
}

/// <summary>A request's status as the wire names and numbers it (SPEC §3; Abandoned is OpenCM's).</summary>
[WireName("RequestStatus")]
public enum WireRequestStatus
{
    None = 0,
    Approved = 3,
    Denied = 4,
    Completed = 8,
    Failed = 9,
    Pending = 16,
    Canceled = 17,
    Executing = 18,
    Abandoned = 19,
}

/// <summary>A smart card's status as the wire names and numbers it (update-smartcard-status).</summary>
[WireName("SmartcardStatus")]
public enum WireSmartcardStatus
{
    None = 0,
    New = 1,
    Assigned = 2,
    Active = 3,
    Suspended = 4,
    Disabled = 5,
    Retired = 6,
}

/// <summary>The name an enumeration has on the wire and in what the server says of a value it refuses.</summary>
[AttributeUsage(AttributeTargets.Enum)]
public sealed class WireNameAttribute(string name) : Attribute
{
    public string Name { get; } = name;
}
