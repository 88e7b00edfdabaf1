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

    /// <summary>Takes a principal out, as a directory that lost it.</summary>
    public void Remove(Principal principal) => _all.Remove(principal);

    public Task<Principal?> FindAsync(Guid uuid, CancellationToken ct = default) => Task.FromResult(_all.FirstOrDefault(p => p.Uuid == uuid));

    public Task<Principal?> FindByNameAsync(string name, CancellationToken ct = default) =>
        Task.FromResult(_all.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase)));

    public Task<IReadOnlyList<Principal>> GroupsOfAsync(Guid userUuid, CancellationToken ct = default) => Task.FromResult<IReadOnlyList<Principal>>([]);

    public Task<IReadOnlyList<Principal>> UsersNamedByAsync(Sid sid, int max, CancellationToken ct = default) => Task.FromResult<IReadOnlyList<Principal>>([]);

    public Task<Principal?> FindBySidAsync(Sid sid, CancellationToken ct = default) => Task.FromResult(_all.FirstOrDefault(p => p.Sid == sid));

    public Task<Sid> DomainSidAsync(CancellationToken ct = default) => Task.FromResult(Sid.Parse("S-1-5-21-9-9-9"));
}

/// <summary>
/// Templates in memory, written through the unit of work as storage writes them: a version by
/// compare-and-set on the expected one, names unique regardless of case. <see cref="Overtake"/>
/// lets a test play another server that stores a version between the read and the write.
/// </summary>
internal sealed class FakeTemplateStore : ITemplateStore, ITransactions, IUnitOfWork, ITemplateWrites, IAuditWrites
{
    public Dictionary<Guid, ProfileTemplate> Saved { get; } = [];

    public List<AuditEvent> Audited { get; } = [];

    /// <summary>Run once, just before the next write: another server's save.</summary>
    public Action? Overtake { get; set; }

    public IRequestWrites Requests => throw new NotSupportedException();

    public IProfileWrites Profiles => throw new NotSupportedException();

    public ICertificateWrites Certificates => throw new NotSupportedException();

    public ICardWrites Cards => throw new NotSupportedException();

    public IAuditWrites Audit => this;

    public ITemplateWrites Templates => this;

    public IDirectoryWrites Directory => throw new NotSupportedException();

    public ICaNoticeWrites Notices => throw new NotSupportedException();

    public IEventWrites Events => throw new NotSupportedException();

    public IAuthorityWrites Authorities => throw new NotSupportedException();

    public IDeviceSubmissionWrites DeviceSubmissions => throw new NotSupportedException();

    public Task<IReadOnlyList<ProfileTemplate>> ListAsync(CancellationToken ct = default) => Task.FromResult<IReadOnlyList<ProfileTemplate>>([.. Saved.Values]);

    public Task<ProfileTemplate?> FindAsync(Guid id, CancellationToken ct = default) => Task.FromResult(Saved.GetValueOrDefault(id));

    public async Task<T> RunAsync<T>(Func<IUnitOfWork, CancellationToken, Task<T>> work, CancellationToken ct = default)
    {
        // All or nothing: what the work wrote is kept only if it returns.
        var saved = new Dictionary<Guid, ProfileTemplate>(Saved);
        var audited = Audited.Count;
        try
        {
            return await work(this, ct);
        }
        catch
        {
            Saved.Clear();
            foreach (var (k, v) in saved)
            {
                Saved[k] = v;
            }

            Audited.RemoveRange(audited, Audited.Count - audited);
            throw;
        }
    }

    public Task<bool> TryStoreVersionAsync(ProfileTemplate template, int expectedVersion, DateTimeOffset at, CancellationToken ct)
    {
        var overtake = Overtake;
        Overtake = null;
        overtake?.Invoke();
        var stored = Saved.TryGetValue(template.Uuid, out var old) ? old.Version : 0;
        if (stored != expectedVersion || Saved.Values.Any(t => t.Uuid != template.Uuid && string.Equals(t.Name, template.Name, StringComparison.OrdinalIgnoreCase)))
        {
            return Task.FromResult(false);
        }

        Saved[template.Uuid] = template;
        return Task.FromResult(true);
    }

    /// <summary>Templates requests, profiles or cards name: (requests, profiles, cards) per uuid.</summary>
    public Dictionary<Guid, (long Requests, long Profiles, long Smartcards)> Uses { get; } = [];

    public Task<TemplateRemoval> TryRemoveAsync(Guid uuid, int expectedVersion, CancellationToken ct)
    {
        var (requests, profiles, cards) = Uses.GetValueOrDefault(uuid);
        var removed = requests + profiles + cards == 0 && Saved.TryGetValue(uuid, out var t) && t.Version == expectedVersion && Saved.Remove(uuid);
        return Task.FromResult(new TemplateRemoval(removed, requests, profiles, cards));
    }

    public Task AppendAsync(AuditEvent audit, CancellationToken ct)
    {
        Audited.Add(audit);
        return Task.CompletedTask;
    }
}

public class TemplateImportTests
{
    private readonly FakeDirectory _directory = new();
    private readonly FakeTemplateStore _store = new();
    private readonly TemplateService _service;

    public TemplateImportTests() => _service = new TemplateService(_store, _directory, TimeProvider.System, new AccessPolicy(_directory, new OpenCmOptions()), _store);

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
        { "uuid: 6f1c0b2a-1111-4222-8333-944455556666\nname: x\nprotocols: [est, cmp]", "protocols" },
        { "uuid: 6f1c0b2a-1111-4222-8333-944455556666\nname: x\nprotocols: [\"1\"]", "protocols" },
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
    [InlineData("- {commonName: A, requestedNames: {dns: ['*.*.x']}}", "certificates[0].requestedNames.dns")]
    [InlineData("- {commonName: A, requestedNames: {dns: ['*']}}", "certificates[0].requestedNames.dns")]
    [InlineData("- {commonName: A, requestedNames: {dns: ['a.*.x']}}", "certificates[0].requestedNames.dns")]
    [InlineData("- {commonName: A, requestedNames: {ip: ['10.0.0.1/8']}}", "certificates[0].requestedNames.ip")]
    [InlineData("- {commonName: A, requestedNames: {ip: ['10.0.0.0/40']}}", "certificates[0].requestedNames.ip")]
    [InlineData("- {commonName: A, requestedNames: {uri: ['spiffe://u@contoso/*']}}", "certificates[0].requestedNames.uri")]
    [InlineData("- {commonName: A, requestedNames: {dns: [localhost], maxNames: 0}}", "certificates[0].requestedNames.maxNames")]
    public async Task Import_BadCertificateTemplate_NamesTheField(string certificates, string field)
    {
        var text = "uuid: 6f1c0b2a-1111-4222-8333-944455556671\nname: C\ncertificates:\n  " + certificates;
        var ex = await Assert.ThrowsAsync<OpenCmException>(() => _service.ImportAsync(text, "c.yaml", Guid.Empty, "c"));
        Assert.Equal(field, ex.Error.Field);
    }

    [Fact]
    public async Task Import_ProtocolsAndRequestedNames_ParsedEachProtocolOnceNoneByDefault()
    {
        var t = await _service.ImportAsync("""
            uuid: 6f1c0b2a-1111-4222-8333-944455556672
            name: Devices
            protocols: [SCEP, acme, Est, scep]
            certificates:
              - commonName: Tls
                requestedNames:
                  dns: ["*.devices.contoso.com."]
                  ip: [10.0.0.0/8]
              - commonName: Empty
                requestedNames: {dns: []}
              - commonName: None
            """, "d.yaml", Guid.Empty, "c");

        Assert.Equal([EnrollmentProtocol.Est, EnrollmentProtocol.Scep, EnrollmentProtocol.Acme], t.Protocols);
        var rules = t.CertificateTemplates[0].RequestedNames!;
        Assert.Equal(["*.devices.contoso.com."], rules.Dns);
        Assert.Equal(["10.0.0.0/8"], rules.Ip);
        Assert.Equal(RequestedNameRules.DefaultMaxNames, rules.MaxNames);
        Assert.True(RequestedNames.Check(rules, [new RequestedName(RequestedNameKind.Dns, "a.devices.contoso.com")]).IsAccepted);
        Assert.Null(t.CertificateTemplates[1].RequestedNames);
        Assert.Null(t.CertificateTemplates[2].RequestedNames);
        Assert.Empty((await _service.ImportAsync("uuid: 6f1c0b2a-1111-4222-8333-944455556673\nname: Plain", "p.yaml", Guid.Empty, "c")).Protocols);
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

    [Fact]
    public async Task Import_SameUuidTwice_NextVersionAuditedWithActorAndCorrelation()
    {
        var actor = Guid.NewGuid();
        const string Text = "uuid: 6f1c0b2a-1111-4222-8333-000000000010\nname: Versioned";
        Assert.Equal(1, (await _service.ImportAsync(Text, "v.yaml", actor, "corr-1")).Version);
        Assert.Equal(2, (await _service.ImportAsync(Text, "v.yaml", AuditContext.LocalOperator("alice"))).Version);
        Assert.Equal(2, _store.Saved[Guid.Parse("6f1c0b2a-1111-4222-8333-000000000010")].Version);
        Assert.Equal(("TemplateImported", actor, "corr-1", "name=Versioned version=1"), (_store.Audited[0].Kind, _store.Audited[0].Actor, _store.Audited[0].CorrelationId, _store.Audited[0].Detail));
        Assert.Equal((AuditContext.LocalOperatorId, "name=Versioned version=2 operator=local-admin:alice"), (_store.Audited[1].Actor, _store.Audited[1].Detail));
        Assert.StartsWith("cli-", _store.Audited[1].CorrelationId, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Import_NameAnotherTemplateHolds_ValidationNamingNameAndNothingWritten()
    {
        await _service.ImportAsync("uuid: 6f1c0b2a-1111-4222-8333-000000000011\nname: Taken", "a", Guid.Empty, "c");
        var ex = await Assert.ThrowsAsync<OpenCmException>(() => _service.ImportAsync("uuid: 6f1c0b2a-1111-4222-8333-000000000012\nname: TAKEN", "b", Guid.Empty, "c"));
        Assert.Equal((ErrorKind.ValidationFailed, "name"), (ex.Error.Kind, ex.Error.Field));
        Assert.Single(_store.Saved);
        Assert.Single(_store.Audited);
    }

    [Fact]
    public async Task Import_AnotherServerStoresAVersionMeanwhile_ConflictAndNotAudited()
    {
        const string Text = "uuid: 6f1c0b2a-1111-4222-8333-000000000013\nname: Raced";
        var first = await _service.ImportAsync(Text, "r.yaml", Guid.Empty, "c");
        _store.Overtake = () => _store.Saved[first.Uuid] = first with { Version = 2, Description = "theirs" };
        var ex = await Assert.ThrowsAsync<OpenCmException>(() => _service.ImportAsync(Text, "r.yaml", Guid.Empty, "c"));
        Assert.Equal(ErrorKind.Conflict, ex.Error.Kind);
        Assert.Equal((2, "theirs"), (_store.Saved[first.Uuid].Version, _store.Saved[first.Uuid].Description));
        Assert.Single(_store.Audited);
    }
}
