using System.Text.Json.Serialization;

namespace OpenCM.Contracts;

// Response shapes of the reference, property for property and in the reference's order. The
// names below are the wire names (no naming policy); enumerations travel as numbers.

/// <summary>Microsoft.Clm.Shared.Requests.Request (get-request): exactly 21 properties.</summary>
public sealed record RequestDto(
    Guid Uuid,
    int RequestType,
    int Status,
    int Flags,
    IReadOnlyList<DataItemDto> DataCollection,
    int DataCollectionFlags,
    Guid OriginatorUserUuid,
    Guid TargetUserUuid,
    string Submitted,
    string Completed,
    Guid NewProfileUuid,
    Guid OldProfileUuid,
    Guid NewSmartcardUuid,
    Guid OldSmartcardUuid,
    int Priority,
    string Comment,
    Guid ProfileTemplateUuid,
    string SecurityDescriptor,
    bool IsSmartcard,
    bool IsEnrollmentAgent,
    bool IsDataCollectionComplete);

public sealed record DataItemDto(string Name, string? Value);

/// <summary>ProfileTemplateLimitedView (get-profile-templates).</summary>
public sealed record ProfileTemplateDto(string Name, string Description, Guid Uuid, bool IsSmartcardProfileTemplate, bool IsVirtualSmartcardProfileTemplate);

/// <summary>ProfileTemplatePolicy (get-workflow-policy), in the reference's order.</summary>
public sealed record WorkflowPolicyDto(
    int ApprovalsNeeded,
    string AuthorizedApprover,
    string AuthorizedEnrollmentAgent,
    string AuthorizedInitiator,
    bool CollectComments,
    bool CollectRequestPriority,
    int DefaultRequestPriority,
    IReadOnlyList<string> Documents,
    bool Enabled,
    bool EnrollAgentRequired,
    string OneTimePasswordPolicy,
    string Personalization,
    IReadOnlyList<PolicyDataItemDto> PolicyDataCollection,
    bool SelfServiceEnabled);

public sealed record PolicyDataItemDto(string Name, string Description, bool Required, string? ValidationData);

/// <summary>
/// GET /profiletemplates/{id}/configuration/smartcards (walkthrough step 12): a smart card
/// template's card policy. <c>UserPinOption</c> 0 user-provided, 1 server-proposed;
/// <c>PinCharacters</c> 0 digits, 1 alphanumeric, 2 any.
/// </summary>
public sealed record SmartcardConfigurationDto(
    string DefaultAdminKeyHex,
    bool DiversifyAdminKey,
    string AdminKeyDiversificationAlgorithm,
    int UserPinOption,
    int MinimumPinLength,
    int MaximumPinLength,
    int PinCharacters,
    string Middleware,
    IReadOnlyList<string> CardUsage,
    string KeyStorageProvider,
    IReadOnlyList<string> CertificateTemplates);

/// <summary>GET /me (OpenCM extension): who the server takes the caller to be.</summary>
public sealed record CallerDto(Guid Uuid, string Name, string Sid, IReadOnlyList<string> GroupSids);

/// <summary>CertificateRequestGenerationOptions (get-certificate-request-generation-options), in the reference's order.</summary>
public sealed record GenerationOptionsDto(
    string Subject,
    string KeyAlgorithmName,
    int KeySize,
    string FriendlyName,
    string HashAlgorithmName,
    IReadOnlyList<string> KeyStorageProviderNames,
    int Exportable,
    int KeyProtectionLevel,
    int KeyUsages);

/// <summary>Microsoft.Clm.Shared.Certificates.Certificate (get-certificate-responses), names and order as the reference writes them.</summary>
public sealed class CertificateDto
{
    public string TemplateCommonName { get; init; } = "";

    public int CertificateId { get; init; }

    public int Flags { get; init; }

    public bool UseLocalMachineStore { get; init; }

    public string? Error { get; init; }

    public string? Pkcs7 { get; init; }

    public string? Pfx { get; init; }

    public bool IsExternal { get; init; }

    [JsonPropertyName("isServerGenerated")]
    public bool IsServerGenerated { get; init; }

    [JsonPropertyName("isPfx")]
    public bool IsPfx { get; init; }

    [JsonPropertyName("isPkcs7")]
    public bool IsPkcs7 { get; init; }

    [JsonPropertyName("isKeyHistory")]
    public bool IsKeyHistory { get; init; }
}

/// <summary>A software profile (get-profile-data), in the reference's order.</summary>
public sealed record ProfileDto(
    Guid Uuid, int Status, int Flags, Guid ParentProfileUuid, Guid PrimaryProfileUuid, Guid AssignedUserUuid,
    Guid ProfileTemplateUuid, int ProfileTemplateVersion, string Comment, IReadOnlyList<string> ProfileOperations);

/// <summary>A profile's certificate (get-smartcard-profile-certificates), in the reference's order.</summary>
public sealed record ProfileCertificateDto(bool IsKeyHistory, bool ArchivedOnCa, int CertificateType, string TemplateCommonName, string SerialNumber, string Thumbprint);

/// <summary>A user's certificate (get-user-certificates), in the reference's order; Status 0 is a current certificate.</summary>
public sealed record UserCertificateDto(
    bool IsKeyHistory, bool ArchivedOnCa, int CertificateType, string TemplateCommonName, string SerialNumber, string Thumbprint,
    string NotAfter, string NotBefore, string Issuer, string RequesterName, int Status);

/// <summary>Microsoft.Clm.Shared.Smartcards.Smartcard (get-smartcard-data), names and order as the reference's examples write them.</summary>
public sealed record SmartcardDto(
    Guid Uuid, int Status, int Flags, Guid ParentSmartcardUuid, Guid PrimarySmartcardUuid, Guid PermanentSmartcardUuid,
    Guid AssignedUserUuid, Guid ProfileTemplateUuid, int ProfileTemplateVersion, string Comment, string SerialNumber, string Middleware, string Atr);

/// <summary>POST /smartcards/{id}/offlineunblock (OpenCM extension): the completed OfflineUnblock request and the response to the challenge, base64-encoded.</summary>
public sealed record OfflineUnblockDto(Guid RequestUuid, string Response);

/// <summary>GET /health/live and /health/ready.</summary>
public sealed record HealthDto(string Status);
