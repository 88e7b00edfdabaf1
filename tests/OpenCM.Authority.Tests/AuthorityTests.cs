using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using OpenCM.Authority;
using OpenCM.Domain;
using OpenCM.TestKit;

namespace OpenCM.Authority.Tests;

/// <summary>A root CA in a temporary directory, with its certificate written as root.pem for openssl.</summary>
public sealed class CaFixture : IDisposable
{
    public CaFixture()
    {
        var root = CertificateAuthorityFactory.CreateRoot("CN=OpenCM Test Root, O=OpenCM", CaKeyAlgorithm.EcdsaP384, Samples.Now);
        Signer = LocalKeySigner.Load(root.CertificateDer, root.Pkcs8PrivateKey);
        Pipeline = new IssuancePipeline(Signer, ["http://127.0.0.1:5000/CertificateManagement/crl/OpenCM-Test-Root.crl"]);
        File.WriteAllText(Dir.File("root.pem"), Signer.Certificate.ExportCertificatePem());
    }

    public TempDirectory Dir { get; } = new();

    public LocalKeySigner Signer { get; }

    public IssuancePipeline Pipeline { get; }

    public string Write(string name, string text)
    {
        File.WriteAllText(Dir.File(name), text);
        return Dir.File(name);
    }

    public string Write(string name, byte[] bytes)
    {
        File.WriteAllBytes(Dir.File(name), bytes);
        return Dir.File(name);
    }

    public void Dispose()
    {
        Signer.Dispose();
        Dir.Dispose();
    }
}

public class AuthorityTests : IClassFixture<CaFixture>
{
    private static readonly CertificateTemplate RsaClientAuth = new() { CommonName = "OpenCMUser", Subject = "CN={name},OU=Users,O=Contoso" };
    private static readonly CertificateTemplate P256ClientAuth = RsaClientAuth with { KeyAlgorithm = KeyAlgorithm.EcdsaP256 };
    private static readonly SubjectAttributes Alice = new("alice", Guid.Parse("8f1590dc-d932-4b66-8e68-2e91c5880780"), "S-1-5-21-1-2-3-1001");
    private readonly CaFixture _ca;

    public AuthorityTests(CaFixture ca) => _ca = ca;

    private async Task<string> OpenSslCsrAsync(string keySpec, string name)
    {
        // An independent client: openssl makes the key and the CSR, asking for a subject and a SAN the CA must ignore.
        await OpenSsl.CheckAsync(_ca.Dir.Path, "req", "-new", "-newkey", keySpec, "-nodes", "-keyout", $"{name}.key", "-out", $"{name}.csr",
            "-subj", "/CN=evil/O=Mallory", "-addext", "subjectAltName=DNS:evil.example");
        return await File.ReadAllTextAsync(_ca.Dir.File($"{name}.csr"));
    }

    [Fact]
    public async Task Root_Created_IsASelfSignedCaOpensslAccepts()
    {
        var text = await OpenSsl.CheckAsync(_ca.Dir.Path, "x509", "-in", "root.pem", "-noout", "-text");
        Assert.Contains("CA:TRUE", text, StringComparison.Ordinal);
        Assert.Contains("Certificate Sign, CRL Sign", text, StringComparison.Ordinal);
        Assert.Contains("NIST CURVE: P-384", text, StringComparison.Ordinal);
        Assert.Contains("root.pem: OK", await OpenSsl.CheckAsync(_ca.Dir.Path, ["verify", .. OpenSsl.At(Samples.Now), "-CAfile", "root.pem", "root.pem"]), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("rsa:2048", "rsa")]
    [InlineData("ec:p256.params", "p256")]
    public async Task IssueFromCsr_OpensslCsr_VerifiesAndTemplateDecidesSubjectAndExtensions(string keySpec, string name)
    {
        if (keySpec.StartsWith("ec:", StringComparison.Ordinal))
        {
            await OpenSsl.CheckAsync(_ca.Dir.Path, "ecparam", "-name", "prime256v1", "-out", "p256.params");
        }

        var template = name == "rsa" ? RsaClientAuth : P256ClientAuth;
        var issued = _ca.Pipeline.IssueFromCsr(await OpenSslCsrAsync(keySpec, name), template, Alice, Samples.Now);
        var pem = _ca.Write($"{name}.pem", PemEncoding.WriteString("CERTIFICATE", issued.Der));

        Assert.Contains($"{name}.pem: OK", await OpenSsl.CheckAsync(_ca.Dir.Path, ["verify", .. OpenSsl.At(Samples.Now), "-CAfile", "root.pem", "-purpose", "sslclient", pem]), StringComparison.Ordinal);
        var text = await OpenSsl.CheckAsync(_ca.Dir.Path, "x509", "-in", pem, "-noout", "-text", "-nameopt", "RFC2253");
        Assert.Contains("Subject: CN=alice,OU=Users,O=Contoso", text, StringComparison.Ordinal);
        Assert.DoesNotContain("evil", text, StringComparison.Ordinal);
        Assert.DoesNotContain("Subject Alternative Name", text, StringComparison.Ordinal);
        Assert.Contains("TLS Web Client Authentication", text, StringComparison.Ordinal);
        Assert.Contains("CA:FALSE", text, StringComparison.Ordinal);
        Assert.Contains("URI:http://127.0.0.1:5000/CertificateManagement/crl/OpenCM-Test-Root.crl", text, StringComparison.Ordinal);
        Assert.Contains(issued.SerialHex, (await OpenSsl.CheckAsync(_ca.Dir.Path, "x509", "-in", pem, "-noout", "-serial")).Replace(":", "", StringComparison.Ordinal), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void IssueFromCsr_ReferenceStyleBase64WithCrLf_Accepted()
    {
        using var rsa = RSA.Create(2048);
        var der = new CertificateRequest("CN=x", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1).CreateSigningRequest();
        var wrapped = string.Join("\r\n", Convert.ToBase64String(der).Chunk(64).Select(c => new string(c))) + "\r\n";
        Assert.NotEmpty(_ca.Pipeline.IssueFromCsr(wrapped, RsaClientAuth, Alice, Samples.Now).Der);
    }

    [Fact]
    public void IssueFromCsr_PemArmour_Accepted()
    {
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var pem = new CertificateRequest("CN=x", ec, HashAlgorithmName.SHA256).CreateSigningRequestPem();
        Assert.StartsWith("-----BEGIN CERTIFICATE REQUEST-----", pem, StringComparison.Ordinal);
        Assert.NotEmpty(_ca.Pipeline.IssueFromCsr(pem, P256ClientAuth, Alice, Samples.Now).Der);
    }

    public static TheoryData<string, string> BadCsrs()
    {
        using var rsa1024 = RSA.Create(1024);
        using var p384 = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        using var rsa = RSA.Create(2048);
        var good = new CertificateRequest("CN=x", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1).CreateSigningRequest();
        var tampered = (byte[])good.Clone();
        tampered[70] ^= 0x01; // inside the RSA modulus: the signature no longer matches
        return new TheoryData<string, string>
        {
            { Convert.ToBase64String(new CertificateRequest("CN=x", rsa1024, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1).CreateSigningRequest()), "RSA 1024-bit" },
            { Convert.ToBase64String(new CertificateRequest("CN=x", p384, HashAlgorithmName.SHA384).CreateSigningRequest()), "ECDSA 384-bit" },
            { Convert.ToBase64String(tampered), "valid signature" },
            { Convert.ToBase64String([.. good, 0x00]), "trailing data" },
            { "not base64!", "not base64" },
            { Convert.ToBase64String(Encoding.ASCII.GetBytes("hello")), "valid signature" },
        };
    }

    [Theory]
    [MemberData(nameof(BadCsrs))]
    public void IssueFromCsr_BadRequest_RefusedNamingTheField(string csr, string reason)
    {
        var ex = Assert.Throws<OpenCmException>(() => _ca.Pipeline.IssueFromCsr(csr, RsaClientAuth, Alice, Samples.Now, "certificaterequests[0]"));
        Assert.Equal((ErrorKind.ValidationFailed, "certificaterequests[0]"), (ex.Error.Kind, ex.Error.Field));
        Assert.Contains(reason, ex.Error.Detail, StringComparison.Ordinal);
    }

    // Hostile CSRs of issue #7.2 and #7.3, each made by openssl: refused as 400s naming the field,
    // on the structure alone (no signature is checked for an algorithm OpenCM does not issue for).
    public static TheoryData<string, string, string[][]> HostileCsrs() => new()
    {
        { "p256", "curve secp256k1", [["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:secp256k1", "-nodes", "-keyout", "{n}.key", "-out", "{n}.csr", "-subj", "/CN=x"]] },
        { "p256", "curve brainpoolP256r1", [["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:brainpoolP256r1", "-nodes", "-keyout", "{n}.key", "-out", "{n}.csr", "-subj", "/CN=x"]] },
        { "p384", "curve brainpoolP384r1", [["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:brainpoolP384r1", "-nodes", "-keyout", "{n}.key", "-out", "{n}.csr", "-subj", "/CN=x"]] },
        { "p256", "explicit curve parameters", [["ecparam", "-name", "prime256v1", "-param_enc", "explicit", "-genkey", "-noout", "-out", "{n}.key"], ["req", "-new", "-key", "{n}.key", "-out", "{n}.csr", "-subj", "/CN=x"]] },
        { "rsa", "Ed25519", [["req", "-new", "-newkey", "ed25519", "-nodes", "-keyout", "{n}.key", "-out", "{n}.csr", "-subj", "/CN=x"]] },
        { "p256", "Ed448", [["req", "-new", "-newkey", "ed448", "-nodes", "-keyout", "{n}.key", "-out", "{n}.csr", "-subj", "/CN=x"]] },
        { "rsa", "DSA", [["dsaparam", "-out", "{n}.params", "1024"], ["gendsa", "-out", "{n}.key", "{n}.params"], ["req", "-new", "-key", "{n}.key", "-out", "{n}.csr", "-subj", "/CN=x"]] },
        { "rsa", "MD5", [["genrsa", "-out", "{n}.key", "2048"], ["req", "-new", "-key", "{n}.key", "-md5", "-out", "{n}.csr", "-subj", "/CN=x"]] },
    };

    [Theory]
    [MemberData(nameof(HostileCsrs))]
    public async Task IssueFromCsr_HostileKeyOrSignature_RefusedNamingTheField(string template, string reason, string[][] commands)
    {
        var name = Guid.NewGuid().ToString("N");
        foreach (var command in commands)
        {
            await OpenSsl.CheckAsync(_ca.Dir.Path, [.. command.Select(a => a.Replace("{n}", name, StringComparison.Ordinal))]);
        }

        var csr = await File.ReadAllTextAsync(_ca.Dir.File($"{name}.csr"));
        var certificateTemplate = template switch
        {
            "p256" => P256ClientAuth,
            "p384" => RsaClientAuth with { KeyAlgorithm = KeyAlgorithm.EcdsaP384 },
            _ => RsaClientAuth,
        };
        var ex = Assert.Throws<OpenCmException>(() => IssuancePipeline.Check(csr, certificateTemplate, "certificaterequests[0]"));
        Assert.Equal((ErrorKind.ValidationFailed, "certificaterequests[0]"), (ex.Error.Kind, ex.Error.Field));
        Assert.Contains(reason, ex.Error.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void SerialNumbers_Thousand_UniquePositiveAtLeast64Bits()
    {
        var serials = Enumerable.Range(0, 1000).Select(_ => IssuancePipeline.NewSerialNumber()).ToList();
        Assert.Equal(1000, serials.Select(Convert.ToHexString).Distinct().Count());
        Assert.All(serials, s => Assert.True(s.Length == 16 && (s[0] & 0x80) == 0 && s[0] != 0));
    }

    [Fact]
    public async Task Pkcs7_Issued_OpensslPrintsLeafAndRoot()
    {
        using var rsa = RSA.Create(2048);
        var issued = _ca.Pipeline.IssueFromCsr(Convert.ToBase64String(new CertificateRequest("CN=x", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1).CreateSigningRequest()), RsaClientAuth, Alice, Samples.Now);
        var p7 = _ca.Write("chain.p7b", Encodings.Pkcs7(issued.Der, _ca.Signer));
        var printed = await OpenSsl.CheckAsync(_ca.Dir.Path, "pkcs7", "-inform", "DER", "-in", p7, "-print_certs", "-noout");
        Assert.Contains("subject=O = Contoso, OU = Users, CN = alice", printed, StringComparison.Ordinal);
        Assert.Contains("subject=O = OpenCM, CN = OpenCM Test Root", printed, StringComparison.Ordinal);
    }

    [Fact]
    public void Pkcs7_WrittenDirectly_SameBytesAsDotnetsExport()
    {
        using var rsa = RSA.Create(2048);
        var issued = _ca.Pipeline.IssueFromCsr(Convert.ToBase64String(new CertificateRequest("CN=x", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1).CreateSigningRequest()), RsaClientAuth, Alice, Samples.Now);
        var mine = Encodings.Pkcs7(issued.Der, _ca.Signer);

        // The independent encoder: .NET's certs-only export of the same two certificates.
        using var leaf = X509CertificateLoader.LoadCertificate(issued.Der);
        var theirs = new X509Certificate2Collection { leaf, _ca.Signer.Certificate }.Export(X509ContentType.Pkcs7)!;
        Assert.Equal(theirs, mine);
    }

    [Fact]
    public async Task Pfx_ServerGeneratedKey_OpensslOpensWithPasswordOnly()
    {
        using var key = RSA.Create(2048);
        var issued = _ca.Pipeline.IssueForKey(key, RsaClientAuth with { ServerGeneratesKey = true, KeyUsages = CertificateKeyUsage.KeyEncipherment, ExtendedKeyUsages = [Oids.EmailProtection] }, Alice, Samples.Now);
        var pfx = _ca.Write("alice.pfx", Encodings.Pfx(issued.Der, key, _ca.Signer, "correct horse"));
        var good = await OpenSsl.RunAsync(_ca.Dir.Path, "pkcs12", "-in", pfx, "-passin", "pass:correct horse", "-nodes", "-info");
        Assert.True(good.ExitCode == 0, good.All);
        Assert.Contains("BEGIN PRIVATE KEY", good.Output, StringComparison.Ordinal);
        Assert.Contains("subject=O = Contoso, OU = Users, CN = alice", good.Output, StringComparison.Ordinal);
        var bad = await OpenSsl.RunAsync(_ca.Dir.Path, "pkcs12", "-in", pfx, "-passin", "pass:wrong", "-nodes");
        Assert.NotEqual(0, bad.ExitCode);
    }

    [Fact]
    public async Task Crl_RevokedSerial_ListedAndOpensslReportsTheCertificateRevoked()
    {
        using var rsa = RSA.Create(2048);
        var csr = Convert.ToBase64String(new CertificateRequest("CN=x", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1).CreateSigningRequest());
        var revoked = _ca.Pipeline.IssueFromCsr(csr, RsaClientAuth, Alice, Samples.Now);
        var kept = _ca.Pipeline.IssueFromCsr(csr, RsaClientAuth, Alice, Samples.Now);
        var crlDer = Encodings.Crl(_ca.Signer, [new RevokedEntry(revoked.SerialNumber(), Samples.Now, X509RevocationReason.CessationOfOperation)], 7, Samples.Now, Samples.Now.AddDays(1));
        var crl = _ca.Write("ca.crl.pem", PemEncoding.WriteString("X509 CRL", crlDer));

        var text = await OpenSsl.CheckAsync(_ca.Dir.Path, "crl", "-in", crl, "-noout", "-text");
        Assert.Contains($"Serial Number: {revoked.SerialHex}", text, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("Cessation Of Operation", text, StringComparison.Ordinal);
        Assert.Contains("X509v3 CRL Number: \n                7", text.Replace("\r", "", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.Contains("verify OK", (await OpenSsl.RunAsync(_ca.Dir.Path, "crl", "-in", crl, "-noout", "-CAfile", "root.pem")).All, StringComparison.Ordinal);

        var revokedPem = _ca.Write("revoked.pem", PemEncoding.WriteString("CERTIFICATE", revoked.Der));
        var keptPem = _ca.Write("kept.pem", PemEncoding.WriteString("CERTIFICATE", kept.Der));
        var check = await OpenSsl.RunAsync(_ca.Dir.Path, ["verify", .. OpenSsl.At(Samples.Now), "-crl_check", "-CAfile", "root.pem", "-CRLfile", crl, revokedPem]);
        Assert.NotEqual(0, check.ExitCode);
        Assert.Contains("error 23 at 0 depth lookup: certificate revoked", check.All, StringComparison.Ordinal);
        Assert.DoesNotContain("expired", check.All, StringComparison.Ordinal);
        Assert.Contains("kept.pem: OK", await OpenSsl.CheckAsync(_ca.Dir.Path, ["verify", .. OpenSsl.At(Samples.Now), "-crl_check", "-CAfile", "root.pem", "-CRLfile", crl, keptPem]), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("alice+OU=x")]
    [InlineData("a, O=Evil")]
    [InlineData("\"quoted\"")]
    public void BuildSubject_AttributeValues_AreEscapedNotParsed(string name)
    {
        var subject = CertificateSubject.Build(RsaClientAuth with { Subject = "CN={name}" }, Alice with { Name = name });
        var rdn = Assert.Single(subject.EnumerateRelativeDistinguishedNames());
        Assert.Equal(name, rdn.GetSingleElementValue());
    }

    // Issue #20.6: {email} and {upn} are the user's directory attributes; a user without the one a
    // template names is refused naming it (a 400), never given an empty attribute.
    [Theory]
    [InlineData("CN={name},E={email}", "alice@contoso.com", null, "E=alice@contoso.com")]
    [InlineData("CN={upn}", null, "alice@corp.contoso.com", "CN=alice@corp.contoso.com")]
    [InlineData("CN={name},E={email}", null, "alice@corp.contoso.com", "e-mail address")]
    [InlineData("CN={upn}", "alice@contoso.com", null, "user principal name")]
    [InlineData("CN={email}", "", null, "e-mail address")]
    public void BuildSubject_EmailOrUpn_TheUsersOrAValidationErrorNamingIt(string template, string? email, string? upn, string expected)
    {
        var attributes = Alice with { Email = email, Upn = upn };
        if (expected.Contains('=', StringComparison.Ordinal))
        {
            Assert.Contains(expected, CertificateSubject.Build(RsaClientAuth with { Subject = template }, attributes).Format(false), StringComparison.Ordinal);
            return;
        }

        var ex = Assert.Throws<OpenCmException>(() => CertificateSubject.Build(RsaClientAuth with { Subject = template }, attributes));
        Assert.Equal((ErrorKind.ValidationFailed, "subject"), (ex.Error.Kind, ex.Error.Field));
        Assert.Contains(expected, ex.Error.Detail, StringComparison.Ordinal);
        Assert.Null(CertificateSubject.Check(RsaClientAuth with { Subject = template }));
    }

    // Issue #20: SANs from the directory. The UPN is an otherName of type 1.3.6.1.4.1.311.20.2.3
    // (UTF8String), the e-mail an rfc822Name; openssl reads both and the certificate verifies
    // under -x509_strict. A user without the value is refused naming it, never an empty SAN.
    [Fact]
    public async Task IssueFromCsr_UpnAndEmailSans_OpensslReadsThemAndVerifiesStrictly()
    {
        var template = RsaClientAuth with
        {
            ExtendedKeyUsages = ["1.3.6.1.4.1.311.20.2.2", "1.3.6.1.5.5.7.3.2"],
            KeyUsages = CertificateKeyUsage.DigitalSignature,
            SubjectAlternativeNames = [CertificateTemplate.UpnName, CertificateTemplate.EmailName],
        };
        var user = Alice with { Upn = "alice@corp.contoso.com", Email = "alice@contoso.com" };
        var issued = _ca.Pipeline.IssueFromCsr(await OpenSslCsrAsync("rsa:2048", "san"), template, user, Samples.Now);
        var pem = _ca.Write("san.pem", PemEncoding.WriteString("CERTIFICATE", issued.Der));

        Assert.Contains("san.pem: OK", await OpenSsl.CheckAsync(_ca.Dir.Path, ["verify", .. OpenSsl.At(Samples.Now), "-x509_strict", "-CAfile", "root.pem", pem]), StringComparison.Ordinal);
        var text = await OpenSsl.CheckAsync(_ca.Dir.Path, "x509", "-in", pem, "-noout", "-text");
        Assert.Matches("othername: ?UPN::?alice@corp.contoso.com", text);
        Assert.Contains("email:alice@contoso.com", text, StringComparison.Ordinal);
        Assert.DoesNotContain("evil", text, StringComparison.Ordinal);
        Assert.Contains("Microsoft Smartcard Login", text, StringComparison.Ordinal);

        foreach (var (missing, what) in new[] { (Alice with { Email = "alice@contoso.com" }, "user principal name"), (Alice with { Upn = "alice@corp.contoso.com" }, "e-mail address") })
        {
            var ex = Assert.Throws<OpenCmException>(() => _ca.Pipeline.IssueFromCsr(File.ReadAllText(_ca.Dir.File("san.csr")), template, missing, Samples.Now));
            Assert.Equal((ErrorKind.ValidationFailed, "subjectAlternativeNames"), (ex.Error.Kind, ex.Error.Field));
            Assert.Contains(what, ex.Error.Detail, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Signer_Rsa3072Root_SignsWithSha384()
    {
        var root = CertificateAuthorityFactory.CreateRoot("CN=RSA Root", CaKeyAlgorithm.Rsa3072, Samples.Now);
        using var signer = LocalKeySigner.Load(root.CertificateDer, root.Pkcs8PrivateKey);
        Assert.Equal(HashAlgorithmName.SHA384, signer.HashAlgorithm);
        using var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var issued = new IssuancePipeline(signer, []).IssueForKey(leafKey, P256ClientAuth, Alice, Samples.Now);
        using var leaf = X509CertificateLoader.LoadCertificate(issued.Der);
        Assert.Equal("sha384RSA", leaf.SignatureAlgorithm.FriendlyName);
        Assert.True(leaf.NotAfter <= signer.Certificate.NotAfter);
    }
}

public class IssuedValidityTests : IClassFixture<CaFixture>
{
    private readonly CaFixture _ca;

    public IssuedValidityTests(CaFixture ca) => _ca = ca;

    [Fact]
    public void Sign_NowWithFraction_StoredValidityEqualsTheCertificates()
    {
        using var key = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        var now = Samples.Now.AddTicks(1_234_567);
        var issued = _ca.Pipeline.IssueForKey(key, new CertificateTemplate { CommonName = "T", KeyAlgorithm = KeyAlgorithm.EcdsaP256 }, new SubjectAttributes("a", Guid.NewGuid(), "S-1-5-21-1-2-3-4"), now);
        using var certificate = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificate(issued.Der);
        Assert.Equal(new DateTimeOffset(certificate.NotBefore.ToUniversalTime()), issued.NotBefore);
        Assert.Equal(new DateTimeOffset(certificate.NotAfter.ToUniversalTime()), issued.NotAfter);
    }
}

/// <summary>Revocations in memory that count how often the publisher asks for them.</summary>
internal sealed class CountingRevocations : OpenCM.Application.ICertificateStore
{
    private long _crlNumber;

    public List<OpenCM.Application.RevokedCertificate> Revoked { get; } = [];

    public int Reads { get; private set; }

    public Task<IReadOnlyList<OpenCM.Application.RevokedCertificate>> ListRevokedAsync(int authorityId, CancellationToken ct = default)
    {
        Reads++;
        return Task.FromResult<IReadOnlyList<OpenCM.Application.RevokedCertificate>>([.. Revoked]);
    }

    public Task<long> NextCrlNumberAsync(CancellationToken ct = default) => Task.FromResult(++_crlNumber);

    /// <summary>What <see cref="FindStatusAsync"/> answers, by serial.</summary>
    public Dictionary<string, OpenCM.Application.SerialStatus> Statuses { get; } = new(StringComparer.Ordinal);

    public int StatusReads { get; private set; }

    public Task<OpenCM.Application.SerialStatus?> FindStatusAsync(string serialHex, CancellationToken ct = default)
    {
        StatusReads++;
        return Task.FromResult(Statuses.TryGetValue(serialHex, out var found) ? found : null);
    }
}

public class CrlPublisherTests : IClassFixture<CaFixture>
{
    private readonly CaFixture _ca;

    public CrlPublisherTests(CaFixture ca) => _ca = ca;

    [Fact]
    public async Task Current_FloodOfFetches_OneStoreReadAndOneSignature()
    {
        var store = new CountingRevocations();
        using var publisher = new CrlPublisher(_ca.Signer, store, new Microsoft.Extensions.Time.Testing.FakeTimeProvider(Samples.Now), TimeSpan.FromHours(24));
        var first = await publisher.CurrentAsync(CancellationToken.None);
        for (var i = 0; i < 1000; i++)
        {
            Assert.Same(first, await publisher.CurrentAsync(CancellationToken.None));
        }

        Assert.Equal(1, store.Reads);
    }

    [Fact]
    public async Task Current_RevocationPublished_NewCrlAtOnce()
    {
        var store = new CountingRevocations();
        using var publisher = new CrlPublisher(_ca.Signer, store, new Microsoft.Extensions.Time.Testing.FakeTimeProvider(Samples.Now), TimeSpan.FromHours(24));
        var before = await publisher.CurrentAsync(CancellationToken.None);
        store.Revoked.Add(new OpenCM.Application.RevokedCertificate("0A0B", Samples.Now, 5));
        Assert.Same(before, await publisher.CurrentAsync(CancellationToken.None));

        publisher.Invalidate();
        var after = await publisher.CurrentAsync(CancellationToken.None);
        Assert.NotEqual(before.ETag, after.ETag);
        Assert.Equal(2, store.Reads);
    }

    [Fact]
    public async Task Current_AfterASecond_StoreAskedAgainButCrlKeptWhenNothingChanged()
    {
        var store = new CountingRevocations();
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(Samples.Now);
        using var publisher = new CrlPublisher(_ca.Signer, store, clock, TimeSpan.FromHours(24));
        var first = await publisher.CurrentAsync(CancellationToken.None);
        clock.Advance(CrlPublisher.RecheckInterval);
        Assert.Same(first, await publisher.CurrentAsync(CancellationToken.None));
        Assert.Equal(2, store.Reads);

        // Past half its validity it is rebuilt, revocations or not, well before its nextUpdate.
        clock.Advance(TimeSpan.FromHours(12));
        Assert.NotEqual(first.ETag, (await publisher.CurrentAsync(CancellationToken.None)).ETag);
    }
}
