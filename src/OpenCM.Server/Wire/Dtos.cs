using OpenCM.Domain;

namespace OpenCM.Server.Wire;

// Response shapes of the reference, property for property and in the reference's order.
// Serialized with WireFormat.Options (no renaming), so the names below are the wire names.

/// <summary>Microsoft.Clm.Shared.Requests.Request (get-request): exactly 21 properties.</summary>
internal sealed record RequestDto(
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
    bool IsDataCollectionComplete)
{
    public static RequestDto From(CmRequest r) => new(
        r.Uuid, (int)r.RequestType, (int)r.Status, (int)r.Flags,
        [.. r.DataCollection.Select(d => new DataItemDto(d.Name, d.Value))], r.DataCollectionFlags,
        r.OriginatorUserUuid, r.TargetUserUuid, WireFormat.Time(r.Submitted), WireFormat.Time(r.Completed),
        r.NewProfileUuid, r.OldProfileUuid, r.NewSmartcardUuid, r.OldSmartcardUuid,
        r.Priority, r.Comment, r.ProfileTemplateUuid, r.SecurityDescriptor,
        r.IsSmartcard, r.IsEnrollmentAgent, r.IsDataCollectionComplete);
}

internal sealed record DataItemDto(string Name, string? Value);

/// <summary>ProfileTemplateLimitedView (get-profile-templates).</summary>
internal sealed record ProfileTemplateDto(string Name, string Description, Guid Uuid, bool IsSmartcardProfileTemplate, bool IsVirtualSmartcardProfileTemplate)
{
    public static ProfileTemplateDto From(ProfileTemplate t) =>
        new(t.Name, t.Description, t.Uuid, t.IsSmartcardProfileTemplate, t.IsVirtualSmartcardProfileTemplate);
}

/// <summary>ProfileTemplatePolicy (get-workflow-policy), in the reference's order.</summary>
internal sealed record WorkflowPolicyDto(
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
    bool SelfServiceEnabled)
{
    public static WorkflowPolicyDto From(WorkflowPolicy p) => new(
        p.ApprovalsNeeded, p.AuthorizedApprover, p.AuthorizedEnrollmentAgent, p.AuthorizedInitiator,
        p.CollectComments, p.CollectRequestPriority, p.DefaultRequestPriority, p.Documents, p.Enabled,
        p.EnrollAgentRequired, p.OneTimePasswordPolicy, p.Personalization,
        [.. p.PolicyDataCollection.Select(d => new PolicyDataItemDto(d.Name, d.Description, d.Required, d.ValidationData))],
        p.SelfServiceEnabled);
}

internal sealed record PolicyDataItemDto(string Name, string Description, bool Required, string? ValidationData);

/// <summary>GET /me (OpenCM extension): who the server takes the caller to be.</summary>
internal sealed record CallerDto(Guid Uuid, string Name, string Sid, IReadOnlyList<string> GroupSids);

/// <summary>CertificateRequestGenerationOptions (get-certificate-request-generation-options), in the reference's order.</summary>
internal sealed record GenerationOptionsDto(
    string Subject,
    string KeyAlgorithmName,
    int KeySize,
    string FriendlyName,
    string HashAlgorithmName,
    IReadOnlyList<string> KeyStorageProviderNames,
    int Exportable,
    int KeyProtectionLevel,
    int KeyUsages)
{
    public static GenerationOptionsDto From(OpenCM.Application.GenerationOption o)
    {
        var t = o.Template;
        var algorithm = t.KeyAlgorithm switch
        {
            KeyAlgorithm.EcdsaP256 => "ECDSA_P256",
            KeyAlgorithm.EcdsaP384 => "ECDSA_P384",
            _ => "RSA",
        };

        // Windows' enrollment key usages: Decryption 1, Signing 2, KeyAgreement 4.
        var usages = ((t.KeyUsages & (CertificateKeyUsage.KeyEncipherment | CertificateKeyUsage.DataEncipherment)) != 0 ? 1 : 0)
                   | ((t.KeyUsages & (CertificateKeyUsage.DigitalSignature | CertificateKeyUsage.NonRepudiation)) != 0 ? 2 : 0)
                   | ((t.KeyUsages & CertificateKeyUsage.KeyAgreement) != 0 ? 4 : 0);

        // Exportable 0 and KeyProtectionLevel 0 (no consent): keys the client makes stay where it makes them.
        return new(o.Subject, algorithm, t.EffectiveKeySize, t.FriendlyName, t.HashAlgorithm, o.KeyStorageProviders, 0, 0, usages);
    }
}

/// <summary>Microsoft.Clm.Shared.Certificates.Certificate (get-certificate-responses), names and order as the reference writes them.</summary>
internal sealed class CertificateDto
{
    public string TemplateCommonName { get; init; } = "";

    public int CertificateId { get; init; }

    public int Flags { get; init; }

    public bool UseLocalMachineStore { get; init; }

    public string? Error { get; init; }

    public string? Pkcs7 { get; init; }

    public string? Pfx { get; init; }

    public bool IsExternal { get; init; }

    [System.Text.Json.Serialization.JsonPropertyName("isServerGenerated")]
    public bool IsServerGenerated { get; init; }

    [System.Text.Json.Serialization.JsonPropertyName("isPfx")]
    public bool IsPfx { get; init; }

    [System.Text.Json.Serialization.JsonPropertyName("isPkcs7")]
    public bool IsPkcs7 { get; init; }

    [System.Text.Json.Serialization.JsonPropertyName("isKeyHistory")]
    public bool IsKeyHistory { get; init; }

    public static CertificateDto From(OpenCM.Application.CertificateDelivery r) => new()
    {
        TemplateCommonName = r.Template.CommonName,
        Pkcs7 = r.Pkcs7 is null ? null : Base64Lines(r.Pkcs7),
        Pfx = r.Pfx is null ? null : Base64Lines(r.Pfx),
        IsServerGenerated = r.Pfx is not null,
        IsPfx = r.Pfx is not null,
        IsPkcs7 = r.Pkcs7 is not null,
        IsKeyHistory = r.IsKeyHistory,
    };

    // Base64 in lines of 64 characters ending in \r\n, as the reference's blobs are written.
    private static string Base64Lines(byte[] data)
    {
        var text = Convert.ToBase64String(data);
        var sb = new System.Text.StringBuilder(text.Length + (text.Length / 64 * 2) + 2);
        for (var i = 0; i < text.Length; i += 64)
        {
            sb.Append(text, i, Math.Min(64, text.Length - i)).Append("\r\n");
        }

        return sb.ToString();
    }
}

/// <summary>A software profile (get-profile-data), in the reference's order.</summary>
internal sealed record ProfileDto(
    Guid Uuid, int Status, int Flags, Guid ParentProfileUuid, Guid PrimaryProfileUuid, Guid AssignedUserUuid,
    Guid ProfileTemplateUuid, int ProfileTemplateVersion, string Comment, IReadOnlyList<string> ProfileOperations)
{
    // Flags 1 on every software profile, as in the reference's examples.
    public static ProfileDto From(OpenCM.Application.ProfileView v) => new(
        v.Profile.Uuid, (int)v.Profile.Status, 1, v.Profile.ParentUuid, Guid.Empty, v.Profile.UserUuid,
        v.Profile.TemplateUuid, v.Profile.TemplateVersion, "", Operations(v.Operations));

    /// <summary>Operation names as the reference writes them: the request type, lower-case.</summary>
    public static IReadOnlyList<string> Operations(IReadOnlyList<RequestType> types) => [.. types.Select(t => t.ToString().ToLowerInvariant())];
}

/// <summary>A profile's certificate (get-smartcard-profile-certificates), in the reference's order.</summary>
internal sealed record ProfileCertificateDto(bool IsKeyHistory, bool ArchivedOnCa, int CertificateType, string TemplateCommonName, string SerialNumber, string Thumbprint)
{
    public static ProfileCertificateDto From(OpenCM.Application.CertificateView v) =>
        new(false, v.ArchivedOnCa, 1, v.Certificate.Template, v.Certificate.SerialHex, v.Certificate.Certificate.Thumbprint);
}

/// <summary>A user's certificate (get-user-certificates), in the reference's order; Status 0 is a current certificate.</summary>
internal sealed record UserCertificateDto(
    bool IsKeyHistory, bool ArchivedOnCa, int CertificateType, string TemplateCommonName, string SerialNumber, string Thumbprint,
    string NotAfter, string NotBefore, string Issuer, string RequesterName, int Status)
{
    public static UserCertificateDto From(OpenCM.Application.CertificateView v, string issuer) => new(
        false, v.ArchivedOnCa, 1, v.Certificate.Template, v.Certificate.SerialHex, v.Certificate.Certificate.Thumbprint,
        WireFormat.Time(v.Certificate.Certificate.NotAfter), WireFormat.Time(v.Certificate.Certificate.NotBefore), issuer, v.RequesterName, 0);
}
