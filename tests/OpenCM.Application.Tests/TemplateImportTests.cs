using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.Security.Sddl;

namespace OpenCM.Application.Tests;

/// <summary>Hand-written fakes of the ports the template use cases need.</summary>
internal sealed class FakeDirectory : IDirectory
{
    private readonly List<Principal> _all = [];

    public Principal Add(string name, PrincipalKind kind)
    {
        var p = new Principal(Guid.NewGuid(), name, Sid.Parse($"S-1-5-21-9-9-9-{1000 + _all.Count}"), kind);
        _all.Add(p);
        return p;
    }

    public Task<Principal?> FindAsync(Guid uuid, CancellationToken ct = default) => Task.FromResult(_all.FirstOrDefault(p => p.Uuid == uuid));

    public Task<Principal?> FindByNameAsync(string name, CancellationToken ct = default) =>
        Task.FromResult(_all.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase)));

    public Task<IReadOnlyList<Principal>> GroupsOfAsync(Guid userUuid, CancellationToken ct = default) => Task.FromResult<IReadOnlyList<Principal>>([]);

    public Task<Principal> AddUserAsync(string name, IReadOnlyList<string> groups, CancellationToken ct = default) => Task.FromResult(Add(name, PrincipalKind.User));

    public Task<Principal> EnsureGroupAsync(string name, CancellationToken ct = default) => Task.FromResult(Add(name, PrincipalKind.Group));

    public Task<IReadOnlyList<DirectoryUser>> ListUsersAsync(CancellationToken ct = default) => Task.FromResult<IReadOnlyList<DirectoryUser>>([]);

    public Task<bool> RemoveUserAsync(Guid user, CancellationToken ct = default) => Task.FromResult(_all.RemoveAll(p => p.Uuid == user) > 0);

    public Task<bool> RemoveMembershipAsync(Guid user, Guid group, CancellationToken ct = default) => Task.FromResult(false);

    public Task<bool> SetPasswordHashAsync(Guid user, string hash, CancellationToken ct = default) => Task.FromResult(false);

    public Task<string?> PasswordHashAsync(Guid user, CancellationToken ct = default) => Task.FromResult<string?>(null);
}

internal sealed class FakeTemplateStore : ITemplateStore
{
    public Dictionary<Guid, ProfileTemplate> Saved { get; } = [];

    public Task<IReadOnlyList<ProfileTemplate>> ListAsync(CancellationToken ct = default) => Task.FromResult<IReadOnlyList<ProfileTemplate>>([.. Saved.Values]);

    public Task<ProfileTemplate?> FindAsync(Guid id, CancellationToken ct = default) => Task.FromResult(Saved.GetValueOrDefault(id));

    public Task<ProfileTemplate> SaveAsync(ProfileTemplate template, AuditEvent audit, CancellationToken ct = default)
    {
        var saved = template with { Version = Saved.TryGetValue(template.Uuid, out var old) ? old.Version + 1 : 1 };
        Saved[template.Uuid] = saved;
        return Task.FromResult(saved);
    }
}

public class TemplateImportTests
{
    private readonly FakeDirectory _directory = new();
    private readonly FakeTemplateStore _store = new();
    private readonly TemplateService _service;

    public TemplateImportTests() => _service = new TemplateService(_store, _directory, TimeProvider.System, new AccessPolicy(_directory, new OpenCmOptions()));

    [Fact]
    public async Task Import_YamlWithPlaceholders_ResolvesToCanonicalSddl()
    {
        var approvers = _directory.Add("CM Approvers", PrincipalKind.Group);
        var t = await _service.ImportAsync("""
            uuid: 6f1c0b2a-1111-4222-8333-944455556666
            name: T
            policies:
              enroll:
                approvalsNeeded: 1
                authorizedApprover: "O:BAD:(A;;CR;;;{cm approvers})(A;;RC;;;S-1-1-0)"
                dataCollection:
                  - name: Reason
                    required: true
                    validationData: "[a-z]+"
              TemporaryEnroll:
                enabled: false
            """, "t.yaml", Guid.Empty, "c");
        var enroll = t.PolicyFor(RequestType.Enroll)!;
        Assert.Equal($"O:BAD:(A;;CR;;;{approvers.Sid})(A;;RC;;;WD)", enroll.AuthorizedApprover);
        Assert.Equal((1, true, "[a-z]+"), (enroll.ApprovalsNeeded, enroll.Enabled, enroll.PolicyDataCollection[0].ValidationData));
        Assert.False(t.PolicyFor(RequestType.TemporaryCards)!.Enabled);
        Assert.Equal(WorkflowPolicy.DefaultDataCollectionFlags, enroll.DataCollectionFlags);
    }

    public static TheoryData<string, string> Invalid() => new()
    {
        { "name: no uuid", "uuid" },
        { "uuid: 6f1c0b2a-1111-4222-8333-944455556666", "name" },
        { "uuid: 6f1c0b2a-1111-4222-8333-944455556666\nname: x\npolicies:\n  Enrol: {}", "policies.Enrol" },
        { "uuid: 6f1c0b2a-1111-4222-8333-944455556666\nname: x\npolicies:\n  Enroll:\n    approvalsNeeded: -1", "policies.Enroll" },
        { "uuid: 6f1c0b2a-1111-4222-8333-944455556666\nname: x\npolicies:\n  Enroll:\n    authorizedInitiator: \"D:(A;;ZZ;;;WD)\"", "policies.Enroll.authorizedInitiator" },
        { "uuid: 6f1c0b2a-1111-4222-8333-944455556666\nname: x\npolicies:\n  Enroll:\n    dataCollection: [{name: a}, {name: A}]", "policies.Enroll.dataCollection" },
        { "uuid: 6f1c0b2a-1111-4222-8333-944455556666\nname: x\nsmartcard: {}", "smartcard" },
        { "uuid: 6f1c0b2a-1111-4222-8333-944455556666\nname: x\nisSmartcardProfileTemplate: true\nsmartcard: {defaultAdminKeyHex: \"0102\"}", "smartcard.defaultAdminKeyHex" },
        { "uuid: 6f1c0b2a-1111-4222-8333-944455556666\nname: x\nisSmartcardProfileTemplate: true\nsmartcard: {adminKeyDiversificationAlgorithm: XOR}", "smartcard.adminKeyDiversificationAlgorithm" },
        { "uuid: 6f1c0b2a-1111-4222-8333-944455556666\nname: x\nisSmartcardProfileTemplate: true\nsmartcard: {minimumPinLength: 9, maximumPinLength: 8}", "smartcard.minimumPinLength" },
        { "uuid: 6f1c0b2a-1111-4222-8333-944455556666\nname: x\nisSmartcardProfileTemplate: true\nsmartcard: {minimumPinLength: 3}", "smartcard.minimumPinLength" },
        { "uuid: 6f1c0b2a-1111-4222-8333-944455556666\nname: x\nisSmartcardProfileTemplate: true\nsmartcard: {userPinOption: Maybe}", "smartcard.userPinOption" },
        { "uuid: 6f1c0b2a-1111-4222-8333-944455556666\nname: x\nisSmartcardProfileTemplate: true\nsmartcard: {physicalCards: false}", "smartcard.physicalCards" },
        { "{\"uuid\": 5}", "bad.json" },
        { "uuid: [", "bad.json" },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public async Task Import_InvalidFile_NamesTheField(string text, string field)
    {
        var ex = await Assert.ThrowsAsync<OpenCmException>(() => _service.ImportAsync(text, "bad.json", Guid.Empty, "c"));
        Assert.Equal((ErrorKind.ValidationFailed, field), (ex.Error.Kind, ex.Error.Field));
        Assert.Empty(_store.Saved);
    }

    [Theory]
    [InlineData("isSmartcardProfileTemplate: true", true, false)]
    [InlineData("isVirtualSmartcardProfileTemplate: true", false, true)]
    public async Task Import_SmartcardTemplateWithoutSection_DefaultCardPolicy(string kind, bool physical, bool virtualCards)
    {
        var t = await _service.ImportAsync($"uuid: 6f1c0b2a-1111-4222-8333-944455556666\nname: card\n{kind}", "card.yaml", Guid.Empty, "c");
        var c = t.Smartcard!;
        Assert.Equal((SmartcardConfiguration.BaseCspDefaultAdminKeyHex, true, DiversificationAlgorithms.Sp800108HmacSha256, UserPinOption.UserProvided, 6, 8),
            (c.DefaultAdminKeyHex, c.DiversifyAdminKey, c.AdminKeyDiversificationAlgorithm, c.UserPinOption, c.MinimumPinLength, c.MaximumPinLength));
        Assert.Equal((physical, virtualCards), (c.PhysicalCards, c.VirtualCards));
    }

    [Fact]
    public async Task Import_SoftwareTemplate_NoCardPolicy() =>
        Assert.Null((await _service.ImportAsync("uuid: 6f1c0b2a-1111-4222-8333-944455556666\nname: soft", "soft.yaml", Guid.Empty, "c")).Smartcard);

    [Fact]
    public async Task Import_CertificateTemplates_ParsedWithDefaults()
    {
        var t = await _service.ImportAsync("""
            uuid: 6f1c0b2a-1111-4222-8333-944455556670
            name: C
            certificates:
              - commonName: A
                keyAlgorithm: ecdsa_p384
                keyUsages: [digitalSignature, keyAgreement]
              - commonName: B
                serverGeneratesKey: true
            """, "c.yaml", Guid.Empty, "c");
        Assert.Equal(2, t.CertificateTemplates.Count);
        Assert.Equal((KeyAlgorithm.EcdsaP384, 384, CertificateKeyUsage.DigitalSignature | CertificateKeyUsage.KeyAgreement),
            (t.CertificateTemplates[0].KeyAlgorithm, t.CertificateTemplates[0].EffectiveKeySize, t.CertificateTemplates[0].KeyUsages));
        Assert.Equal((KeyAlgorithm.Rsa, 2048, true), (t.CertificateTemplates[1].KeyAlgorithm, t.CertificateTemplates[1].KeySize, t.CertificateTemplates[1].ServerGeneratesKey));
    }

    [Theory]
    [InlineData("- commonName: ''", "certificates[0].commonName")]
    [InlineData("- {commonName: A, keyAlgorithm: DSA}", "certificates[0].keyAlgorithm")]
    [InlineData("- {commonName: A, keySize: 1024}", "certificates[0].keySize")]
    [InlineData("- {commonName: A, hashAlgorithm: MD5}", "certificates[0].hashAlgorithm")]
    [InlineData("- {commonName: A, validityDays: 0}", "certificates[0].validityDays")]
    [InlineData("- {commonName: A, keyUsages: [Teleport]}", "certificates[0].keyUsages")]
    [InlineData("- {commonName: A, extendedKeyUsages: [clientAuth]}", "certificates[0].extendedKeyUsages")]
    [InlineData("- {commonName: A}\n  - {commonName: a}", "certificates")]
    [InlineData("- {commonName: A, subject: 'CN={name},XYZ=nope'}", "certificates[0].subject")]
    [InlineData("- {commonName: A, subject: 'CN={name},nope'}", "certificates[0].subject")]
    [InlineData("- {commonName: A, subject: 'C={name}'}", "certificates[0].subject")]
    public async Task Import_BadCertificateTemplate_NamesTheField(string certificates, string field)
    {
        var text = "uuid: 6f1c0b2a-1111-4222-8333-944455556671\nname: C\ncertificates:\n  " + certificates;
        var ex = await Assert.ThrowsAsync<OpenCmException>(() => _service.ImportAsync(text, "c.yaml", Guid.Empty, "c"));
        Assert.Equal(field, ex.Error.Field);
    }

    [Fact]
    public async Task Import_JsonForm_SameAsYaml()
    {
        var t = await _service.ImportAsync("""{"Uuid":"6f1c0b2a-1111-4222-8333-944455556667","Name":"J","IsVirtualSmartcardProfileTemplate":true,"Policies":{"Enroll":{"SelfServiceEnabled":true}}}""", "j.json", Guid.Empty, "c");
        Assert.True(t.IsSmartcardProfileTemplate && t.IsVirtualSmartcardProfileTemplate);
        Assert.True(t.PolicyFor(RequestType.Enroll)!.SelfServiceEnabled);
    }

    [Fact]
    public async Task ListVisible_PlainUser_SeesOnlySelfServiceOrInitiatorTemplates()
    {
        var initiators = _directory.Add("Helpdesk", PrincipalKind.Group);
        await _service.ImportAsync("uuid: 6f1c0b2a-1111-4222-8333-000000000001\nname: Self\npolicies:\n  Enroll:\n    selfServiceEnabled: true", "a", Guid.Empty, "c");
        await _service.ImportAsync("uuid: 6f1c0b2a-1111-4222-8333-000000000002\nname: Desk\npolicies:\n  Enroll:\n    authorizedInitiator: \"O:SYD:(A;;CR;;;{Helpdesk})\"", "b", Guid.Empty, "c");
        await _service.ImportAsync("uuid: 6f1c0b2a-1111-4222-8333-000000000003\nname: Off\npolicies:\n  Enroll:\n    enabled: false\n    selfServiceEnabled: true", "c", Guid.Empty, "c");
        var user = new Caller(Guid.NewGuid(), Sid.Parse("S-1-5-21-9-9-9-5000"), [], "u");
        var desk = new Caller(Guid.NewGuid(), Sid.Parse("S-1-5-21-9-9-9-5001"), [initiators.Sid], "d");
        Assert.Equal(["Self"], (await _service.ListVisibleAsync(user)).Select(t => t.Name));
        Assert.Equal(["Self", "Desk"], (await _service.ListVisibleAsync(desk)).Select(t => t.Name));
        await Assert.ThrowsAsync<OpenCmException>(() => _service.GetAsync(user, Guid.Parse("6f1c0b2a-1111-4222-8333-000000000003")));
    }
}
