using System.Text.Json.Serialization;
using OpenCM.Domain;

namespace OpenCM.Contracts;

// Request bodies of the MIM CM REST API v1.0 (SPEC §2). Property names match case-insensitively;
// every property is optional on the wire, and the use cases say which are required.

/// <summary>POST /requests (create-request).</summary>
public sealed record CreateRequestBody(
    [property: JsonConverter(typeof(StrictEnumConverter<RequestType>))] RequestType? Type = null,
    [property: JsonConverter(typeof(GuidTextConverter))] Guid? ProfileTemplateUuid = null,
    [property: JsonConverter(typeof(DataCollectionConverter))] IReadOnlyList<DataItem>? DataCollection = null,
    [property: JsonConverter(typeof(GuidTextConverter))] Guid? Target = null,
    [property: JsonConverter(typeof(StrictStringConverter))] string? Comment = null,
    [property: JsonConverter(typeof(IntegerOrStringConverter))] int? Priority = null,
    [property: JsonConverter(typeof(GuidTextConverter))] Guid? Smartcard = null,
    [property: JsonConverter(typeof(GuidTextConverter))] Guid? Profile = null);

/// <summary>PUT /requests/{id} (the seed page): Completed, Canceled or Abandoned.</summary>
public sealed record SetStatusBody(
    [property: JsonConverter(typeof(StrictEnumConverter<RequestStatus>))] RequestStatus? Status = null);

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
    [property: JsonConverter(typeof(StrictEnumConverter<SmartcardStatus>))] SmartcardStatus? Status = null);
