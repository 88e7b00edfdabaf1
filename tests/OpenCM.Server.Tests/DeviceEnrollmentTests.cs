using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.DependencyInjection;
using OpenCM.Application;
using OpenCM.Domain;

namespace OpenCM.Server.Tests;

/// <summary>
/// The one-shot device enrollment the protocol front-ends drive (issue #24.1), on the sample
/// templates tls-server (no approval) and tls-server-approved (one approval), through the
/// server's own services and storage.
/// </summary>
public class DeviceEnrollmentTests : IClassFixture<ServerFixture>
{
    public static readonly Guid TlsServer = Guid.Parse("3f7c2d1e-8a4b-4c6d-9e0f-1a2b3c4d5e61");
    public static readonly Guid TlsServerApproved = Guid.Parse("3f7c2d1e-8a4b-4c6d-9e0f-1a2b3c4d5e62");
    private readonly ServerFixture _server;

    public DeviceEnrollmentTests(ServerFixture server) => _server = server;

    private DeviceEnrollment Enrollment => _server.Services.GetRequiredService<DeviceEnrollment>();

    [Fact]
    public async Task Submit_AutoApprovedTemplate_IssuedAndCompletedWithTheRequestedNames()
    {
        var (user, caller) = await DeviceAsync();
        var (csr, names) = Csr("CN=ignored", "a.test", "127.0.0.1");
        Assert.Equal([new RequestedName(RequestedNameKind.Dns, "a.test"), new RequestedName(RequestedNameKind.Ip, "127.0.0.1")], names);

        var issued = Assert.IsType<DeviceOutcome.Issued>(await Enrollment.SubmitAsync(caller, new DeviceEnrollmentInput(EnrollmentProtocol.Est, TlsServer, csr, names), "test"));

        // An ordinary request, Completed, with a certificate whose subject and SAN are the names asked for.
        Assert.Equal(RequestStatus.Completed, issued.Request.Status);
        Assert.Equal(RequestType.Enroll, issued.Request.RequestType);
        Assert.Equal(user.Uuid, issued.Request.TargetUserUuid);
        using var certificate = X509CertificateLoader.LoadCertificate(issued.Certificate.Der);
        Assert.Equal("CN=a.test", certificate.Subject);
        var san = certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        Assert.Equal(["a.test"], san.EnumerateDnsNames());
        Assert.Equal([IPAddress.Loopback], san.EnumerateIPAddresses());

        // The owner sees it in the MIM CM request list like any other.
        var client = await _server.ClientAsync(user);
        var list = await client.GetStringAsync($"{ServerFixture.Api}/requests");
        Assert.Contains(issued.Request.Uuid.ToString("D"), list, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Issued_LikeAnyRequest_AuditedRevocableOnTheCrlAndTheChainIntact()
    {
        var (user, caller) = await DeviceAsync();
        var (csr, names) = Csr("CN=r.test", "r.test");
        var issued = Assert.IsType<DeviceOutcome.Issued>(await Enrollment.SubmitAsync(caller, new DeviceEnrollmentInput(EnrollmentProtocol.Scep, TlsServer, csr, names), "test"));

        // 1. The request's audit trail: created, claimed with the serial, signed, completed.
        var audit = _server.Services.GetRequiredService<IAuditLog>();
        var kinds = (await audit.ForSubjectAsync(issued.Request.Uuid)).Select(e => e.Event.Kind).ToList();
        Assert.Equal(["RequestCreated", "StatusChanged", "CertificatesIssued", "StatusChanged"], kinds);

        // 2. The owner revokes it through MIM CM's API (the template's Revoke is self-service): it is on the CRL.
        var client = await _server.ClientAsync(user);
        var revoke = await client.PostAsync($"{ServerFixture.Api}/requests",
            Http.Json($$"""{"type":"Revoke","profile":"{{issued.Request.NewProfileUuid}}","datacollection":[],"comment":""}"""));
        Assert.Equal(HttpStatusCode.Created, revoke.StatusCode);
        var crl = await _server.CreateClient().GetByteArrayAsync("/CertificateManagement/crl/OpenCM-Root-CA.crl");
        using var dir = new OpenCM.TestKit.TempDirectory();
        await File.WriteAllTextAsync(dir.File("ca.crl"), PemEncoding.WriteString("X509 CRL", crl));
        var text = await OpenCM.TestKit.OpenSsl.CheckAsync(dir.Path, "crl", "-in", "ca.crl", "-noout", "-text");
        Assert.Contains($"Serial Number: {issued.Certificate.SerialHex}", text, StringComparison.OrdinalIgnoreCase);
        Assert.True((await AuditChain.VerifyAsync(audit, _server.Services.GetRequiredService<AuditChainKey>())).IsIntact);
    }

    [Theory]
    [InlineData("b.example.com")]
    [InlineData("a.b.test")]
    [InlineData("10.1.2.3")]
    public async Task Submit_NameTheTemplateDoesNotAllow_ValidationFailedAndNothingCreated(string name)
    {
        var (user, caller) = await DeviceAsync();
        var (csr, names) = Csr("CN=x", name);

        var refused = await Assert.ThrowsAsync<OpenCmException>(() => Enrollment.SubmitAsync(caller, new DeviceEnrollmentInput(EnrollmentProtocol.Acme, TlsServer, csr, names), "test"));
        Assert.Equal(ErrorKind.ValidationFailed, refused.Error.Kind);
        Assert.Equal("requestedNames", refused.Error.Field);
        Assert.Empty(await RequestsOfAsync(user));
    }

    [Fact]
    public async Task Submit_PemWhoseLabelsDiffer_ReadAsTheCheckerReadsItAndIssued()
    {
        // The checker takes the body between the first line and the last -----END whatever the
        // labels; the engine keeps the request the same way (it once failed here with a 500).
        var (_, caller) = await DeviceAsync();
        var (csr, names) = Csr("CN=p.test", "p.test");
        var pem = $"-----BEGIN CERTIFICATE REQUEST-----\n{csr}\n-----END SOMETHING ELSE-----\n";

        var issued = Assert.IsType<DeviceOutcome.Issued>(await Enrollment.SubmitAsync(caller, new DeviceEnrollmentInput(EnrollmentProtocol.Est, TlsServer, pem, names), "test"));
        Assert.Equal(RequestStatus.Completed, issued.Request.Status);
    }

    [Fact]
    public async Task Submit_PolicyCollectsNoComments_IssuedWithoutOne()
    {
        // The policy refuses comments (SPEC §6): the engine then sends none of its own.
        var name = $"Quiet {Guid.NewGuid():N}"[..20];
        var template = await _server.Services.GetRequiredService<TemplateService>().ImportAsync($$"""
            uuid: {{Guid.NewGuid()}}
            name: {{name}}
            protocols: [acme]
            policies:
              Enroll: { enabled: true, selfServiceEnabled: true, approvalsNeeded: 0, collectComments: false }
            certificates:
              - commonName: Quiet
                subject: "CN={requested}"
                keyAlgorithm: RSA
                requestedNames: { dns: ["*.test"] }
            """, "test.yaml", Guid.Empty, "test");
        var (_, caller) = await DeviceAsync();
        var (csr, names) = Csr("CN=q.test", "q.test");

        var issued = Assert.IsType<DeviceOutcome.Issued>(await Enrollment.SubmitAsync(caller, new DeviceEnrollmentInput(EnrollmentProtocol.Acme, template.Uuid, csr, names), "test"));
        Assert.True(string.IsNullOrEmpty(issued.Request.Comment));
        Assert.Equal(RequestStatus.Completed, issued.Request.Status);
    }

    [Fact]
    public async Task Submit_ServerKeyTemplate_IssuedWithTheKeyOnceAndArchived()
    {
        // RFC 7030 §4.4: the server makes the key (RSA, the template's) whatever key signs the CSR (here ECDSA).
        var template = await ServerKeyTemplateAsync();
        var (_, caller) = await DeviceAsync();
        using var csrKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=k.test", csrKey, HashAlgorithmName.SHA256);
        var der = request.CreateSigningRequest();
        var input = new DeviceEnrollmentInput(EnrollmentProtocol.Est, template.Uuid, Convert.ToBase64String(der), DeviceNames.OfCertificateRequest(der), "kg-1", ServerKey: true);

        var issued = Assert.IsType<DeviceOutcome.Issued>(await Enrollment.SubmitAsync(caller, input, "test"));

        Assert.Equal(RequestStatus.Completed, issued.Request.Status);
        using var certificate = X509CertificateLoader.LoadCertificate(issued.Certificate.Der);
        Assert.Equal("CN=k.test", certificate.Subject);
        using var key = RSA.Create();
        key.ImportPkcs8PrivateKey(Assert.IsType<byte[]>(issued.Pkcs8PrivateKey), out _);
        Assert.Equal(certificate.PublicKey.ExportSubjectPublicKeyInfo(), key.ExportSubjectPublicKeyInfo());
        Assert.NotNull(await _server.Services.GetRequiredService<IProfileStore>().ArchivedKeyAsync(issued.Certificate.SerialHex));

        // The same submission again (a retry), and a poll: the certificate, never the key again.
        var retried = Assert.IsType<DeviceOutcome.Issued>(await Enrollment.SubmitAsync(caller, input, "test"));
        var polled = Assert.IsType<DeviceOutcome.Issued>(await Enrollment.ResumeAsync(caller, issued.Request.Uuid, "test"));
        Assert.All([retried, polled], again =>
        {
            Assert.Null(again.Pkcs8PrivateKey);
            Assert.Equal(issued.Certificate.SerialHex, again.Certificate.SerialHex);
        });
    }

    [Fact]
    public async Task Resume_ServerKeyTemplateApproved_ThePollThatIssuesCarriesTheKeyTheNextDoesNot()
    {
        var template = await ServerKeyTemplateAsync(approvals: 1);
        var (_, caller) = await DeviceAsync();
        var (csr, names) = Csr("CN=p.test", "p.test");
        var waiting = Assert.IsType<DeviceOutcome.Waiting>(await Enrollment.SubmitAsync(caller,
            new DeviceEnrollmentInput(EnrollmentProtocol.Est, template.Uuid, csr, names, ServerKey: true), "test"));
        var approver = await _server.ClientAsync(await _server.UserAsync("appr", "CM Approvers"));
        Assert.Equal(HttpStatusCode.OK, (await approver.VoteAsync(waiting.Request.Uuid, "Approve")).StatusCode);

        var issued = Assert.IsType<DeviceOutcome.Issued>(await Enrollment.ResumeAsync(caller, waiting.Request.Uuid, "test"));
        using var certificate = X509CertificateLoader.LoadCertificate(issued.Certificate.Der);
        using var key = RSA.Create();
        key.ImportPkcs8PrivateKey(Assert.IsType<byte[]>(issued.Pkcs8PrivateKey), out _);
        Assert.Equal(certificate.PublicKey.ExportSubjectPublicKeyInfo(), key.ExportSubjectPublicKeyInfo());
        Assert.Null(Assert.IsType<DeviceOutcome.Issued>(await Enrollment.ResumeAsync(caller, waiting.Request.Uuid, "test")).Pkcs8PrivateKey);
    }

    [Theory]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public async Task Submit_ServerKeyAskedOfTheWrongTemplate_ValidationFailedAndNothingCreated(bool serverKeyTemplate, bool serverKeyAsked)
    {
        // A client-key template cannot make keys; a server-key template's key must not be dropped by a front-end that cannot deliver it.
        var template = serverKeyTemplate ? (await ServerKeyTemplateAsync()).Uuid : TlsServer;
        var (user, caller) = await DeviceAsync();
        var (csr, names) = Csr("CN=w.test", "w.test");

        var refused = await Assert.ThrowsAsync<OpenCmException>(() =>
            Enrollment.SubmitAsync(caller, new DeviceEnrollmentInput(EnrollmentProtocol.Est, template, csr, names, ServerKey: serverKeyAsked), "test"));
        Assert.Equal(ErrorKind.ValidationFailed, refused.Error.Kind);
        Assert.Equal("template", refused.Error.Field);
        Assert.Empty(await RequestsOfAsync(user));
    }

    [Fact]
    public async Task Submit_ServerKeyWithBadlySignedCsr_ValidationFailedAndNothingCreated()
    {
        var template = await ServerKeyTemplateAsync();
        var (user, caller) = await DeviceAsync();
        var (csr, names) = Csr("CN=s.test", "s.test");
        var der = Convert.FromBase64String(csr);
        der[^1] ^= 0x01; // the signature's last byte

        var refused = await Assert.ThrowsAsync<OpenCmException>(() =>
            Enrollment.SubmitAsync(caller, new DeviceEnrollmentInput(EnrollmentProtocol.Est, template.Uuid, Convert.ToBase64String(der), names, ServerKey: true), "test"));
        Assert.Equal(ErrorKind.ValidationFailed, refused.Error.Kind);
        Assert.Empty(await RequestsOfAsync(user));
    }

    // A device template whose one certificate has the server make (and archive) the key: EST only, names under .test.
    internal static string ServerKeyTemplateYaml(string name, int approvals = 0) => $$"""
        uuid: {{Guid.NewGuid()}}
        name: {{name}}
        protocols: [est]
        policies:
          Enroll: { enabled: true, selfServiceEnabled: true, approvalsNeeded: {{approvals}}, collectComments: false, authorizedApprover: "O:SYD:(A;;CR;;;{CM Approvers})" }
        certificates:
          - commonName: Keygen
            subject: "CN={requested}"
            keyAlgorithm: RSA
            keySize: 2048
            serverGeneratesKey: true
            requestedNames: { dns: ["*.test"] }
        """;

    private async Task<ProfileTemplate> ServerKeyTemplateAsync(int approvals = 0) =>
        await _server.Services.GetRequiredService<TemplateService>().ImportAsync(ServerKeyTemplateYaml($"Keygen {Guid.NewGuid():N}"[..20], approvals), "test.yaml", Guid.Empty, "test");

    [Fact]
    public async Task RestCreate_TemplateWhoseSubjectIsTheRequestedName_RefusedNamingTheProtocols()
    {
        var (user, _) = await DeviceAsync();
        var client = await _server.ClientAsync(user);

        var response = await client.CreateAsync(TlsServer);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("ValidationFailed", await response.ErrorCodeAsync());
        Assert.Contains("EST, SCEP or ACME", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Empty(await RequestsOfAsync(user));
    }

    [Fact]
    public async Task Submit_TemplateWithoutTheProtocol_NotFound()
    {
        var (user, caller) = await DeviceAsync();
        var (csr, names) = Csr("CN=x", "a.test");

        var refused = await Assert.ThrowsAsync<OpenCmException>(() =>
            Enrollment.SubmitAsync(caller, new DeviceEnrollmentInput(EnrollmentProtocol.Scep, ServerFixture.UserCertificate, csr, names), "test"));
        Assert.Equal(ErrorKind.NotFound, refused.Error.Kind);
        Assert.Empty(await RequestsOfAsync(user));
    }

    [Fact]
    public async Task Submit_NotACertificateRequest_ValidationFailedAndNothingCreated()
    {
        var (user, caller) = await DeviceAsync();

        var refused = await Assert.ThrowsAsync<OpenCmException>(() =>
            Enrollment.SubmitAsync(caller, new DeviceEnrollmentInput(EnrollmentProtocol.Est, TlsServer, Convert.ToBase64String([0x30, 0x03, 0x02, 0x01, 0x00]), []), "test"));
        Assert.Equal(ErrorKind.ValidationFailed, refused.Error.Kind);
        Assert.Empty(await RequestsOfAsync(user));
    }

    [Fact]
    public async Task Submit_ApprovalTemplate_WaitsThenTheRetryAfterApprovalIssuesAndAgainReturnsTheSameCertificate()
    {
        var (_, caller) = await DeviceAsync();
        var (csr, names) = Csr("CN=b.test");
        Assert.Equal([new RequestedName(RequestedNameKind.Dns, "b.test")], names);
        var input = new DeviceEnrollmentInput(EnrollmentProtocol.Scep, TlsServerApproved, csr, names, ClientReference: "transaction-" + Guid.NewGuid().ToString("N"));

        // 1. Pending: one approval missing; a retry with the same reference is the same request.
        var waiting = Assert.IsType<DeviceOutcome.Waiting>(await Enrollment.SubmitAsync(caller, input, "test"));
        Assert.Equal(1, waiting.ApprovalsNeeded);
        Assert.Equal(RequestStatus.Pending, waiting.Request.Status);
        var again = Assert.IsType<DeviceOutcome.Waiting>(await Enrollment.SubmitAsync(caller, input, "test"));
        Assert.Equal(waiting.Request.Uuid, again.Request.Uuid);
        Assert.Equal(waiting.Request.Uuid, await Enrollment.FindAsync(caller, EnrollmentProtocol.Scep, input.ClientReference!));
        Assert.Null(await Enrollment.FindAsync(caller, EnrollmentProtocol.Acme, input.ClientReference!));

        // 2. An approver approves through MIM CM's API.
        var approver = await _server.ClientAsync(await _server.UserAsync("appr", "CM Approvers"));
        Assert.Equal(HttpStatusCode.OK, (await approver.VoteAsync(waiting.Request.Uuid, "Approve")).StatusCode);

        // 3. The client's next poll issues; the one after returns the same certificate.
        var issued = Assert.IsType<DeviceOutcome.Issued>(await Enrollment.SubmitAsync(caller, input, "test"));
        Assert.Equal(RequestStatus.Completed, issued.Request.Status);
        var polled = Assert.IsType<DeviceOutcome.Issued>(await Enrollment.ResumeAsync(caller, waiting.Request.Uuid, "test"));
        Assert.Equal(issued.Certificate.SerialHex, polled.Certificate.SerialHex);
        using var certificate = X509CertificateLoader.LoadCertificate(issued.Certificate.Der);
        Assert.Equal("CN=b.test", certificate.Subject);
    }

    [Fact]
    public async Task Resume_DeniedRequest_RefusedWithItsStatus()
    {
        var (_, caller) = await DeviceAsync();
        var (csr, names) = Csr("CN=c.test", "c.test");
        var waiting = Assert.IsType<DeviceOutcome.Waiting>(await Enrollment.SubmitAsync(caller, new DeviceEnrollmentInput(EnrollmentProtocol.Est, TlsServerApproved, csr, names), "test"));
        var approver = await _server.ClientAsync(await _server.UserAsync("appr", "CM Approvers"));
        Assert.Equal(HttpStatusCode.OK, (await approver.VoteAsync(waiting.Request.Uuid, "Deny")).StatusCode);

        var refused = await Assert.ThrowsAsync<OpenCmException>(() => Enrollment.ResumeAsync(caller, waiting.Request.Uuid, "test"));
        Assert.Equal(ErrorKind.InvalidStatusTransition, refused.Error.Kind);
        Assert.Equal(RequestStatus.Denied, refused.Error.CurrentStatus);
    }

    [Fact]
    public async Task Resume_AnotherCallersOrAnUnknownOrAnOrdinaryRequest_NotFoundAlike()
    {
        var (_, owner) = await DeviceAsync();
        var (_, other) = await DeviceAsync();
        var (csr, names) = Csr("CN=d.test", "d.test");
        var waiting = Assert.IsType<DeviceOutcome.Waiting>(await Enrollment.SubmitAsync(owner, new DeviceEnrollmentInput(EnrollmentProtocol.Est, TlsServerApproved, csr, names), "test"));
        var ordinary = await (await _server.AdminAsync()).CreateIdAsync(ServerFixture.UserCertificate);
        var admin = await _server.Services.GetRequiredService<DirectoryCallers>().ForUserAsync((await _server.Services.GetRequiredService<IDirectory>().FindByNameAsync("admin"))!.Uuid);

        foreach (var (caller, id) in new[] { (other, waiting.Request.Uuid), (owner, Guid.NewGuid()), (admin!, ordinary) })
        {
            var refused = await Assert.ThrowsAsync<OpenCmException>(() => Enrollment.ResumeAsync(caller, id, "test"));
            Assert.Equal(ErrorKind.NotFound, refused.Error.Kind);
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("tab\there")]
    public async Task Submit_MalformedClientReference_ValidationFailed(string reference)
    {
        var (_, caller) = await DeviceAsync();
        var (csr, names) = Csr("CN=e.test", "e.test");
        var refused = await Assert.ThrowsAsync<OpenCmException>(() =>
            Enrollment.SubmitAsync(caller, new DeviceEnrollmentInput(EnrollmentProtocol.Est, TlsServer, csr, names, reference), "test"));
        Assert.Equal(ErrorKind.ValidationFailed, refused.Error.Kind);
    }

    [Fact]
    public async Task ForUser_UnknownOrAGroup_Null()
    {
        var callers = _server.Services.GetRequiredService<DirectoryCallers>();
        Assert.Null(await callers.ForUserAsync(Guid.NewGuid()));
        Assert.Null(await callers.ForUserAsync((await _server.Services.GetRequiredService<IDirectory>().FindByNameAsync("CM Approvers"))!.Uuid));
    }

    [Fact]
    public void Names_NotARequest_ValidationFailedOnCsr()
    {
        var refused = Assert.Throws<OpenCmException>(() => DeviceNames.OfCertificateRequest([0x30, 0x00]));
        Assert.Equal("csr", refused.Error.Field);
    }

    [Theory]
    [InlineData("CN=host.example.com", "host.example.com")]
    [InlineData("CN=not a host", null)]
    [InlineData("CN=nodot", null)]
    [InlineData("O=Contoso", null)]
    public void Names_NoSubjectAltName_TheCommonNameWhenItIsAHost(string subject, string? expected)
    {
        var (_, names) = Csr(subject);
        Assert.Equal(expected is null ? [] : [new RequestedName(RequestedNameKind.Dns, expected)], names);
    }

    [Fact]
    public void Names_UriAndIpv6_ReadInOrder()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=x", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(new Uri("spiffe://contoso/a"));
        san.AddIpAddress(IPAddress.IPv6Loopback);
        san.AddEmailAddress("ignored@contoso.test");
        request.CertificateExtensions.Add(san.Build());
        Assert.Equal(
            [new RequestedName(RequestedNameKind.Uri, "spiffe://contoso/a"), new RequestedName(RequestedNameKind.Ip, "::1")],
            DeviceNames.OfCertificateRequest(request.CreateSigningRequest()));
    }

    private async Task<(Principal User, Caller Caller)> DeviceAsync()
    {
        var user = await _server.UserAsync("device");
        var caller = await _server.Services.GetRequiredService<DirectoryCallers>().ForUserAsync(user.Uuid);
        return (user, Assert.IsType<Caller>(caller));
    }

    private async Task<string> RequestsOfAsync(Principal user) =>
        (await (await _server.ClientAsync(user)).GetStringAsync($"{ServerFixture.Api}/requests")).Trim() is "[]" ? "" : "some";

    // An RSA 2048 request (the sample templates' key) with the given DNS names and addresses in its SAN.
    private static (string Base64, IReadOnlyList<RequestedName> Names) Csr(string subject, params string[] names)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        if (names.Length > 0)
        {
            var san = new SubjectAlternativeNameBuilder();
            foreach (var name in names)
            {
                if (IPAddress.TryParse(name, out var address))
                {
                    san.AddIpAddress(address);
                }
                else
                {
                    san.AddDnsName(name);
                }
            }

            request.CertificateExtensions.Add(san.Build());
        }

        var der = request.CreateSigningRequest();
        return (Convert.ToBase64String(der), DeviceNames.OfCertificateRequest(der));
    }
}
