using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Net.Pkcs11Interop.Common;
using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.TestKit;

namespace OpenCM.Authority.Pkcs11.Tests;

/// <summary>
/// The CA key in a real SoftHSM2 token (issue #20): generated inside, signing roots, leaves, CRLs
/// and CSRs that openssl verifies, never extractable (pkcs11-tool says so), a session pool that
/// signs from many threads, and clear refusals for a wrong PIN, a missing token or key.
/// </summary>
[Collection(SoftHsmCollection.Name)]
public sealed class Pkcs11TokenTests : IDisposable
{
    internal const string Token = "opencm-ca";
    internal const string WrongPinToken = "wrong-pin";
    internal const string LossToken = "lost-and-found";

    private static readonly SemaphoreSlim InitGate = new(1, 1);
    private static bool _initialised;

    private static readonly CertificateTemplate P256ClientAuth = new() { CommonName = "OpenCMUser", Subject = "CN={name},OU=Users,O=Contoso", KeyAlgorithm = KeyAlgorithm.EcdsaP256 };
    private static readonly SubjectAttributes Alice = new("alice", Guid.Parse("8f1590dc-d932-4b66-8e68-2e91c5880780"), "S-1-5-21-1-2-3-1001");

    private readonly TempDirectory _dir = new();

    public static TheoryData<CaKeyAlgorithm, string> Algorithms => new()
    {
        { CaKeyAlgorithm.EcdsaP256, "Pkcs1" },
        { CaKeyAlgorithm.EcdsaP384, "Pkcs1" },
        { CaKeyAlgorithm.Rsa3072, "Pkcs1" },
        { CaKeyAlgorithm.Rsa4096, "Pkcs1" },
        { CaKeyAlgorithm.Rsa3072, "Pss" },
    };

    /// <summary>The process's SoftHSM with its tokens, made once before anything loads the module.</summary>
    internal static async Task<SoftHsmToken> HsmAsync()
    {
        SoftHsmToken.SkipIfMissing();
        var hsm = SoftHsmToken.ForThisProcess;
        await InitGate.WaitAsync();
        try
        {
            if (!_initialised)
            {
                await hsm.InitTokenAsync(Token);
                await hsm.InitTokenAsync(WrongPinToken);
                await hsm.InitTokenAsync(LossToken);
                _initialised = true;
            }
        }
        finally
        {
            InitGate.Release();
        }

        return hsm;
    }

    internal static Pkcs11Options Options(string token = Token, string pin = SoftHsmToken.UserPin, string padding = "Pkcs1") => new()
    {
        Library = SoftHsmToken.Module,
        TokenLabel = token,
        Pin = pin,
        RsaPadding = padding,
    };

    internal static string NewLabel(string what) => $"{what}-{Guid.NewGuid():N}"[..24];

    [SkippableTheory]
    [MemberData(nameof(Algorithms))]
    public async Task Generate_EachAlgorithm_RootLeafCrlAndCsrVerifyWithOpenSsl(CaKeyAlgorithm algorithm, string padding)
    {
        await HsmAsync();
        var options = Options(padding: padding);
        using var token = Pkcs11Token.Open(options);
        var label = NewLabel(algorithm.ToString());
        var spki = token.Generate(label, algorithm);
        var generator = token.OpenKey(label, Pkcs11Token.PaddingFrom(options));
        Assert.Equal(spki, generator.PublicKey.ExportSubjectPublicKeyInfo());

        var root = Pkcs11Signer.CreateRoot(generator, new X500DistinguishedName("CN=HSM Root " + algorithm), Samples.Now);
        using var signer = new Pkcs11Signer(root, generator);
        Write("root.pem", PemEncoding.WriteString("CERTIFICATE", root));

        using var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var leaf = new IssuancePipeline(signer, []).IssueForKey(leafKey, P256ClientAuth, Alice, Samples.Now);
        Write("leaf.pem", PemEncoding.WriteString("CERTIFICATE", leaf.Der));
        Assert.Contains("leaf.pem: OK", await OpenSsl.CheckAsync(_dir.Path, ["verify", .. OpenSsl.At(Samples.Now), "-x509_strict", "-CAfile", "root.pem", "leaf.pem"]), StringComparison.Ordinal);

        var crl = Encodings.Crl(signer, [new RevokedEntry(Convert.FromHexString(leaf.SerialHex), Samples.Now, X509RevocationReason.KeyCompromise)], 3, Samples.Now, Samples.Now.AddDays(1));
        Write("ca.crl.pem", PemEncoding.WriteString("X509 CRL", crl));
        Assert.Contains("verify OK", (await OpenSsl.RunAsync(_dir.Path, "crl", "-in", "ca.crl.pem", "-noout", "-CAfile", "root.pem")).All, StringComparison.Ordinal);
        var revoked = await OpenSsl.RunAsync(_dir.Path, ["verify", .. OpenSsl.At(Samples.Now), "-crl_check", "-CAfile", "root.pem", "-CRLfile", "ca.crl.pem", "leaf.pem"]);
        Assert.Contains("certificate revoked", revoked.All, StringComparison.Ordinal);

        // `opencm ca request` writes a PKCS#10 with the token key: openssl checks its self-signature.
        var csr = new CertificateRequest(new X500DistinguishedName("CN=HSM Issuing CA"), generator.PublicKey, generator.PreferredHash).CreateSigningRequest(generator);
        Write("ca.csr", PemEncoding.WriteString("CERTIFICATE REQUEST", csr));
        var verified = await OpenSsl.RunAsync(_dir.Path, "req", "-in", "ca.csr", "-noout", "-verify");
        Assert.True(verified.ExitCode == 0 && verified.All.Contains("verify OK", StringComparison.Ordinal), verified.All);
        var text = await OpenSsl.CheckAsync(_dir.Path, "x509", "-in", "root.pem", "-noout", "-text");
        Assert.Contains(padding == "Pss" ? "rsassaPss" : algorithm.ToString().StartsWith("Ecdsa", StringComparison.Ordinal) ? "ecdsa-with-SHA" : "WithRSAEncryption", text, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Generate_PrivateKey_SensitiveNotExtractableAndPublicKeyIsTheCertificates()
    {
        var hsm = await HsmAsync();
        using var token = Pkcs11Token.Open(Options());
        var label = NewLabel("tool");
        token.Generate(label, CaKeyAlgorithm.EcdsaP256);
        var generator = token.OpenKey(label);
        var root = Pkcs11Signer.CreateRoot(generator, new X500DistinguishedName("CN=Tool Root"), Samples.Now);
        using var certificate = X509CertificateLoader.LoadCertificate(root);

        var objects = await hsm.Pkcs11ToolAsync("--token-label", Token, "--login", "--pin", SoftHsmToken.UserPin, "--list-objects");
        Assert.Equal(0, objects.ExitCode);
        var privateKey = SoftHsmToken.ObjectBlock(objects.Output, "Private Key Object", label);
        Assert.Contains("sensitive", privateKey, StringComparison.Ordinal);
        Assert.Contains("never extractable", privateKey, StringComparison.Ordinal);
        Assert.Contains("sign", privateKey, StringComparison.Ordinal);

        var publicKey = _dir.File("pub.der");
        var read = await hsm.Pkcs11ToolAsync("--token-label", Token, "--read-object", "--type", "pubkey", "--label", label, "--output-file", publicKey);
        Assert.Equal(0, read.ExitCode);
        Assert.Equal(certificate.PublicKey.ExportSubjectPublicKeyInfo(), await File.ReadAllBytesAsync(publicKey));

        // pkcs11-tool writes nothing for a private key ("reading private keys not supported", exit 0) ...
        await hsm.Pkcs11ToolAsync("--token-label", Token, "--login", "--pin", SoftHsmToken.UserPin, "--read-object", "--type", "privkey", "--label", label, "--output-file", _dir.File("priv.der"));
        Assert.False(File.Exists(_dir.File("priv.der")) && new FileInfo(_dir.File("priv.der")).Length > 0, "pkcs11-tool exported the private key");

        // ... so the token itself is asked for the key's value, logged in: CKR_ATTRIBUTE_SENSITIVE.
        var value = token.WithSession(s => s.Session.GetAttributeValue(s.FindKey(label, CKO.CKO_PRIVATE_KEY)!, [CKA.CKA_VALUE, CKA.CKA_EXTRACTABLE, CKA.CKA_SENSITIVE]));
        Assert.True(value[0].CannotBeRead, "the token revealed CKA_VALUE of the CA key");
        Assert.False(value[1].GetValueAsBool());
        Assert.True(value[2].GetValueAsBool());
    }

    [SkippableFact]
    public async Task Sign_ManyThreads_PoolSignsConcurrentlyAndEverySignatureVerifies()
    {
        await HsmAsync();
        using var token = Pkcs11Token.Open(Options());
        Assert.True(token.PoolSize > 1, $"pool size {token.PoolSize}");
        var label = NewLabel("pool");
        token.Generate(label, CaKeyAlgorithm.EcdsaP256);
        var generator = token.OpenKey(label);
        using var verifier = ECDsa.Create();
        verifier.ImportSubjectPublicKeyInfo(generator.PublicKey.ExportSubjectPublicKeyInfo(), out _);

        var failures = 0;
        Parallel.For(0, 400, new ParallelOptions { MaxDegreeOfParallelism = 32 }, i =>
        {
            var data = BitConverter.GetBytes(i);
            var signature = generator.SignData(data, HashAlgorithmName.SHA256);
            if (!verifier.VerifyData(data, signature, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence))
            {
                Interlocked.Increment(ref failures);
            }
        });
        Assert.Equal(0, failures);
    }

    [SkippableFact]
    public async Task Open_WrongPin_RefusedNamingTheTokenNotThePin()
    {
        await HsmAsync();
        var e = Assert.Throws<Pkcs11ConfigurationException>(() => Pkcs11Token.Open(Options(WrongPinToken, pin: "not-the-pin-4711")));
        Assert.Contains($"token '{WrongPinToken}'", e.Message, StringComparison.Ordinal);
        Assert.Contains("PIN", e.Message, StringComparison.Ordinal);
        Assert.Contains("CKR_PIN_INCORRECT", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("4711", e.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Open_MissingTokenOrModule_RefusedNamingIt()
    {
        await HsmAsync();
        var token = Assert.Throws<Pkcs11ConfigurationException>(() => Pkcs11Token.Open(Options("no-such-token")));
        Assert.Contains("token 'no-such-token'", token.Message, StringComparison.Ordinal);
        var module = Assert.Throws<Pkcs11ConfigurationException>(() => Pkcs11Token.Open(Options().With(o => o.Library = "/nonexistent/libpkcs11.so")));
        Assert.Contains("/nonexistent/libpkcs11.so", module.Message, StringComparison.Ordinal);
        var noPin = Assert.Throws<Pkcs11ConfigurationException>(() => Pkcs11Token.Open(Options().With(o => o.Pin = null)));
        Assert.Contains("Ca__Pkcs11__Pin", noPin.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task OpenKey_MissingKey_RefusedNamingTheLabel()
    {
        await HsmAsync();
        using var token = Pkcs11Token.Open(Options());
        var e = Assert.Throws<Pkcs11ConfigurationException>(() => token.OpenKey("no-such-key"));
        Assert.Contains("'no-such-key'", e.Message, StringComparison.Ordinal);
        Assert.Contains($"token '{Token}'", e.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Generate_LabelInUse_RefusedAndTheKeyKept()
    {
        await HsmAsync();
        using var token = Pkcs11Token.Open(Options());
        var label = NewLabel("twice");
        var first = token.Generate(label, CaKeyAlgorithm.EcdsaP256);
        var e = Assert.Throws<Pkcs11ConfigurationException>(() => token.Generate(label, CaKeyAlgorithm.EcdsaP384));
        Assert.Contains($"'{label}'", e.Message, StringComparison.Ordinal);
        Assert.Equal(first, token.OpenKey(label).PublicKey.ExportSubjectPublicKeyInfo());
    }

    [SkippableFact]
    public async Task Signer_CertificateForAnotherKey_Refused()
    {
        await HsmAsync();
        using var token = Pkcs11Token.Open(Options());
        var a = NewLabel("a");
        var b = NewLabel("b");
        token.Generate(a, CaKeyAlgorithm.EcdsaP256);
        token.Generate(b, CaKeyAlgorithm.EcdsaP256);
        var root = Pkcs11Signer.CreateRoot(token.OpenKey(a), new X500DistinguishedName("CN=A"), Samples.Now);
        var e = Assert.Throws<Pkcs11ConfigurationException>(() => new Pkcs11Signer(root, token.OpenKey(b)));
        Assert.Contains(b, e.Message, StringComparison.Ordinal);
    }

    public void Dispose() => _dir.Dispose();

    private void Write(string name, string text) => File.WriteAllText(_dir.File(name), text);
}

/// <summary>Options are a record-like POCO in tests: a copy with one setting changed.</summary>
internal static class OptionsCopy
{
    public static Pkcs11Options With(this Pkcs11Options o, Action<Pkcs11Options> change)
    {
        var copy = new Pkcs11Options { Library = o.Library, TokenLabel = o.TokenLabel, SlotId = o.SlotId, KeyLabel = o.KeyLabel, Pin = o.Pin, PinFile = o.PinFile, MaxSessions = o.MaxSessions, RsaPadding = o.RsaPadding };
        change(copy);
        return copy;
    }
}
