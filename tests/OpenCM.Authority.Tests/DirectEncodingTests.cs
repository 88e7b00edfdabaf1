using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OpenCM.Application;
using OpenCM.Authority;
using OpenCM.Domain;
using OpenCM.TestKit;

namespace OpenCM.Authority.Tests;

/// <summary>
/// Issue #11.3: the pipeline writes the TBSCertificate itself. The oracle is what .NET's
/// CertificateRequest built from the same inputs before (the code this replaced, kept here):
/// the to-be-signed bytes must be equal, and the signature must verify under the CA's key.
/// </summary>
public sealed class DirectEncodingTests
{
    private static readonly SubjectAttributes Alice = new("alice, \"the first\"", Guid.Parse("8f1590dc-d932-4b66-8e68-2e91c5880780"), "S-1-5-21-1-2-3-1001");

    public static TheoryData<CaKeyAlgorithm, string, int> Cases() => new()
    {
        { CaKeyAlgorithm.EcdsaP256, "p256", 365 },
        { CaKeyAlgorithm.EcdsaP384, "rsa", 30 },
        { CaKeyAlgorithm.Rsa3072, "p384", 365 },
        { CaKeyAlgorithm.EcdsaP256, "p256", 365 * 40 }, // clamped to the CA's end, after 2049: GeneralizedTime
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Sign_DirectEncoding_TbsAsCertificateRequestWroteItAndVerifies(CaKeyAlgorithm caKey, string leafKey, int validityDays)
    {
        var root = CertificateAuthorityFactory.CreateRoot("CN=Oracle CA, O=OpenCM", caKey, Samples.Now);
        using var signer = LocalKeySigner.Load(root.CertificateDer, root.Pkcs8PrivateKey);
        string[] crl = ["http://cm.example/CertificateManagement/crl/Oracle-CA.crl"];
        var pipeline = new IssuancePipeline(signer, crl);
        using AsymmetricAlgorithm key = leafKey == "rsa" ? RSA.Create(2048) : ECDsa.Create(leafKey == "p256" ? ECCurve.NamedCurves.nistP256 : ECCurve.NamedCurves.nistP384);
        var spki = key.ExportSubjectPublicKeyInfo();
        var template = new CertificateTemplate
        {
            CommonName = "Oracle",
            Subject = "CN={name},OU=Users,O=Contoso",
            ValidityDays = validityDays,
            KeyUsages = CertificateKeyUsage.DigitalSignature | CertificateKeyUsage.KeyEncipherment,
            ExtendedKeyUsages = ["1.3.6.1.5.5.7.3.2", "1.3.6.1.4.1.311.20.2.2"],
        };
        var serial = IssuancePipeline.NewSerialNumber();

        var issued = pipeline.Sign(new CertificateOrder(Convert.ToHexString(serial), spki, template, Alice, Samples.Now));

        // The oracle, from the same inputs and validity.
        var publicKey = PublicKey.CreateFromSubjectPublicKeyInfo(spki, out _);
        var request = new CertificateRequest(CertificateSubject.Build(template, Alice), publicKey, signer.HashAlgorithm);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension((X509KeyUsageFlags)template.KeyUsages, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.2"), new Oid("1.3.6.1.4.1.311.20.2.2")], false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(publicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(signer.Certificate, true, false));
        request.CertificateExtensions.Add(CertificateRevocationListBuilder.BuildCrlDistributionPointExtension(crl));
        using var expected = request.Create(signer.Certificate.SubjectName, signer.Generator, issued.NotBefore, issued.NotAfter, serial);
        Assert.Equal(Convert.ToHexString(Tbs(expected.RawData)), Convert.ToHexString(Tbs(issued.Der)));

        // What is stored says what the certificate says; the CA's key verifies it.
        using var certificate = X509CertificateLoader.LoadCertificate(issued.Der);
        Assert.Equal((certificate.Thumbprint, certificate.SerialNumber, certificate.NotAfter.ToUniversalTime()), (issued.Thumbprint, issued.SerialHex, issued.NotAfter.UtcDateTime));
        using var chain = new X509Chain { ChainPolicy = { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck, VerificationTime = Samples.Now.UtcDateTime.AddHours(1) } };
        chain.ChainPolicy.CustomTrustStore.Add(signer.Certificate);
        Assert.True(chain.Build(certificate), string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation)));
    }

    [Fact]
    public void Sign_SerialWithHighBitSet_StaysPositive()
    {
        var root = CertificateAuthorityFactory.CreateRoot("CN=Oracle CA", CaKeyAlgorithm.EcdsaP256, Samples.Now);
        using var signer = LocalKeySigner.Load(root.CertificateDer, root.Pkcs8PrivateKey);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var issued = new IssuancePipeline(signer, []).Sign(new CertificateOrder("FF01", key.ExportSubjectPublicKeyInfo(),
            new CertificateTemplate { CommonName = "x", KeyAlgorithm = KeyAlgorithm.EcdsaP256 }, Alice, Samples.Now));
        using var certificate = X509CertificateLoader.LoadCertificate(issued.Der);
        Assert.Equal("00FF01", certificate.SerialNumber);
    }

    [Fact]
    public void Sign_PlanWithAlternativeNames_CertificateIsThePlanAndCarriesThem()
    {
        // Issue #17: a step beyond the template's (a SAN here) composes into the plan, and the CA
        // signs the plan as it stands, so the certificate reads back as exactly the plan.
        var root = CertificateAuthorityFactory.CreateRoot("CN=Oracle CA", CaKeyAlgorithm.EcdsaP256, Samples.Now);
        using var signer = LocalKeySigner.Load(root.CertificateDer, root.Pkcs8PrivateKey);
        var pipeline = new IssuancePipeline(signer, ["http://cm.example/crl/Oracle-CA.crl"]);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var spki = key.ExportSubjectPublicKeyInfo();
        var template = new CertificateTemplate { CommonName = "x", KeyAlgorithm = KeyAlgorithm.EcdsaP256 };
        var serial = CertificateIssuance.NewSerialNumber();
        var plan = CertificatePlanner.Build(serial, spki, CertificatePlanner.ForTemplate(template, Alice, Samples.Now, pipeline.Issuer)
            .Append(CertificatePlanner.AlternativeNames(["alice@contoso.test"], ["alice.contoso.test"], [])));

        var issued = pipeline.Sign(plan);

        var signed = CertificatePlan.Of(issued.Der);
        Assert.Null(plan.Difference(signed));
        Assert.Equal(plan.Sha256Hex(), signed.Sha256Hex());
        Assert.Equal(new CertificateOrder(serial, spki, template, Alice, Samples.Now).Plan(pipeline.Issuer).Sha256Hex(),
            new CertificateOrder(serial, spki, template, Alice, Samples.Now).Plan(pipeline.Issuer).Sha256Hex());
        using var certificate = X509CertificateLoader.LoadCertificate(issued.Der);
        var san = new X509SubjectAlternativeNameExtension(certificate.Extensions[CertificatePlanner.Oids.SubjectAlternativeName]!.RawData);
        Assert.Equal(["alice.contoso.test"], san.EnumerateDnsNames());
    }

    [Fact]
    public void Difference_CertificateOfAnotherPlan_NamesThePart()
    {
        var root = CertificateAuthorityFactory.CreateRoot("CN=Oracle CA", CaKeyAlgorithm.EcdsaP256, Samples.Now);
        using var signer = LocalKeySigner.Load(root.CertificateDer, root.Pkcs8PrivateKey);
        var pipeline = new IssuancePipeline(signer, []);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var template = new CertificateTemplate { CommonName = "x", KeyAlgorithm = KeyAlgorithm.EcdsaP256 };
        var plan = new CertificateOrder(CertificateIssuance.NewSerialNumber(), key.ExportSubjectPublicKeyInfo(), template, Alice, Samples.Now).Plan(pipeline.Issuer);

        Assert.Equal("validity", plan.Difference(CertificatePlan.Of(pipeline.Sign(plan with { NotAfter = plan.NotAfter.AddDays(-1) }).Der)));
        Assert.Equal("extensions", plan.Difference(CertificatePlan.Of(pipeline.Sign(plan with { Extensions = plan.Extensions.RemoveAt(1) }).Der)));
        Assert.Equal("serial", plan.Difference(CertificatePlan.Of(pipeline.Sign(plan with { SerialHex = "7FFF" }).Der)));
    }

    private static byte[] Tbs(byte[] certificate) =>
        new AsnReader(certificate, AsnEncodingRules.DER).ReadSequence().PeekEncodedValue().ToArray();

    // A real request's info and signature under signature algorithms whose parameters are hostile.
    public static TheoryData<string> HostileSignatureAlgorithms() => new()
    {
        "300D06092A864886F70D01010A0500",                 // RSASSA-PSS with NULL parameters
        "300B06092A864886F70D01010A",                     // RSASSA-PSS without parameters
        "301106092A864886F70D01010A3004A0023000",         // RSASSA-PSS with an empty hash algorithm
        "301306092A864886F70D01010A3006A2040202FFFF",     // RSASSA-PSS with a salt length 65535
        "300F06092A864886F70D01010B0402ABCD",             // sha256WithRSA with an OCTET STRING as parameters
    };

    [Theory]
    [MemberData(nameof(HostileSignatureAlgorithms))]
    public void Check_HostileSignatureParameters_ValidationFailedNeverACrash(string algorithmHex)
    {
        using var rsa = RSA.Create(2048);
        var good = new CertificateRequest("CN=x", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1).CreateSigningRequest();
        var parts = new AsnReader(good, AsnEncodingRules.DER).ReadSequence();
        var info = parts.ReadEncodedValue().ToArray();
        _ = parts.ReadEncodedValue();
        var signature = parts.ReadBitString(out _);
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteEncodedValue(info);
            writer.WriteEncodedValue(Convert.FromHexString(algorithmHex));
            writer.WriteBitString(signature);
        }

        var template = new CertificateTemplate { CommonName = "x", Subject = "CN={name}" };
        var ex = Assert.Throws<OpenCmException>(() => IssuancePipeline.Check(Convert.ToBase64String(writer.Encode()), template, "certificaterequests[0]"));
        Assert.Equal((ErrorKind.ValidationFailed, "certificaterequests[0]"), (ex.Error.Kind, ex.Error.Field));
    }
}
