using OpenCM.Application;
using OpenCM.Contracts;
using OpenCM.Domain;

namespace OpenCM.Server.Wire;

/// <summary>From the use cases' results to the wire contracts (OpenCM.Contracts): the one place the two meet.</summary>
internal static class WireMapping
{
    extension(RequestDto)
    {
        // The card fields as the request's kind names them (get-request.md, example 2; docs/compat.md).
        public static RequestDto From(CmRequest r) => From(r, RequestKinds.Of(r).WireCards(r));

        public static RequestDto From(CmRequest r, (Guid New, Guid Old) cards) => new(
            r.Uuid, (int)r.RequestType, (int)r.Status, (int)r.Flags,
            [.. r.DataCollection.Select(d => new DataItemDto(d.Name, d.Value))], r.DataCollectionFlags,
            r.OriginatorUserUuid, r.TargetUserUuid, WireFormat.Time(r.Submitted), WireFormat.Time(r.Completed),
            r.NewProfileUuid, r.OldProfileUuid, cards.New, cards.Old,
            r.Priority, r.Comment, r.ProfileTemplateUuid, r.SecurityDescriptor,
            r.IsSmartcard, r.IsEnrollmentAgent, r.IsDataCollectionComplete);
    }

    extension(ProfileTemplateDto)
    {
        public static ProfileTemplateDto From(ProfileTemplate t) =>
            new(t.Name, t.Description, t.Uuid, t.IsSmartcardProfileTemplate, t.IsVirtualSmartcardProfileTemplate);
    }

    extension(WorkflowPolicyDto)
    {
        public static WorkflowPolicyDto From(WorkflowPolicy p) => new(
            p.ApprovalsNeeded, p.AuthorizedApprover, p.AuthorizedEnrollmentAgent, p.AuthorizedInitiator,
            p.CollectComments, p.CollectRequestPriority, p.DefaultRequestPriority, p.Documents, p.Enabled,
            p.EnrollAgentRequired, p.OneTimePasswordPolicy, p.Personalization,
            [.. p.PolicyDataCollection.Select(d => new PolicyDataItemDto(d.Name, d.Description, d.Required, d.ValidationData))],
            p.SelfServiceEnabled);
    }

    extension(SmartcardConfigurationDto)
    {
        public static SmartcardConfigurationDto From(ProfileTemplate t, SmartcardConfiguration c) => new(
            c.DefaultAdminKeyHex, c.DiversifyAdminKey, c.AdminKeyDiversificationAlgorithm, (int)c.UserPinOption,
            c.MinimumPinLength, c.MaximumPinLength, (int)c.PinCharacters, c.Middleware,
            [.. (c.PhysicalCards ? ["Physical"] : Array.Empty<string>()), .. (c.VirtualCards ? ["Virtual"] : Array.Empty<string>())],
            EnrollmentService.SmartCardKsp, [.. t.CertificateTemplates.Select(x => x.CommonName)]);
    }

    extension(SmartcardDto)
    {
        // Flags 1 and the card id in braces as SerialNumber, as the reference's examples show; the ATR in lower-case hex.
        public static SmartcardDto From(StoredSmartcard c, ProfileTemplate? t) => new(
            c.Uuid, (int)c.Status, 1, c.ParentUuid, c.PrimaryUuid, c.PermanentUuid, c.UserUuid, c.TemplateUuid, c.TemplateVersion, "",
            "{" + c.CardId + "}", (t?.CardPolicy ?? SmartcardConfiguration.DefaultFor(isVirtual: false)).Middleware,
            c.Atr.ToLowerInvariant());
    }

    extension(GenerationOptionsDto)
    {
        public static GenerationOptionsDto From(GenerationOption o)
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

    extension(CertificateDto)
    {
        public static CertificateDto From(CertificateDelivery r) => new()
        {
            TemplateCommonName = r.Template.CommonName,
            Pkcs7 = r.Pkcs7 is null ? null : Base64Lines(r.Pkcs7),
            Pfx = r.Pfx is null ? null : Base64Lines(r.Pfx),
            IsServerGenerated = r.Pfx is not null,
            IsPfx = r.Pfx is not null,
            IsPkcs7 = r.Pkcs7 is not null,
            IsKeyHistory = r.IsKeyHistory,
        };
    }

    extension(ProfileDto)
    {
        // Flags 1 on every software profile, as in the reference's examples.
        public static ProfileDto From(ProfileView v) => new(
            v.Profile.Uuid, (int)v.Profile.Status, 1, v.Profile.ParentUuid, Guid.Empty, v.Profile.UserUuid,
            v.Profile.TemplateUuid, v.Profile.TemplateVersion, "", Operations(v.Operations));

        /// <summary>Operation names as the reference writes them: the request type, lower-case.</summary>
        public static IReadOnlyList<string> Operations(IReadOnlyList<RequestType> types) => [.. types.Select(t => t.ToString().ToLowerInvariant())];
    }

    extension(ProfileCertificateDto)
    {
        public static ProfileCertificateDto From(CertificateView v) =>
            new(false, v.ArchivedOnCa, 1, v.Certificate.Template, v.Certificate.SerialHex, v.Certificate.Certificate.Thumbprint);
    }

    extension(UserCertificateDto)
    {
        public static UserCertificateDto From(CertificateView v, string issuer) => new(
            false, v.ArchivedOnCa, 1, v.Certificate.Template, v.Certificate.SerialHex, v.Certificate.Certificate.Thumbprint,
            WireFormat.Time(v.Certificate.Certificate.NotAfter), WireFormat.Time(v.Certificate.Certificate.NotBefore), issuer, v.RequesterName, 0);
    }

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

/// <summary>
/// From the wire's request bodies (OpenCM.Contracts) to the use cases' Domain types. The wire's
/// enumerations carry the Domain's numbers (tests/OpenCM.Contracts.Tests pins every name and
/// number), so a cast maps them; a Domain value the wire lacks is not reachable from a body.
/// </summary>
internal static class WireInput
{
    public static RequestType ToDomain(this WireRequestType type) => (RequestType)(int)type;

    public static RequestStatus ToDomain(this WireRequestStatus status) => (RequestStatus)(int)status;

    public static SmartcardStatus ToDomain(this WireSmartcardStatus status) => (SmartcardStatus)(int)status;

    public static IReadOnlyList<DataItem> ToDomain(this IReadOnlyList<DataItemDto> items) => [.. items.Select(d => new DataItem(d.Name, d.Value))];
}
