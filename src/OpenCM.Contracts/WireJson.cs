using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace OpenCM.Contracts;

/// <summary>Every type that crosses the wire, serialized by generated code (no reflection at run time).</summary>
[JsonSerializable(typeof(CreateRequestBody))]
[JsonSerializable(typeof(SetStatusBody))]
[JsonSerializable(typeof(ApprovalBody))]
[JsonSerializable(typeof(CertificateDataBody))]
[JsonSerializable(typeof(AssignSmartcardBody))]
[JsonSerializable(typeof(SetCardStatusBody))]
[JsonSerializable(typeof(OfflineUnblockBody))]
[JsonSerializable(typeof(RequestDto))]
[JsonSerializable(typeof(List<RequestDto>))]
[JsonSerializable(typeof(ProfileTemplateDto))]
[JsonSerializable(typeof(List<ProfileTemplateDto>))]
[JsonSerializable(typeof(WorkflowPolicyDto))]
[JsonSerializable(typeof(SmartcardConfigurationDto))]
[JsonSerializable(typeof(SmartcardDto))]
[JsonSerializable(typeof(List<SmartcardDto>))]
[JsonSerializable(typeof(OfflineUnblockDto))]
[JsonSerializable(typeof(CallerDto))]
[JsonSerializable(typeof(List<GenerationOptionsDto>))]
[JsonSerializable(typeof(List<CertificateDto>))]
[JsonSerializable(typeof(ProfileDto))]
[JsonSerializable(typeof(List<ProfileDto>))]
[JsonSerializable(typeof(List<ProfileCertificateDto>))]
[JsonSerializable(typeof(List<UserCertificateDto>))]
[JsonSerializable(typeof(IReadOnlyList<string>))]
[JsonSerializable(typeof(HealthDto))]
[JsonSerializable(typeof(ProblemDto))]
[JsonSerializable(typeof(string))]
public sealed partial class WireJsonContext : JsonSerializerContext;

/// <summary>The JSON conventions of SPEC §2, for the server and its clients alike.</summary>
public static partial class WireJson
{
    /// <summary>
    /// Names exactly as the contracts declare them, in declaration order; read case-insensitively.
    /// Text is escaped only where JSON requires it: this is JSON for API clients, never embedded in HTML.
    /// </summary>
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = null,
        PropertyNameCaseInsensitive = true,

        // Microsoft's walkthrough samples end objects with a trailing comma.
        AllowTrailingCommas = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        TypeInfoResolver = WireJsonContext.Default,
    };

    /// <summary>The generated serializer of <typeparamref name="T"/> under <see cref="Options"/>.</summary>
    public static JsonTypeInfo<T> TypeInfo<T>() => (JsonTypeInfo<T>)Options.GetTypeInfo(typeof(T));
}
