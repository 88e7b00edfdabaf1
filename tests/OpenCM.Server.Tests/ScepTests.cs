using System.Formats.Asn1;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using OpenCM.Application;
using OpenCM.Authority;
using OpenCM.Domain;
using OpenCM.Server.Endpoints;
using OpenCM.TestKit;

namespace OpenCM.Server.Tests;

/// <summary>Template files for SCEP's tests: label <c>scep-device</c> (auto-approved), <c>scep-approved-device</c> (two approvals), <c>no-scep-device</c>.</summary>
internal static class ScepTemplates
{
    public static string Yaml(string name, int approvals, string protocols = "[scep]") => $$"""
        uuid: {{Guid.NewGuid()}}
        name: {{name}}
        description: A device certificate over SCEP.
        isSmartcardProfileTemplate: false
        isVirtualSmartcardProfileTemplate: false
        protocols: {{protocols}}
        policies:
          Enroll:
            enabled: true
            selfServiceEnabled: true
            approvalsNeeded: {{approvals}}
            authorizedInitiator: "O:SYD:(A;;CR;;;{CM Managers})"
            authorizedApprover: "O:SYD:(A;;CR;;;{CM Approvers})"
            authorizedEnrollmentAgent: "O:SYD:(A;;CR;;;{CM Managers})"
            collectComments: true
            collectRequestPriority: false
            defaultRequestPriority: 0
            enrollAgentRequired: false
            dataCollection: []
        certificates:
          - commonName: SCEP Device
            friendlyName: SCEP Device
            subject: "CN={name},OU=Devices,O=OpenCM"
            keyAlgorithm: RSA
            keySize: 2048
            hashAlgorithm: SHA256
            keyUsages: [DigitalSignature, KeyEncipherment]
            extendedKeyUsages: ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]
            validityDays: 90
            requestedNames:
              dns: [localhost, "*.test"]
              ip: [127.0.0.1]
        """;

    public static async Task ImportAsync(IServiceProvider services)
    {
        var templates = services.GetRequiredService<TemplateService>();
        await services.GetRequiredService<DirectoryAdministration>().AddUserAsync(new AuditContext(Guid.Empty, "test"), "approver-seed", ["CM Approvers"], null, null);
        foreach (var (name, approvals, protocols) in new[] { ("SCEP Device", 0, "[scep]"), ("SCEP Approved Device", 2, "[scep, est]"), ("No Scep Device", 0, "[est]") })
        {
            await templates.ImportAsync(Yaml(name, approvals, protocols), name + ".yaml", Guid.Empty, "test");
        }

        // The samples the docs use: tls-server (auto-approved, CN={requested}).
        await templates.ImportAsync(await File.ReadAllTextAsync(Path.Combine(RepositoryRoot(), "samples", "templates", "tls-server.yaml")), "tls-server.yaml", Guid.Empty, "test");
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "OpenCM.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("OpenCM.slnx not found above the test's directory.");
    }
}

/// <summary>The server on Kestrel, so that Debian's scepclient (micromdm) reaches it, with SCEP's templates.</summary>
public class ScepFixture : ServerFixture
{
    private readonly Lazy<Task> _templates;

    public ScepFixture()
    {
        _templates = new Lazy<Task>(() => ScepTemplates.ImportAsync(Services));
        UseKestrel(0);
        StartServer();
    }

    public string ScepUrl => Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/') + "/CertificateManagement/scep";

    public Task TemplatesAsync() => _templates.Value;

    /// <summary>A challenge for a new user (returned) on the template labelled <paramref name="label"/>.</summary>
    public async Task<(string Secret, Principal User)> ChallengeAsync(string label)
    {
        await TemplatesAsync();
        var user = await UserAsync("scep");
        var issued = await Services.GetRequiredService<ScepChallenges>().IssueAsync(label, user.Uuid, "test");
        return (issued.Secret, user);
    }

    /// <summary>The SHA-256 of the RA certificate GetCACert names: scepclient's <c>-ca-fingerprint</c>, so that it envelopes for the RA only.</summary>
    public async Task<string> RaFingerprintAsync() =>
        Convert.ToHexStringLower(SHA256.HashData((await Services.GetRequiredService<ScepRaKeys>().CurrentAsync()).Certificate.RawData));
}

public class ScepTests : IClassFixture<ScepFixture>
{
    private const string Route = "/CertificateManagement/scep";
    private readonly ScepFixture _server;

    public ScepTests(ScepFixture server) => _server = server;

    [Fact]
    public async Task GetCACaps_Get_TextCapabilities()
    {
        var response = await _server.CreateClient().GetAsync(Route + "?operation=GetCACaps");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType!.MediaType);
        Assert.Equal(["AES", "POSTPKIOperation", "Renewal", "SCEPStandard", "SHA-256"], (await response.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    // RFC 8894 §4.2.1.2: the RA certificate (keyEncipherment, for clients that select by it) with the CA chain, certs-only, DER.
    [Fact]
    public async Task GetCACert_Get_RaAndChainCertsOnly()
    {
        var response = await _server.CreateClient().GetAsync(Route + "?operation=GetCACert&message=anything");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/x-x509-ca-ra-cert", response.Content.Headers.ContentType!.MediaType);
        using var dir = new TempDirectory();
        await File.WriteAllBytesAsync(dir.File("cacert.der"), await response.Content.ReadAsByteArrayAsync());
        var printed = await OpenSsl.CheckAsync(dir.Path, "pkcs7", "-inform", "DER", "-in", "cacert.der", "-print_certs");
        var certificates = new X509Certificate2Collection();
        certificates.ImportFromPem(printed);
        var ra = Assert.Single(certificates.Cast<X509Certificate2>(), c => c.Subject.EndsWith("SCEP RA", StringComparison.Ordinal));
        Assert.Equal(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, ra.Extensions.OfType<X509KeyUsageExtension>().Single().KeyUsages);
        Assert.Equal("1.2.840.113549.1.1.1", ra.PublicKey.Oid.Value);
        Assert.Equal(await _server.RaFingerprintAsync(), Convert.ToHexStringLower(SHA256.HashData(ra.RawData)));

        var chain = await _server.CreateClient().GetStringAsync("/CertificateManagement/ca/chain.pem");
        await File.WriteAllTextAsync(dir.File("chain.pem"), chain);
        await File.WriteAllTextAsync(dir.File("ra.pem"), PemEncoding.WriteString("CERTIFICATE", ra.RawData));
        Assert.Contains("ra.pem: OK", await OpenSsl.CheckAsync(dir.Path, ["verify", .. OpenSsl.At(_server.Clock.GetUtcNow()), "-CAfile", "chain.pem", "ra.pem"]), StringComparison.Ordinal);
        var chainCertificates = new X509Certificate2Collection();
        chainCertificates.ImportFromPem(chain);
        Assert.Equal(certificates.Count - 1, chainCertificates.Count);
    }

    // Hostile or broken requests before any CertRep can be made: a 4xx with a text body, never a 5xx, nothing created.
    [Theory]
    [InlineData("GET", "", null, HttpStatusCode.BadRequest)]
    [InlineData("GET", "?operation=GetCACaps&operation=GetCACert", null, HttpStatusCode.BadRequest)]
    [InlineData("GET", "?operation=Nonsense", null, HttpStatusCode.BadRequest)]
    [InlineData("GET", "?operation=GetNextCACert", null, HttpStatusCode.BadRequest)]
    [InlineData("PUT", "?operation=GetCACaps", null, HttpStatusCode.MethodNotAllowed)]
    [InlineData("DELETE", "?operation=PKIOperation", null, HttpStatusCode.MethodNotAllowed)]
    [InlineData("POST", "?operation=PKIOperation", "", HttpStatusCode.BadRequest)]
    [InlineData("POST", "?operation=PKIOperation", "not a pkiMessage", HttpStatusCode.BadRequest)]
    [InlineData("POST", "?operation=PKIOperation", "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA", HttpStatusCode.BadRequest)]
    [InlineData("GET", "?operation=PKIOperation", null, HttpStatusCode.BadRequest)]
    [InlineData("GET", "?operation=PKIOperation&message=%21%21%21", null, HttpStatusCode.BadRequest)]
    [InlineData("GET", "?operation=PKIOperation&message=MAA%3D", null, HttpStatusCode.BadRequest)]
    [InlineData("POST", "?operation=PKIOperation", "big", HttpStatusCode.RequestEntityTooLarge)]
    // (A GET whose message is over the limit is longer than Kestrel's request line: 414 before OpenCM sees it.)
    public async Task Request_Hostile_4xxTextNothingCreated(string method, string query, string? body, HttpStatusCode expected)
    {
        await _server.TemplatesAsync();
        var before = await RequestCountAsync();
        using var request = new HttpRequestMessage(new HttpMethod(method), Route + query);
        if (body is not null)
        {
            request.Content = new ByteArrayContent(body == "big" ? new byte[100_000] : System.Text.Encoding.ASCII.GetBytes(body));
        }

        var response = await _server.CreateClient().SendAsync(request);
        Assert.Equal(expected, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        Assert.DoesNotContain("{", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(before, await RequestCountAsync());
    }

    // A readable pkiMessage SCEP must refuse: a CertRep FAILURE with the failInfo RFC 8894 §3.2.1.4 names, signed by the RA; nothing created.
    [Theory]
    [InlineData("other recipient", "1")]
    [InlineData("no challenge", "2")]
    [InlineData("unknown challenge", "2")]
    [InlineData("CSR of another key", "1")]
    [InlineData("renewal by a stranger's certificate", "4")]
    [InlineData("poll of an unknown transaction", "4")]
    [InlineData("GetCRL", "2")]
    public async Task PkiOperation_Refused_CertRepFailureNothingCreated(string kind, string failInfo)
    {
        await _server.TemplatesAsync();
        var before = await RequestCountAsync();
        using var client = new TestScepClient();
        var ra = (await _server.Services.GetRequiredService<ScepRaKeys>().CurrentAsync()).Certificate;
        var secret = (await _server.ChallengeAsync("scep-device")).Secret;
        using var strangerKey = RSA.Create(2048);
        var message = kind switch
        {
            "other recipient" => client.Message(ScepMessageTypes.PKCSReq, client.Csr("localhost", secret), TestScepClient.SelfSigned(strangerKey)),
            "no challenge" => client.Message(ScepMessageTypes.PKCSReq, client.Csr("localhost", null), ra),
            "unknown challenge" => client.Message(ScepMessageTypes.PKCSReq, client.Csr("localhost", "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"), ra),
            "CSR of another key" => client.Message(ScepMessageTypes.PKCSReq, TestScepClient.CsrOf(strangerKey, "localhost", secret), ra),
            "renewal by a stranger's certificate" => client.Message(ScepMessageTypes.RenewalReq, client.Csr("localhost", null), ra, signer: client.IssuedBy(strangerKey)),
            "poll of an unknown transaction" => client.Message(ScepMessageTypes.CertPoll, TestScepClient.IssuerAndSubject(ra), ra),
            _ => client.Message(ScepMessageTypes.GetCRL, TestScepClient.IssuerAndSubject(ra), ra),
        };

        var answer = await TestScepClient.PostAsync(_server.CreateClient(), Route, message);
        var reply = TestScepClient.Read(answer, ra);
        Assert.Equal(("2", failInfo), (reply.Status, reply.FailInfo));
        Assert.Equal(client.TransactionId, reply.TransactionId);
        Assert.Equal(Convert.ToHexString(client.Nonce), reply.RecipientNonce);
        Assert.Equal(before, await RequestCountAsync());
    }

    // A challenge is used once: a second transaction with it is refused (the first one's resends are not: see the enrollment tests).
    [Fact]
    public async Task Challenge_UsedByAnotherTransaction_FailureBadRequest()
    {
        var (secret, _) = await _server.ChallengeAsync("scep-device");
        var challenges = _server.Services.GetRequiredService<ScepChallenges>();
        Assert.NotNull(await challenges.RedeemAsync(secret, "first", "key-1"));
        Assert.NotNull(await challenges.RedeemAsync(secret.ToLowerInvariant(), "first", "key-1"));
        Assert.Null(await challenges.RedeemAsync(secret, "second", "key-2"));
        Assert.Null(await challenges.RedeemAsync(secret, "first", "key-2"));
    }

    [Theory]
    [InlineData("no-scep-device", "template")]
    [InlineData("scep-device-x", "template")]
    [InlineData("SCEP-Device", "template")]
    public async Task Challenge_TemplateWithoutScep_ValidationFailed(string label, string field)
    {
        await _server.TemplatesAsync();
        var user = await _server.UserAsync("scep");
        var refused = await Assert.ThrowsAsync<OpenCmException>(() => _server.Services.GetRequiredService<ScepChallenges>().IssueAsync(label, user.Uuid, "test"));
        Assert.Equal((ErrorKind.ValidationFailed, field), (refused.Error.Kind, refused.Error.Field));
    }

    // Debian's scepclient (micromdm 2.1: DES envelope, SHA-1 signature) against Kestrel: a wrong challenge is a FAILURE it reads, so it checked the RA's signature.
    [SkippableFact]
    public async Task ScepClient_WrongChallenge_FailureBadRequestNothingCreated()
    {
        ScepClientTool.SkipIfMissing();
        await _server.TemplatesAsync();
        var before = await RequestCountAsync();
        using var dir = new TempDirectory();
        var (exit, output) = await ScepClientTool.RunAsync(dir.Path, TimeSpan.FromMinutes(2), "-server-url", _server.ScepUrl, "-private-key", dir.File("key.pem"),
            "-challenge", "00000000000000000000000000000000", "-cn", "localhost", "-ca-fingerprint", await _server.RaFingerprintAsync());
        Assert.True(exit == 1, output);
        Assert.Contains("failInfo: badRequest (2)", output, StringComparison.Ordinal);
        Assert.False(File.Exists(dir.File("client.pem")));
        Assert.Equal(before, await RequestCountAsync());
    }

    // certmonger's scep-submit run alone: GetCACaps, and GetCACert, whose RA (the first certificate it prints) and CA it tells apart.
    [SkippableFact]
    public async Task CertmongerScepSubmit_CapsAndCaCert_RaThenCa()
    {
        Prerequisite.SkipIfMissing(!File.Exists(ScepClientTool.ScepSubmit), $"{ScepClientTool.ScepSubmit} is not installed (apt-get install certmonger).");
        using var dir = new TempDirectory();
        var (exit, caps) = await ScepClientTool.RunToolAsync(ScepClientTool.ScepSubmit, dir.Path, TimeSpan.FromMinutes(1), "-u", _server.ScepUrl, "-c");
        Assert.True(exit == 0, caps);
        Assert.Contains("POSTPKIOperation", caps, StringComparison.Ordinal);
        Assert.Contains("SHA-256", caps, StringComparison.Ordinal);

        (exit, var printed) = await ScepClientTool.RunToolAsync(ScepClientTool.ScepSubmit, dir.Path, TimeSpan.FromMinutes(1), "-u", _server.ScepUrl, "-C");
        Assert.True(exit == 0, printed);
        var certificates = new X509Certificate2Collection();
        certificates.ImportFromPem(printed);
        Assert.True(certificates.Count >= 2, printed);
        Assert.Equal(await _server.RaFingerprintAsync(), Convert.ToHexStringLower(SHA256.HashData(certificates[0].RawData)));
        var chain = new X509Certificate2Collection();
        chain.ImportFromPem(await _server.CreateClient().GetStringAsync("/CertificateManagement/ca/chain.pem"));
        Assert.Equal(chain[0].RawData, certificates[1].RawData);
    }

    // The one ErrorKind → failInfo mapping (issue #24.5): refusals are the client's badRequest; what a retry may cure stays an HTTP status.
    [Theory]
    [InlineData(ErrorKind.ValidationFailed, Authority.Scep.ScepFailInfo.BadRequest)]
    [InlineData(ErrorKind.Forbidden, Authority.Scep.ScepFailInfo.BadRequest)]
    [InlineData(ErrorKind.PolicyDisabled, Authority.Scep.ScepFailInfo.BadRequest)]
    [InlineData(ErrorKind.NotFound, Authority.Scep.ScepFailInfo.BadRequest)]
    [InlineData(ErrorKind.InvalidStatusTransition, Authority.Scep.ScepFailInfo.BadRequest)]
    [InlineData(ErrorKind.RateLimited, null)]
    [InlineData(ErrorKind.Unavailable, null)]
    [InlineData(ErrorKind.Conflict, null)]
    [InlineData(ErrorKind.Internal, null)]
    public void ScepFailures_Kind_FailInfoOrHttp(ErrorKind kind, Authority.Scep.ScepFailInfo? expected) => Assert.Equal(expected, ScepFailures.Of(kind));

    // A challenge is a credential: issuing one writes ScepChallengeIssued (template, expiry, who; never the secret) with the challenge row.
    [Fact]
    public async Task Challenge_Issued_AuditedWithoutTheSecret()
    {
        var (secret, user) = await _server.ChallengeAsync("scep-device");
        var events = await _server.Services.GetRequiredService<IAuditLog>().ForSubjectAsync(user.Uuid);
        var issued = Assert.Single(events, e => e.Event.Kind == "ScepChallengeIssued").Event;
        Assert.Contains("template=", issued.Detail, StringComparison.Ordinal);
        Assert.Contains("operator=test", issued.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain(secret, issued.Detail, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Challenge_Expired_Refused()
    {
        var (secret, _) = await _server.ChallengeAsync("scep-device");
        // The fixture's clock only moves forward: the other tests issue their challenges from whatever time it shows.
        _server.Clock.Advance(TimeSpan.FromMinutes(61));
        Assert.Null(await _server.Services.GetRequiredService<ScepChallenges>().RedeemAsync(secret, "late", "key"));
    }

    private async Task<int> RequestCountAsync()
    {
        var admin = await _server.AdminAsync();
        var list = await (await admin.GetAsync(ServerFixture.Api + "/requests?top=1000")).JsonAsync();
        return list.GetArrayLength();
    }
}

/// <summary>SCEP's messageType numbers, as a client sends them.</summary>
internal static class ScepMessageTypes
{
    public const int RenewalReq = 17;
    public const int PKCSReq = 19;
    public const int CertPoll = 20;
    public const int GetCRL = 22;
}

/// <summary>A SCEP client written out (RFC 8894 §3), for the messages scepclient cannot be made to send.</summary>
internal sealed class TestScepClient : IDisposable
{
    private readonly RSA _key = RSA.Create(2048);

    public string TransactionId { get; } = Convert.ToHexString(RandomNumberGenerator.GetBytes(20));

    public byte[] Nonce { get; } = RandomNumberGenerator.GetBytes(16);

    public RSA Key => _key;

    public void Dispose() => _key.Dispose();

    public byte[] Csr(string cn, string? challenge) => CsrOf(_key, cn, challenge);

    public static byte[] CsrOf(RSA key, string cn, string? challenge)
    {
        var request = new CertificateRequest("CN=" + cn, key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        if (challenge is not null)
        {
            var writer = new AsnWriter(AsnEncodingRules.DER);
            writer.WriteCharacterString(UniversalTagNumber.PrintableString, challenge);
            request.OtherRequestAttributes.Add(new AsnEncodedData("1.2.840.113549.1.9.7", writer.Encode()));
        }

        return request.CreateSigningRequest();
    }

    public static X509Certificate2 SelfSigned(RSA key) =>
        new CertificateRequest("CN=stranger", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1).CreateSelfSigned(Samples.Now.AddDays(-1), Samples.Now.AddDays(1));

    // A certificate of _key issued by some other CA: a renewal signer OpenCM never issued.
    public X509Certificate2 IssuedBy(RSA caKey)
    {
        var caRequest = new CertificateRequest("CN=Other CA", caKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        caRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caRequest.PublicKey, false));
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        using var ca = caRequest.CreateSelfSigned(Samples.Now.AddDays(-1), Samples.Now.AddDays(30));
        var leaf = new CertificateRequest("CN=renewer", _key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        leaf.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        using var issued = leaf.Create(ca, Samples.Now.AddDays(-1), Samples.Now.AddDays(10), [1, 2, 3]);
        return issued.CopyWithPrivateKey(_key);
    }

    public static byte[] IssuerAndSubject(X509Certificate2 ca)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteEncodedValue(ca.SubjectName.RawData);
            writer.WriteEncodedValue(new X500DistinguishedName("CN=localhost").RawData);
        }

        return writer.Encode();
    }

    public byte[] Message(int type, byte[] data, X509Certificate2 recipient, X509Certificate2? signer = null)
    {
        var envelope = new EnvelopedCms(new ContentInfo(data), new AlgorithmIdentifier(new Oid("2.16.840.1.101.3.4.1.42")));
        envelope.Encrypt(new CmsRecipient(SubjectIdentifierType.IssuerAndSerialNumber, recipient, RSAEncryptionPadding.Pkcs1));
        var signed = new SignedCms(new ContentInfo(envelope.Encode()));
        using var self = signer is null ? new CertificateRequest("CN=localhost", _key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1).CreateSelfSigned(Samples.Now.AddDays(-1), Samples.Now.AddDays(1)) : null;
        var cms = new CmsSigner(SubjectIdentifierType.IssuerAndSerialNumber, signer ?? self!) { DigestAlgorithm = new Oid("2.16.840.1.101.3.4.2.1"), IncludeOption = X509IncludeOption.EndCertOnly };
        cms.SignedAttributes.Add(Printable("2.16.840.1.113733.1.9.2", type.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        cms.SignedAttributes.Add(Printable("2.16.840.1.113733.1.9.7", TransactionId));
        var nonce = new AsnWriter(AsnEncodingRules.DER);
        nonce.WriteOctetString(Nonce);
        cms.SignedAttributes.Add(new AsnEncodedData("2.16.840.1.113733.1.9.5", nonce.Encode()));
        signed.ComputeSignature(cms, silent: true);
        return signed.Encode();
    }

    public static async Task<byte[]> PostAsync(HttpClient http, string route, byte[] message)
    {
        var response = await http.PostAsync(route + "?operation=PKIOperation", new ByteArrayContent(message));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/x-pki-message", response.Content.Headers.ContentType!.MediaType);
        return await response.Content.ReadAsByteArrayAsync();
    }

    public sealed record Reply(string Status, string? FailInfo, string TransactionId, string RecipientNonce, byte[] Content);

    public static Reply Read(byte[] answer, X509Certificate2 ra)
    {
        var signed = new SignedCms();
        signed.Decode(answer);
        signed.CheckSignature(new X509Certificate2Collection(ra), verifySignatureOnly: true);
        var values = new Dictionary<string, string>();
        foreach (var attribute in signed.SignerInfos[0].SignedAttributes)
        {
            var reader = new AsnReader(attribute.Values[0].RawData, AsnEncodingRules.DER);
            var tag = reader.PeekTag();
            values[attribute.Oid.Value!] = tag.HasSameClassAndValue(Asn1Tag.PrimitiveOctetString) ? Convert.ToHexString(reader.ReadOctetString())
                : tag.TagValue == (int)UniversalTagNumber.PrintableString ? reader.ReadCharacterString(UniversalTagNumber.PrintableString) : "?";
        }

        Assert.Equal("3", values["2.16.840.1.113733.1.9.2"]);
        return new Reply(values["2.16.840.1.113733.1.9.3"], values.GetValueOrDefault("2.16.840.1.113733.1.9.4"), values["2.16.840.1.113733.1.9.7"], values["2.16.840.1.113733.1.9.6"], signed.ContentInfo.Content);
    }

    private static AsnEncodedData Printable(string oid, string value)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        writer.WriteCharacterString(UniversalTagNumber.PrintableString, value);
        return new AsnEncodedData(oid, writer.Encode());
    }
}

/// <summary>Debian's scepclient (micromdm, package scep) run against the server.</summary>
internal static class ScepClientTool
{
    public const string Path = "/usr/bin/scepclient";

    public static void SkipIfMissing() => Prerequisite.SkipIfMissing(!File.Exists(Path), $"{Path} is not installed (apt-get install scep).");

    /// <summary>Runs scepclient in <paramref name="dir"/> (key, CSR, self-signed and issued certificate there) until it exits; failing the test after <paramref name="timeout"/>.</summary>
    public static Task<(int ExitCode, string Output)> RunAsync(string dir, TimeSpan timeout, params string[] args) => RunToolAsync(Path, dir, timeout, args);

    /// <summary>certmonger's SCEP helper, runnable alone (certmonger-scep-submit(8)).</summary>
    public const string ScepSubmit = "/usr/lib/certmonger/scep-submit";

    public static async Task<(int ExitCode, string Output)> RunToolAsync(string tool, string dir, TimeSpan timeout, params string[] args)
    {
        var (exit, output, error) = await ToolProcess.RunAsync(tool, args, timeout, dir);
        return (exit, output + error);
    }
}
