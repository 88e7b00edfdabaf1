using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using OpenCM.Application;
using OpenCM.Authority;
using OpenCM.Authority.Pkcs11;
using OpenCM.Authority.Scep;
using OpenCM.Composition;
using OpenCM.Storage;
using OpenCM.TestKit;

namespace OpenCM.Server.Tests;

/// <summary>
/// The SCEP server over a CA whose key is in a SoftHSM2 token (issue #24): the first CA is made in
/// the token (Ca:Pkcs11), so the RA key is made there too. Without softhsm2 the server runs with a
/// software CA and the tests skip, saying why.
/// </summary>
public sealed class ScepHsmFixture : ScepFixture
{
    public const string TokenLabel = "opencm-scep";

    private static readonly Lazy<IReadOnlyDictionary<string, string>> HsmSettings = new(() =>
    {
        if (SoftHsmToken.Missing is not null)
        {
            return new Dictionary<string, string>();
        }

        var hsm = SoftHsmToken.ForThisProcess;
        hsm.InitTokenAsync(TokenLabel).GetAwaiter().GetResult();
        var pinFile = Path.Combine(hsm.TokenDirectory, "..", "pin");
        File.WriteAllText(pinFile, SoftHsmToken.UserPin + "\n");
        return new Dictionary<string, string>
        {
            ["Ca:Pkcs11:Library"] = SoftHsmToken.Module,
            ["Ca:Pkcs11:TokenLabel"] = TokenLabel,
            ["Ca:Pkcs11:KeyLabel"] = "opencm-scep-root",
            ["Ca:Pkcs11:PinFile"] = pinFile,
        };
    });

    protected override IReadOnlyDictionary<string, string> Settings => HsmSettings.Value;
}

public class ScepHsmTests : IClassFixture<ScepHsmFixture>
{
    private readonly ScepHsmFixture _server;

    public ScepHsmTests(ScepHsmFixture server) => _server = server;

    // Debian's scepclient enrolls against the token-backed CA: GetCACert's RA certificate is for a key
    // pair in the token (pkcs11-tool reads the same public key), never extractable, and the database's
    // RA secret is the certificate and the key's label only; the envelope opened by C_Decrypt and the
    // CertRep signed by C_Sign, scepclient gets a certificate that verifies.
    [SkippableFact]
    public async Task ScepClient_CaKeyInToken_RaKeyInTokenIssuedAndVerified()
    {
        SoftHsmToken.SkipIfMissing();
        ScepClientTool.SkipIfMissing();
        var hsm = SoftHsmToken.ForThisProcess;
        var (secret, _) = await _server.ChallengeAsync("tls-server");
        using var dir = new TempDirectory();
        var (exit, output) = await ScepClientTool.RunAsync(dir.Path, TimeSpan.FromMinutes(2),
            "-server-url", _server.ScepUrl, "-private-key", dir.File("key.pem"), "-challenge", secret, "-cn", "hsm0.test", "-ca-fingerprint", await _server.RaFingerprintAsync());
        Assert.True(exit == 0, output);
        Assert.Contains("pkiStatus=SUCCESS", output, StringComparison.Ordinal);
        await File.WriteAllTextAsync(dir.File("chain.pem"), await _server.CreateClient().GetStringAsync("/CertificateManagement/ca/chain.pem"));
        Assert.Contains("client.pem: OK", await OpenSsl.CheckAsync(dir.Path, ["verify", .. OpenSsl.At(_server.Clock.GetUtcNow()), "-CAfile", "chain.pem", "client.pem"]), StringComparison.Ordinal);

        var ra = await _server.Services.GetRequiredService<ScepRaKeys>().CurrentAsync();
        var key = Assert.IsType<Pkcs11Rsa>(ra.Key);
        Assert.StartsWith("scep-ra:1:", key.KeyLabel, StringComparison.Ordinal);
        var read = await hsm.Pkcs11ToolAsync("--token-label", ScepHsmFixture.TokenLabel, "--read-object", "--type", "pubkey", "--label", key.KeyLabel, "--output-file", dir.File("ra-pub.der"));
        Assert.True(read.ExitCode == 0, read.All);
        Assert.Equal(ra.Certificate.PublicKey.ExportSubjectPublicKeyInfo(), await File.ReadAllBytesAsync(dir.File("ra-pub.der")));

        var objects = await hsm.Pkcs11ToolAsync("--token-label", ScepHsmFixture.TokenLabel, "--login", "--pin", SoftHsmToken.UserPin, "--list-objects");
        Assert.True(objects.ExitCode == 0, objects.All);
        var privateKey = SoftHsmToken.ObjectBlock(objects.Output, "Private Key Object", key.KeyLabel);
        Assert.Contains("never extractable", privateKey, StringComparison.Ordinal);
        Assert.Contains("sensitive", privateKey, StringComparison.Ordinal);
        Assert.Contains("decrypt", privateKey, StringComparison.Ordinal);
        Assert.Throws<CryptographicException>(() => ra.Key.ExportParameters(true));

        // The database: the RA secret is [marker][length][certificate][label], no key; the doctor says where the key is.
        var secretName = key.KeyLabel[..key.KeyLabel.LastIndexOf(':')];
        var packed = await _server.Services.GetRequiredService<SecretStore>().FindAsync(secretName);
        Assert.NotNull(packed);
        Assert.Equal(8 + ra.Certificate.RawData.Length + System.Text.Encoding.UTF8.GetByteCount(key.KeyLabel), packed.Length);
        Assert.Equal([0xFF, 0xFF, 0xFF, 0xFF], packed[..4]);
        Assert.Equal(ra.Certificate.RawData, packed[8..(8 + ra.Certificate.RawData.Length)]);
        var active = _server.Services.GetRequiredService<CertificateAuthorities>().Active.Stored;
        var described = await ScepRaKeys.DescribeAsync(_server.Services.GetRequiredService<SecretStore>(), active, _server.Services.GetRequiredService<ScepOptions>(), _server.Clock);
        Assert.Contains($"PKCS#11 token (label '{key.KeyLabel}')", described, StringComparison.Ordinal);
    }

    // A hostile envelope for the token RA: a 200 with a FAILURE CertRep (badMessageCheck; PostAsync checks the 200), never a 5xx, and the token keeps serving.
    [SkippableFact]
    public async Task PkcsReq_EnvelopeThatDoesNotOpen_FailureAndTheTokenStillServes()
    {
        SoftHsmToken.SkipIfMissing();
        var (secret, _) = await _server.ChallengeAsync("tls-server");
        var ra = (await _server.Services.GetRequiredService<ScepRaKeys>().CurrentAsync()).Certificate;
        using var client = new TestScepClient();

        // The RA's issuer and serial on another key: the envelope names the RA, but its key transport does not decrypt under the RA's key.
        using var other = RSA.Create(2048);
        using var impostor = new CertificateRequest(ra.SubjectName, other, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
            .Create(ra.IssuerName, X509SignatureGenerator.CreateForRSA(other, RSASignaturePadding.Pkcs1), ra.NotBefore, ra.NotAfter, ra.SerialNumberBytes.ToArray());
        var message = client.Message(ScepMessageTypes.PKCSReq, client.Csr("bad.test", secret), impostor);
        var response = await TestScepClient.PostAsync(_server.CreateClient(), "/CertificateManagement/scep", message);
        var answer = TestScepClient.Read(response, ra);
        Assert.Equal(("2", "1"), (answer.Status, answer.FailInfo));

        var good = TestScepClient.Read(await TestScepClient.PostAsync(_server.CreateClient(), "/CertificateManagement/scep", client.Message(ScepMessageTypes.PKCSReq, client.Csr("good.test", secret), ra)), ra);
        Assert.Equal("0", good.Status);
    }

    // Rollover in the token: half an RA validity later a new RA pair is made in the token, and the
    // previous one (still a recipient) opens a message enveloped for it. A ScepRaKeys of its own, on
    // a clock of its own years ahead, so the fixture's clock and RAs are not moved for the other tests.
    [SkippableFact]
    public async Task RaRollover_KeyInToken_NewPairAndThePreviousStillOpens()
    {
        SoftHsmToken.SkipIfMissing();
        var clock = new FakeTimeProvider(Samples.Now.AddYears(3));
        var options = new ScepOptions { RaValidityDays = 30 };
        var secrets = _server.Services.GetRequiredService<SecretStore>();
        using var keys = new ScepRaKeys(secrets, _server.Services.GetRequiredService<CertificateAuthorities>(), options, clock);
        var first = await keys.CurrentAsync();
        Assert.Single(await keys.RecipientsAsync());

        clock.Advance(TimeSpan.FromDays(15)); // one period (half of 30 days) exactly: the next period, whatever the start's offset in its own
        var second = await keys.CurrentAsync();
        var recipients = await keys.RecipientsAsync();
        Assert.Equal(new[] { second, first }, recipients);
        var (firstKey, secondKey) = (Assert.IsType<Pkcs11Rsa>(first.Key), Assert.IsType<Pkcs11Rsa>(second.Key));
        Assert.NotEqual(firstKey.KeyLabel, secondKey.KeyLabel);
        Assert.NotEqual(first.Certificate.PublicKey.ExportSubjectPublicKeyInfo(), second.Certificate.PublicKey.ExportSubjectPublicKeyInfo());
        Assert.Equal(first.Certificate.PublicKey.ExportSubjectPublicKeyInfo(), firstKey.ExportSubjectPublicKeyInfo());

        using var client = new TestScepClient();
        var opened = ScepMessages.Read(client.Message(ScepMessageTypes.PKCSReq, client.Csr("old-ra.test", "x"), first.Certificate), recipients);
        Assert.Same(first, opened.OpenedBy);
        foreach (var label in new[] { firstKey.KeyLabel, secondKey.KeyLabel })
        {
            var packed = await secrets.FindAsync(label[..label.LastIndexOf(':')]);
            Assert.Equal([0xFF, 0xFF, 0xFF, 0xFF], packed![..4]);
        }
    }
}
