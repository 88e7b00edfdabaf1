using System.Text.Json;
using OpenCM.Application;
using OpenCM.Domain;

namespace OpenCM.Application.Tests;

/// <summary><c>opencm templates export</c> and <c>remove</c> (issue #23.3): the file import takes back, and removal that orphans nothing.</summary>
public class TemplateExportRemoveTests
{
    private readonly FakeDirectory _directory = new();
    private readonly FakeTemplateStore _store = new();
    private readonly TemplateService _service;

    public TemplateExportRemoveTests() => _service = new TemplateService(_store, _directory, TimeProvider.System, new AccessPolicy(_directory, new OpenCmOptions()), _store);

    // Every section and most settings away from their defaults, so that a field export forgets shows.
    private const string Full = """
        uuid: 6f1c0b2a-1111-4222-8333-00000000e001
        name: Everything
        description: All the settings.
        isSmartcardProfileTemplate: true
        isVirtualSmartcardProfileTemplate: true
        policies:
          Revoke:
            selfServiceEnabled: false
            authorizedInitiator: "O:SYD:(A;;CR;;;{Help Desk})"
          Enroll:
            selfServiceEnabled: true
            approvalsNeeded: 2
            authorizedApprover: "O:SYD:(A;;CR;;;{Help Desk})"
            collectComments: true
            collectRequestPriority: true
            defaultRequestPriority: 7
            documents: [policy.pdf]
            enrollAgentRequired: true
            oneTimePasswordPolicy: Email
            personalization: Print
            dataCollectionFlags: 5
            dataCollection:
              - name: Reason
                description: Why.
                required: true
                validationData: "[a-z]+"
          TemporaryEnroll:
            enabled: false
        certificates:
          - commonName: Vpn
            friendlyName: VPN
            subject: "CN={name},O=Example"
            keyAlgorithm: ECDSA_P384
            hashAlgorithm: SHA384
            keyUsages: [DigitalSignature, KeyAgreement]
            extendedKeyUsages: [1.3.6.1.5.5.7.3.2, 1.3.6.1.4.1.311.20.2.2]
            validityDays: 90
            subjectAlternativeNames: [upn, email]
            requestedNames:
              dns: ["*.devices.contoso.com", localhost, "*.test"]
              ip: [10.0.0.0/8, 127.0.0.1, "fd00::/8"]
              uri: ["spiffe://contoso/*"]
              maxNames: 20
          - commonName: Archive
            keySize: 3072
            serverGeneratesKey: true
            keyUsages: [KeyEncipherment]
            extendedKeyUsages: []
        smartcard:
          defaultAdminKeyHex: 0A0B0C0D0E0F10110A0B0C0D0E0F10110A0B0C0D0E0F1011
          diversifyAdminKey: false
          userPinOption: ServerProposed
          minimumPinLength: 8
          maximumPinLength: 12
          pinCharacters: Alphanumeric
          middleware: Other
          physicalCards: true
          virtualCards: true
          temporaryCardValidityDays: 3
        protocols: [ACME, est]
        """;

    // A template's content, its version aside, policies in one order.
    private static string Content(ProfileTemplate t) =>
        JsonSerializer.Serialize(t with { Version = 0, Policies = new SortedDictionary<RequestType, WorkflowPolicy>(t.Policies.ToDictionary()) });

    [Theory]
    [InlineData(Full)]
    [InlineData("uuid: 6f1c0b2a-1111-4222-8333-00000000e002\nname: Bare")]
    [InlineData("uuid: 6f1c0b2a-1111-4222-8333-00000000e003\nname: Card defaults\nisSmartcardProfileTemplate: true")]
    public async Task Export_ImportedTemplate_ReimportsAsTheNextVersionWithTheSameContent(string text)
    {
        _directory.Add("Help Desk", PrincipalKind.Group);
        var first = await _service.ImportAsync(text, "t.yaml", Guid.Empty, "c");

        var exported = (await _service.ExportAsync(first)).ToJson();
        var second = await _service.ImportAsync(exported, "t.json", Guid.Empty, "c");

        Assert.Equal((first.Uuid, 2), (second.Uuid, second.Version));
        Assert.Equal(Content(first), Content(second));
        Assert.Equal(exported, (await _service.ExportAsync(second)).ToJson());
    }

    [Fact]
    public async Task Export_DescriptorSids_KnownPrincipalsByNameOthersStaySids()
    {
        _directory.Add("Help Desk", PrincipalKind.Group);
        var gone = _directory.Add("Gone", PrincipalKind.Group);
        var t = await _service.ImportAsync($"uuid: 6f1c0b2a-1111-4222-8333-00000000e004\nname: Named\npolicies:\n  Enroll:\n    authorizedInitiator: \"O:SYD:(A;;CR;;;{{Help Desk}})(A;;CR;;;{gone.Sid})(A;;CR;;;WD)\"", "n.yaml", Guid.Empty, "c");
        _directory.Remove(gone);

        var initiator = (await _service.ExportAsync(t)).Policies["Enroll"].AuthorizedInitiator;

        Assert.Equal($"O:SYD:(A;;CR;;;{{Help Desk}})(A;;CR;;;{gone.Sid})(A;;CR;;;WD)", initiator);
    }

    [Fact]
    public async Task Remove_UnusedTemplate_RemovedAndAudited()
    {
        var t = await _service.ImportAsync("uuid: 6f1c0b2a-1111-4222-8333-00000000e010\nname: Spare", "s.yaml", Guid.Empty, "c");

        var removed = await _service.RemoveAsync(t.Uuid, AuditContext.LocalOperator("alice"));

        Assert.Equal(t.Uuid, removed.Uuid);
        Assert.Empty(_store.Saved);
        Assert.Equal(("TemplateRemoved", t.Uuid, AuditContext.LocalOperatorId, "name=Spare version=1 operator=local-admin:alice"),
            (_store.Audited[^1].Kind, _store.Audited[^1].SubjectId, _store.Audited[^1].Actor, _store.Audited[^1].Detail));
    }

    [Theory]
    [InlineData(1, 0, 0, "1 request(s), 0 profile(s) and 0 smart card(s)")]
    [InlineData(3, 2, 1, "3 request(s), 2 profile(s) and 1 smart card(s)")]
    public async Task Remove_TemplateInUse_ConflictSayingWhatUsesItNothingRemovedOrAudited(long requests, long profiles, long cards, string says)
    {
        var t = await _service.ImportAsync("uuid: 6f1c0b2a-1111-4222-8333-00000000e011\nname: Busy", "b.yaml", Guid.Empty, "c");
        _store.Uses[t.Uuid] = (requests, profiles, cards);

        var ex = await Assert.ThrowsAsync<OpenCmException>(() => _service.RemoveAsync(t.Uuid, AuditContext.LocalOperator("alice")));

        Assert.Equal(ErrorKind.Conflict, ex.Error.Kind);
        Assert.Contains(says, ex.Error.Detail, StringComparison.Ordinal);
        Assert.True(_store.Saved.ContainsKey(t.Uuid));
        Assert.DoesNotContain(_store.Audited, a => a.Kind == "TemplateRemoved");
    }

    [Fact]
    public async Task Remove_UnknownTemplate_NotFound()
    {
        var ex = await Assert.ThrowsAsync<OpenCmException>(() => _service.RemoveAsync(Guid.NewGuid(), AuditContext.LocalOperator("alice")));
        Assert.Equal(ErrorKind.NotFound, ex.Error.Kind);
    }
}
