using System.Text.Json;
using OpenCM.Domain;
using YamlDotNet.Core;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace OpenCM.Application;

/// <summary>
/// The file format of profile templates (JSON or YAML, same fields; see samples/templates).
/// Descriptors may name directory principals as <c>{Group Name}</c>; import resolves them to SIDs.
/// </summary>
public sealed class TemplateFile
{
    public Guid Uuid { get; set; }

    public string Name { get; set; } = "";

    public string Description { get; set; } = "";

    public bool IsSmartcardProfileTemplate { get; set; }

    public bool IsVirtualSmartcardProfileTemplate { get; set; }

    public Dictionary<string, PolicyFile> Policies { get; set; } = [];

    public List<CertificateFile> Certificates { get; set; } = [];

    /// <summary>The card policy of a smart card template (absent: the defaults).</summary>
    public SmartcardFile? Smartcard { get; set; }

    /// <summary>The protocol front-ends allowed to create requests: est, scep, acme (any case); none by default (issue #24).</summary>
    public List<string> Protocols { get; set; } = [];

    /// <summary>
    /// What a request may ask for in a certificate's subjectAltName (issue #24), e.g.
    /// <c>requestedNames: { dns: ["*.devices.contoso.com", localhost], ip: [10.0.0.0/8, "::1"], uri: ["spiffe://contoso/*"], maxNames: 100 }</c>;
    /// absent or empty, nothing (docs/decisions/0014-requested-names-and-protocols.md).
    /// </summary>
    public sealed class RequestedNamesFile
    {
        public List<string> Dns { get; set; } = [];

        public List<string> Ip { get; set; } = [];

        public List<string> Uri { get; set; } = [];

        public int MaxNames { get; set; } = RequestedNameRules.DefaultMaxNames;
    }

    /// <summary>A smart card template's card policy in a template file.</summary>
    public sealed class SmartcardFile
    {
        public string DefaultAdminKeyHex { get; set; } = SmartcardConfiguration.BaseCspDefaultAdminKeyHex;

        public bool DiversifyAdminKey { get; set; } = true;

        public string AdminKeyDiversificationAlgorithm { get; set; } = DiversificationAlgorithms.Sp800108HmacSha256;

        public string UserPinOption { get; set; } = "UserProvided";

        public int MinimumPinLength { get; set; } = 6;

        public int MaximumPinLength { get; set; } = 8;

        public string PinCharacters { get; set; } = "Digits";

        public string Middleware { get; set; } = "Microsoft Base Smart Card Crypto Provider";

        public bool? PhysicalCards { get; set; }

        public bool? VirtualCards { get; set; }

        public int TemporaryCardValidityDays { get; set; } = 7;
    }

    /// <summary>One certificate template in a template file.</summary>
    public sealed class CertificateFile
    {
        public string CommonName { get; set; } = "";

        public string FriendlyName { get; set; } = "";

        public string Subject { get; set; } = "CN={name}";

        public string KeyAlgorithm { get; set; } = "RSA";

        public int KeySize { get; set; } = 2048;

        public string HashAlgorithm { get; set; } = "SHA256";

        public List<string> KeyUsages { get; set; } = ["DigitalSignature", "KeyEncipherment"];

        public List<string> ExtendedKeyUsages { get; set; } = ["1.3.6.1.5.5.7.3.2"];

        public int ValidityDays { get; set; } = 365;

        public bool ServerGeneratesKey { get; set; }

        /// <summary>SANs from the user's directory entry: <c>upn</c> (otherName UPN) and <c>email</c> (rfc822Name), issue #20.</summary>
        public List<string> SubjectAlternativeNames { get; set; } = [];

        /// <summary>The names a request may ask for (issue #24); null: none.</summary>
        public RequestedNamesFile? RequestedNames { get; set; }
    }

    /// <summary>One workflow policy in a template file.</summary>
    public sealed class PolicyFile
    {
        public bool Enabled { get; set; } = true;

        public bool SelfServiceEnabled { get; set; }

        public int ApprovalsNeeded { get; set; }

        public string AuthorizedApprover { get; set; } = WorkflowPolicy.EmptyDescriptor;

        public string AuthorizedEnrollmentAgent { get; set; } = WorkflowPolicy.EmptyDescriptor;

        public string AuthorizedInitiator { get; set; } = WorkflowPolicy.EmptyDescriptor;

        public bool CollectComments { get; set; }

        public bool CollectRequestPriority { get; set; }

        public int DefaultRequestPriority { get; set; }

        public List<string> Documents { get; set; } = [];

        public bool EnrollAgentRequired { get; set; }

        public string OneTimePasswordPolicy { get; set; } = "None";

        public string Personalization { get; set; } = "None";

        public int DataCollectionFlags { get; set; } = WorkflowPolicy.DefaultDataCollectionFlags;

        public List<DataItemFile> DataCollection { get; set; } = [];
    }

    /// <summary>One data collection item in a template file.</summary>
    public sealed class DataItemFile
    {
        public string Name { get; set; } = "";

        public string Description { get; set; } = "";

        public bool Required { get; set; }

        public string? ValidationData { get; set; }
    }

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNameCaseInsensitive = true,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
    };

    // How `opencm templates export` writes a template: camelCase as the samples are, absent sections left out.
    private static readonly JsonSerializerOptions ExportJson = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>
    /// The file a stored template was imported from, as far as it can be rebuilt (issue #23.3,
    /// <c>opencm templates export</c>): importing it again stores the same template as its next
    /// version. Descriptors stay as stored, with SIDs where the file named <c>{principals}</c>;
    /// the version is the store's and not part of the file.
    /// </summary>
    public static TemplateFile From(ProfileTemplate template)
    {
        ArgumentNullException.ThrowIfNull(template);
        return new TemplateFile
        {
            Uuid = template.Uuid,
            Name = template.Name,
            Description = template.Description,
            IsSmartcardProfileTemplate = template.IsSmartcardProfileTemplate,
            IsVirtualSmartcardProfileTemplate = template.IsVirtualSmartcardProfileTemplate,
            Policies = template.Policies.OrderBy(p => p.Key).ToDictionary(p => p.Key.ToString(), p => new PolicyFile
            {
                Enabled = p.Value.Enabled,
                SelfServiceEnabled = p.Value.SelfServiceEnabled,
                ApprovalsNeeded = p.Value.ApprovalsNeeded,
                AuthorizedApprover = p.Value.AuthorizedApprover,
                AuthorizedEnrollmentAgent = p.Value.AuthorizedEnrollmentAgent,
                AuthorizedInitiator = p.Value.AuthorizedInitiator,
                CollectComments = p.Value.CollectComments,
                CollectRequestPriority = p.Value.CollectRequestPriority,
                DefaultRequestPriority = p.Value.DefaultRequestPriority,
                Documents = [.. p.Value.Documents],
                EnrollAgentRequired = p.Value.EnrollAgentRequired,
                OneTimePasswordPolicy = p.Value.OneTimePasswordPolicy,
                Personalization = p.Value.Personalization,
                DataCollectionFlags = p.Value.DataCollectionFlags,
                DataCollection = [.. p.Value.PolicyDataCollection.Select(d => new DataItemFile { Name = d.Name, Description = d.Description, Required = d.Required, ValidationData = d.ValidationData })],
            }),
            Certificates = [.. template.CertificateTemplates.Select(c => new CertificateFile
            {
                CommonName = c.CommonName,
                FriendlyName = c.FriendlyName,
                Subject = c.Subject,
                KeyAlgorithm = c.KeyAlgorithm switch
                {
                    Domain.KeyAlgorithm.EcdsaP256 => "ECDSA_P256",
                    Domain.KeyAlgorithm.EcdsaP384 => "ECDSA_P384",
                    _ => "RSA",
                },
                KeySize = c.KeyAlgorithm == Domain.KeyAlgorithm.Rsa ? c.KeySize : c.EffectiveKeySize,
                HashAlgorithm = c.HashAlgorithm,
                KeyUsages = [.. Enum.GetValues<CertificateKeyUsage>().Where(u => u != CertificateKeyUsage.None && c.KeyUsages.HasFlag(u)).Select(u => u.ToString())],
                ExtendedKeyUsages = [.. c.ExtendedKeyUsages],
                ValidityDays = c.ValidityDays,
                ServerGeneratesKey = c.ServerGeneratesKey,
                SubjectAlternativeNames = [.. c.SubjectAlternativeNames],
                RequestedNames = c.RequestedNames is { } r
                    ? new RequestedNamesFile { Dns = [.. r.Dns], Ip = [.. r.Ip], Uri = [.. r.Uri], MaxNames = r.MaxNames }
                    : null,
            })],
            Smartcard = template.Smartcard is { } card
                ? new SmartcardFile
                {
                    DefaultAdminKeyHex = card.DefaultAdminKeyHex,
                    DiversifyAdminKey = card.DiversifyAdminKey,
                    AdminKeyDiversificationAlgorithm = card.AdminKeyDiversificationAlgorithm,
                    UserPinOption = card.UserPinOption.ToString(),
                    MinimumPinLength = card.MinimumPinLength,
                    MaximumPinLength = card.MaximumPinLength,
                    PinCharacters = card.PinCharacters.ToString(),
                    Middleware = card.Middleware,
                    PhysicalCards = card.PhysicalCards,
                    VirtualCards = card.VirtualCards,
                    TemporaryCardValidityDays = card.TemporaryCardValidityDays,
                }
                : null,
            Protocols = [.. template.Protocols.Select(EnrollmentProtocols.Name)],
        };
    }

    /// <summary>This file as JSON, the form <see cref="Parse"/> reads back.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, ExportJson);

    /// <summary>Reads a template file; JSON when the text starts with '{', YAML otherwise.</summary>
    public static TemplateFile Parse(string text, string source)
    {
        ArgumentNullException.ThrowIfNull(text);
        try
        {
            var file = text.TrimStart().StartsWith('{')
                ? JsonSerializer.Deserialize<TemplateFile>(text, Json)
                : new DeserializerBuilder().WithNamingConvention(CamelCaseNamingConvention.Instance).Build().Deserialize<TemplateFile>(text);
            return file ?? throw new OpenCmException(DomainError.Validation(source, "The template file is empty."));
        }
        catch (Exception ex) when (ex is JsonException or YamlException)
        {
            throw new OpenCmException(DomainError.Validation(source, $"The template file cannot be read: {ex.Message}"));
        }
    }
}
