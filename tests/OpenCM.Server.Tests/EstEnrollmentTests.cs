using System.Formats.Asn1;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using OpenCM.Application;
using OpenCM.Composition;
using OpenCM.Domain;
using OpenCM.TestKit;

namespace OpenCM.Server.Tests;

/// <summary>The server with EST templates that certify names (tls-est: P-256, est-rsa: RSA) and a user with a password.</summary>
public sealed class EstEnrollFixture : ServerFixture
{
    public const string Password = "est-device-password-1";
    private readonly Lazy<Task<Principal>> _ready;

    public EstEnrollFixture() => _ready = new Lazy<Task<Principal>>(PrepareAsync);

    /// <summary>The user devices enroll as (Basic), once the templates are stored.</summary>
    public Task<Principal> DeviceUserAsync() => _ready.Value;

    private async Task<Principal> PrepareAsync()
    {
        var templates = Services.GetRequiredService<TemplateService>();
        await templates.ImportAsync(Template("TLS EST", "ECDSA_P256", "SHA256"), "tls-est.yaml", Guid.Empty, "test");
        await templates.ImportAsync(Template("EST RSA", "RSA", "SHA384"), "est-rsa.yaml", Guid.Empty, "test");
        await templates.ImportAsync(Template("EST Approved", "ECDSA_P256", "SHA256", approvals: 1), "est-approved.yaml", Guid.Empty, "test");
        var user = await UserAsync("est");
        await Services.GetRequiredService<Passwords>().SetAsync(new AuditContext(Guid.Empty, "test"), user, Password);
        return user;
    }

    public static string Template(string name, string keyAlgorithm, string hash, int approvals = 0) => $$"""
        uuid: {{Guid.NewGuid():D}}
        name: {{name}}
        protocols: [est]
        policies:
          Enroll:
            enabled: true
            selfServiceEnabled: true
            approvalsNeeded: {{approvals}}
            authorizedInitiator: "O:SYD:(A;;CR;;;AU)"
            authorizedApprover: "O:SYD:(A;;CR;;;{CM Approvers})"
        certificates:
          - commonName: {{name.Replace(" ", "", StringComparison.Ordinal)}}
            subject: "CN={requested}"
            keyAlgorithm: {{keyAlgorithm}}
            keySize: 2048
            hashAlgorithm: {{hash}}
            keyUsages: [DigitalSignature]
            extendedKeyUsages: ["1.3.6.1.5.5.7.3.1"]
            requestedNames:
              dns: [localhost, "*.test"]
              ip: [127.0.0.1]
        """;
}

/// <summary>
/// EST enrollment's refusals (issue #24.2, #24.5): every hostile or mistaken request is a 4xx with
/// a text body, the 401 offers Basic, and nothing is written (the audit log does not grow).
/// </summary>
public class EstEnrollmentTests : IClassFixture<EstEnrollFixture>
{
    private readonly EstEnrollFixture _server;

    public EstEnrollmentTests(EstEnrollFixture server) => _server = server;

    public static string Csr(string subject = "CN=localhost", params string[] dnsNames)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        if (dnsNames.Length > 0)
        {
            var san = new SubjectAlternativeNameBuilder();
            foreach (var name in dnsNames)
            {
                san.AddDnsName(name);
            }

            request.CertificateExtensions.Add(san.Build());
        }

        return Convert.ToBase64String(request.CreateSigningRequest(), Base64FormattingOptions.InsertLineBreaks);
    }

    private static string RsaCsr()
    {
        using var key = RSA.Create(2048);
        return Convert.ToBase64String(new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1).CreateSigningRequest());
    }

    [Fact]
    public async Task Enroll_AllowedNamesWithPassword_CertsOnlyPkcs7WithTheCertificateOfARequest()
    {
        var user = await _server.DeviceUserAsync();
        var client = _server.CreateClient();
        client.DefaultRequestHeaders.Authorization = Basic(user.Name, EstEnrollFixture.Password);
        var response = await client.PostAsync("/.well-known/est/tls-est/simpleenroll", Pkcs10(Csr("CN=localhost", "localhost", "a.test")));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/pkcs7-mime; smime-type=certs-only", response.Content.Headers.ContentType!.ToString());
        var certificates = new System.Security.Cryptography.Pkcs.SignedCms();
        certificates.Decode(Convert.FromBase64String(await response.Content.ReadAsStringAsync()));
        var certificate = Assert.Single(certificates.Certificates);
        Assert.Equal(["localhost", "a.test"], certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single().EnumerateDnsNames());
        var stored = await _server.Services.GetRequiredService<IProfileStore>().CertificateBySerialAsync(certificate.SerialNumber);
        Assert.Equal(user.Uuid, stored!.UserUuid);
    }

    [Fact]
    public async Task Enroll_DeniedWhileWaiting_RetryIs409TextAndNoCertificate()
    {
        var user = await _server.DeviceUserAsync();
        var client = _server.CreateClient();
        client.DefaultRequestHeaders.Authorization = Basic(user.Name, EstEnrollFixture.Password);
        var csr = Csr("CN=denied.test", "denied.test");
        var waiting = await client.PostAsync("/.well-known/est/est-approved/simpleenroll", Pkcs10(csr));
        Assert.Equal(HttpStatusCode.Accepted, waiting.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(60), waiting.Headers.RetryAfter!.Delta);
        var text = await waiting.Content.ReadAsStringAsync();
        var id = Guid.Parse(text.Split(' ')[1]);
        Assert.Contains("waits for 1 more approval", text, StringComparison.Ordinal);

        var approver = await _server.ClientAsync(await _server.UserAsync("appr", "CM Approvers"));
        Assert.Equal(HttpStatusCode.OK, (await approver.VoteAsync(id, "Deny")).StatusCode);
        var denied = await client.PostAsync("/.well-known/est/est-approved/simpleenroll", Pkcs10(csr));
        Assert.Equal(HttpStatusCode.Conflict, denied.StatusCode);
        await EstTests.AssertTextErrorAsync(denied);
    }

    private async Task<HttpResponseMessage> PostAsync(string path, HttpContent? body, string? user = null, string? password = EstEnrollFixture.Password)
    {
        var client = _server.CreateClient();
        if (user is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));
        }

        return await client.PostAsync(path, body);
    }

    private static StringContent Pkcs10(string text, string type = "application/pkcs10") => new(text, Encoding.ASCII, type);

    private async Task<int> AuditCountAsync() =>
        await _server.Services.GetRequiredService<IAuditLog>().ReadAllAsync().CountAsync();

    public static TheoryData<string, string, string?, HttpStatusCode, string> Refusals() => new()
    {
        // case, path, content type (null: no body), status, what the text says
        { "no-credentials", "/.well-known/est/tls-est/simpleenroll", "application/pkcs10", HttpStatusCode.Unauthorized, "Authentication is required" },
        { "wrong-password", "/.well-known/est/tls-est/simpleenroll", "application/pkcs10", HttpStatusCode.Unauthorized, "name or password is wrong" },
        { "unknown-user", "/.well-known/est/tls-est/simpleenroll", "application/pkcs10", HttpStatusCode.Unauthorized, "name or password is wrong" },
        { "basic-not-base64", "/.well-known/est/tls-est/simpleenroll", "application/pkcs10", HttpStatusCode.BadRequest, "not base64 of name:password" },
        { "reenroll-with-password", "/.well-known/est/tls-est/simplereenroll", "application/pkcs10", HttpStatusCode.Unauthorized, "TLS client certificate" },
        { "unknown-label", "/.well-known/est/no-such/simpleenroll", "application/pkcs10", HttpStatusCode.NotFound, "No EST service under this label" },
        { "no-default-template", "/.well-known/est/simpleenroll", "application/pkcs10", HttpStatusCode.NotFound, "no default EST template" },
        { "no-content-type", "/.well-known/est/tls-est/simpleenroll", null, HttpStatusCode.UnsupportedMediaType, "application/pkcs10" },
        { "json", "/.well-known/est/tls-est/simpleenroll", "application/json", HttpStatusCode.UnsupportedMediaType, "application/pkcs10" },
        { "bad-base64", "/.well-known/est/tls-est/simpleenroll", "application/pkcs10", HttpStatusCode.BadRequest, "not base64" },
        { "empty", "/.well-known/est/tls-est/simpleenroll", "application/pkcs10", HttpStatusCode.BadRequest, "not base64" },
        { "binary-der", "/.well-known/est/tls-est/simpleenroll", "application/pkcs10", HttpStatusCode.BadRequest, "not base64" },
        { "not-a-csr", "/.well-known/est/tls-est/simpleenroll", "application/pkcs10", HttpStatusCode.BadRequest, "not a PKCS#10" },
        { "bad-signature", "/.well-known/est/tls-est/simpleenroll", "application/pkcs10", HttpStatusCode.BadRequest, "not a PKCS#10" },
        { "trailing-bytes", "/.well-known/est/tls-est/simpleenroll", "application/pkcs10", HttpStatusCode.BadRequest, "not a PKCS#10" },
        { "oversized", "/.well-known/est/tls-est/simpleenroll", "application/pkcs10", HttpStatusCode.RequestEntityTooLarge, "Est:MaxRequestBytes" },
        { "get", "/.well-known/est/tls-est/simpleenroll", "GET", HttpStatusCode.MethodNotAllowed, "POST only" },
        { "name-refused", "/.well-known/est/tls-est/simpleenroll", "application/pkcs10", HttpStatusCode.BadRequest, "evil.example.com" },
        { "rsa-for-p256", "/.well-known/est/tls-est/simpleenroll", "application/pkcs10", HttpStatusCode.BadRequest, "ECDSA" },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public async Task Enroll_HostileOrMistakenRequest_4xxTextAndNothingWritten(string @case, string path, string? type, HttpStatusCode status, string says)
    {
        var user = await _server.DeviceUserAsync();
        var valid = Csr("CN=localhost", "localhost");
        var der = Convert.FromBase64String(valid);
        var body = @case switch
        {
            "bad-base64" => "MII*not base64*",
            "empty" => "",
            "binary-der" => Encoding.Latin1.GetString(der),
            "not-a-csr" => Convert.ToBase64String(new AsnWriter(AsnEncodingRules.DER).Also(w => w.WriteInteger(42)).Encode()),
            "bad-signature" => Convert.ToBase64String(der.Also(d => d[^1] ^= 0x01)),
            "trailing-bytes" => Convert.ToBase64String([.. der, 0x05, 0x00]),
            "oversized" => new string('A', 64 * 1024 + 4),
            "name-refused" => Csr("CN=localhost", "localhost", "evil.example.com"),
            "rsa-for-p256" => RsaCsr(),
            _ => valid,
        };
        var before = await AuditCountAsync();
        HttpResponseMessage response;
        if (type == "GET")
        {
            response = await _server.CreateClient().GetAsync(path);
        }
        else
        {
            var client = _server.CreateClient();
            client.DefaultRequestHeaders.Authorization = @case switch
            {
                "no-credentials" => null,
                "wrong-password" => Basic(user.Name, "not-the-password"),
                "unknown-user" => Basic("nobody-" + Guid.NewGuid().ToString("N")[..8], EstEnrollFixture.Password),
                "basic-not-base64" => new AuthenticationHeaderValue("Basic", "%%%"),
                _ => Basic(user.Name, EstEnrollFixture.Password),
            };
            HttpContent content = type is null ? new ByteArrayContent(Encoding.ASCII.GetBytes(body)) : Pkcs10(body, type);
            if (@case == "binary-der")
            {
                content = new ByteArrayContent(der);
                content.Headers.ContentType = new MediaTypeHeaderValue("application/pkcs10");
            }

            response = await client.PostAsync(path, content);
        }

        Assert.Equal(status, response.StatusCode);
        await EstTests.AssertTextErrorAsync(response);
        Assert.Contains(says, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        if (status == HttpStatusCode.Unauthorized)
        {
            var challenge = response.Headers.WwwAuthenticate.ToString();
            Assert.StartsWith("Basic realm=\"OpenCM EST\"", challenge, StringComparison.Ordinal);
            Assert.DoesNotContain("Bearer", challenge, StringComparison.Ordinal);
        }

        Assert.Equal(before, await AuditCountAsync());
    }

    private static AuthenticationHeaderValue Basic(string user, string password) =>
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));

    [Theory]
    [InlineData("tls-est", "1.2.840.10045.2.1", "1.2.840.10045.3.1.7", "1.2.840.10045.4.3.2")]
    [InlineData("est-rsa", "1.2.840.113549.1.1.1", null, "1.2.840.113549.1.1.12")]
    public async Task CsrAttrs_TemplateKeyAndHash_AttributesOfRfc7030Section45(string label, string key, string? curve, string signature)
    {
        await _server.DeviceUserAsync();
        var response = await _server.CreateClient().GetAsync($"/.well-known/est/{label}/csrattrs");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/csrattrs", response.Content.Headers.ContentType!.MediaType);

        // CsrAttrs ::= SEQUENCE OF AttrOrOID: the key (an Attribute with the curve for ECDSA, an OID for RSA), then the signature algorithm.
        var reader = new AsnReader(Convert.FromBase64String(await response.Content.ReadAsStringAsync()), AsnEncodingRules.DER).ReadSequence();
        if (curve is null)
        {
            Assert.Equal(key, reader.ReadObjectIdentifier());
        }
        else
        {
            var attribute = reader.ReadSequence();
            Assert.Equal(key, attribute.ReadObjectIdentifier());
            Assert.Equal(curve, attribute.ReadSetOf().ReadObjectIdentifier());
        }

        Assert.Equal(signature, reader.ReadObjectIdentifier());
        Assert.False(reader.HasData);
    }

    [Theory]
    [InlineData("/.well-known/est/tls-est/csrattrs", HttpStatusCode.MethodNotAllowed)]
    [InlineData("/.well-known/est/csrattrs", HttpStatusCode.MethodNotAllowed)]
    public async Task CsrAttrs_Post_405Text(string path, HttpStatusCode status)
    {
        await _server.DeviceUserAsync();
        var response = await _server.CreateClient().PostAsync(path, Pkcs10(Csr()));
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("GET", Assert.Single(response.Content.Headers.Allow));
        await EstTests.AssertTextErrorAsync(response);
    }

    [Fact]
    public async Task CsrAttrs_NoDefaultTemplate_404Text()
    {
        await _server.DeviceUserAsync();
        var response = await _server.CreateClient().GetAsync("/.well-known/est/csrattrs");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        await EstTests.AssertTextErrorAsync(response);
    }
}

internal static class TestExtensions
{
    public static T Also<T>(this T value, Action<T> act)
    {
        act(value);
        return value;
    }
}

/// <summary>
/// simplereenroll's TLS client certificate (RFC 7030 §3.3.2, §4.2.2), handed to the server as
/// Kestrel would (the connection's certificate): only a recorded, unrevoked, valid certificate
/// of OpenCM's lets its owner in, and only for the same subject and names.
/// </summary>
public class EstClientCertificateTests : IClassFixture<EstEnrollFixture>
{
    private readonly EstEnrollFixture _server;

    public EstClientCertificateTests(EstEnrollFixture server) => _server = server;

    public static TheoryData<string, int, string> Cases() => new()
    {
        { "self-signed", 401, "not issued by this server" },
        { "revoked", 401, "revoked" },
        { "other-names", 400, "current certificate's names" },
        { "other-subject", 400, "current certificate's subject" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Reenroll_CertificateOrCsrNotTheCurrent_RefusedTextNothingWritten(string @case, int status, string says)
    {
        var user = await _server.DeviceUserAsync();
        var (certificate, profile) = await IssueAsync(user.Uuid, "localhost");
        if (@case == "revoked")
        {
            await _server.Services.GetRequiredService<ITransactions>().RunAsync((uow, ct) => uow.Certificates.RevokeAllAsync(profile, 1, Samples.Now, ct));
        }

        using var presented = @case == "self-signed" ? SelfSigned("CN=localhost") : certificate;
        var csr = @case switch
        {
            "other-names" => EstEnrollmentTests.Csr("CN=localhost", "localhost", "other.test"),
            "other-subject" => EstEnrollmentTests.Csr("CN=other.test"),
            _ => EstEnrollmentTests.Csr("CN=localhost"),
        };
        var before = await _server.Services.GetRequiredService<IAuditLog>().ReadAllAsync().CountAsync();
        var (code, type, body) = await ReenrollAsync(presented, csr);
        Assert.True(code == status, body);
        Assert.Equal("text/plain", type);
        Assert.Contains(says, body, StringComparison.Ordinal);
        Assert.Equal(before, await _server.Services.GetRequiredService<IAuditLog>().ReadAllAsync().CountAsync());
    }

    [Fact]
    public async Task Reenroll_CurrentCertificateSameSubjectAndNames_NewCertificateOfTheOwner()
    {
        var user = await _server.DeviceUserAsync();
        var (certificate, _) = await IssueAsync(user.Uuid, "host.test");
        using (certificate)
        {
            // No SAN on either side: the CN that names a host is the name, as DeviceNames reads a CSR.
            var (code, type, body) = await ReenrollAsync(certificate, EstEnrollmentTests.Csr("CN=host.test"));
            Assert.True(code == 200, body);
            Assert.Equal("application/pkcs7-mime", type);
            var answer = new System.Security.Cryptography.Pkcs.SignedCms();
            answer.Decode(Convert.FromBase64String(body));
            var renewed = Assert.Single(answer.Certificates);
            Assert.NotEqual(certificate.SerialNumber, renewed.SerialNumber);
            Assert.Equal("CN=host.test", renewed.Subject);
            Assert.Equal(user.Uuid, (await _server.Services.GetRequiredService<IProfileStore>().CertificateBySerialAsync(renewed.SerialNumber))!.UserUuid);
        }
    }

    internal async Task<(int Status, string? MediaType, string Body)> ReenrollAsync(X509Certificate2 presented, string csr, string label = "tls-est")
    {
        var context = await _server.Server.SendAsync(c =>
        {
            c.Request.Method = "POST";
            c.Request.Path = $"/.well-known/est/{label}/simplereenroll";
            c.Request.ContentType = "application/pkcs10";
            c.Request.Body = new MemoryStream(Encoding.ASCII.GetBytes(csr));
            c.Connection.ClientCertificate = presented;
        });
        using var reader = new StreamReader(context.Response.Body);
        return (context.Response.StatusCode, context.Response.ContentType?.Split(';')[0], await reader.ReadToEndAsync());
    }

    // A certificate as enrollment records it, for user and subject CN=<cn> without SAN (TestIssuance, with the owner given).
    internal async Task<(X509Certificate2 Certificate, Guid Profile)> IssueAsync(Guid user, string cn)
    {
        var services = _server.Services;
        var template = new CertificateTemplate { CommonName = "T", KeyAlgorithm = KeyAlgorithm.EcdsaP256 };
        using var key = services.GetRequiredService<IKeyGenerator>().Generate(template);
        var serial = CertificateIssuance.NewSerialNumber();
        var profile = Guid.NewGuid();
        await services.GetRequiredService<ITransactions>().RunAsync(async (uow, ct) =>
        {
            await uow.Certificates.ReserveAsync(new CertificateReservation(serial, Guid.NewGuid(), profile, user, "T"), ct);
            return 0;
        });
        var issuance = services.GetRequiredService<CertificateIssuance>();
        var issued = await issuance.SignAsync(issuance.Plan(new CertificateOrder(serial, key.SubjectPublicKeyInfo, template, new SubjectAttributes(cn, user, "S-1-5-21-1-2-3-4"), Samples.Now)));
        Assert.True(await services.GetRequiredService<ITransactions>().RunAsync((uow, ct) => uow.Certificates.RecordIssuedAsync(issued, ct)));
        return (X509CertificateLoader.LoadCertificate(issued.Der), profile);
    }

    private static X509Certificate2 SelfSigned(string subject)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return new CertificateRequest(subject, key, HashAlgorithmName.SHA256).CreateSelfSigned(Samples.Now.AddDays(-1), Samples.Now.AddDays(1));
    }
}

/// <summary>The server with two password attempts per address and minute.</summary>
public sealed class EstTwoAttemptsFixture : ServerFixture
{
    protected override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string> { ["RateLimits:SignInPerMinute"] = "2" };
}

/// <summary>Basic's password guessing costs what the portal's sign-in costs (RateLimits:SignInPerMinute per address); bad Est settings refuse the start.</summary>
public class EstLimitTests : IClassFixture<EstTwoAttemptsFixture>
{
    private readonly EstTwoAttemptsFixture _server;

    public EstLimitTests(EstTwoAttemptsFixture server) => _server = server;

    [Fact]
    public async Task Basic_ThirdAttemptInAMinute_429TextWithRetryAfter()
    {
        await _server.Services.GetRequiredService<TemplateService>().ImportAsync(EstEnrollFixture.Template("TLS EST", "ECDSA_P256", "SHA256"), "tls-est.yaml", Guid.Empty, "test");
        var client = _server.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("nobody:guess-guess")));
        var statuses = new List<HttpStatusCode>();
        HttpResponseMessage last = null!;
        for (var i = 0; i < 3; i++)
        {
            last = await client.PostAsync("/.well-known/est/tls-est/simpleenroll", new StringContent(EstEnrollmentTests.Csr(), Encoding.ASCII, "application/pkcs10"));
            statuses.Add(last.StatusCode);
        }

        Assert.Equal([HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized, HttpStatusCode.TooManyRequests], statuses);
        Assert.NotNull(last.Headers.RetryAfter);
        await EstTests.AssertTextErrorAsync(last);
    }

    [Theory]
    [InlineData("--Est:MaxRequestBytes=100", "Est:MaxRequestBytes")]
    [InlineData("--Est:MaxRequestBytes=2000000", "Est:MaxRequestBytes")]
    [InlineData("--Est:RetryAfterSeconds=0", "Est:RetryAfterSeconds")]
    public void Settings_OutOfRange_StartRefusedNamingTheKey(string setting, string named)
    {
        using var dir = new TempDirectory();
        var refused = Assert.Throws<ConfigurationRefusedException>(() => Hosting.OpenCmServer.Build(["--data", dir.Path, setting]));
        Assert.Contains(named, refused.Message, StringComparison.Ordinal);
    }
}
