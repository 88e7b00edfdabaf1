using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using BenchmarkDotNet.Attributes;
using OpenCM.Application;
using OpenCM.Authority;
using OpenCM.Authority.Pkcs11;
using OpenCM.Domain;

namespace OpenCM.Bench;

/// <summary>
/// Signing a certificate with the CA key in SoftHSM2 (PKCS#11, issue #20) beside the same key
/// algorithm in memory: one signature at a time, and 32 at once through the session pool.
/// SoftHSM2 is a correctness stand-in (OpenSSL in another library behind the PKCS#11 calls), not
/// an HSM's speed. Needs softhsm2 (apt-get install softhsm2); the token directory is the run's own.
/// In process, short: a generated project's build timed out on the shared box, and every case
/// sets SOFTHSM2_CONF for the module it loads anyway.
/// </summary>
[InProcess]
[WarmupCount(3)]
[IterationCount(5)]
[MemoryDiagnoser]
public class Pkcs11SigningBenchmarks
{
    private const string Module = "/usr/lib/softhsm/libsofthsm2.so";
    private const string Pin = "bench-pin";
    private readonly CertificateTemplate _template = new()
    {
        CommonName = "BenchP256",
        KeyAlgorithm = KeyAlgorithm.EcdsaP256,
        Subject = "CN={name},OU=Bench,O=OpenCM",
        ExtendedKeyUsages = ["1.3.6.1.5.5.7.3.2"],
    };

    private readonly SubjectAttributes _subject = new("bench", Guid.NewGuid(), "S-1-5-21-1-2-3-1000");
    private string _directory = "";
    private Pkcs11Token? _token;
    private ICertificateSigner _signer = null!;
    private IssuancePipeline _pipeline = null!;
    private byte[] _spki = [];

    [Params(CaKeyAlgorithm.EcdsaP256, CaKeyAlgorithm.EcdsaP384, CaKeyAlgorithm.Rsa3072)]
    public CaKeyAlgorithm Ca { get; set; }

    [Params("software", "softhsm")]
    public string Key { get; set; } = "software";

    [GlobalSetup]
    public void Setup()
    {
        var now = DateTimeOffset.UtcNow;
        if (Key == "software")
        {
            var root = CertificateAuthorityFactory.CreateRoot("CN=Bench CA", Ca, now);
            _signer = LocalKeySigner.Load(root.CertificateDer, root.Pkcs8PrivateKey);
        }
        else
        {
            _directory = Path.Combine(Path.GetTempPath(), "opencm-bench-hsm-" + Guid.NewGuid().ToString("N")[..8]);
            Directory.CreateDirectory(Path.Combine(_directory, "tokens"));
            var config = Path.Combine(_directory, "softhsm2.conf");
            File.WriteAllText(config, $"directories.tokendir = {Path.Combine(_directory, "tokens")}\nobjectstore.backend = file\nlog.level = ERROR\n");

            // SoftHSM reads getenv() at C_Initialize; .NET's SetEnvironmentVariable alone does not reach it on Unix.
            Environment.SetEnvironmentVariable("SOFTHSM2_CONF", config);
            _ = setenv("SOFTHSM2_CONF", config, 1);
            using (var init = Process.Start(new ProcessStartInfo("softhsm2-util", ["--init-token", "--free", "--label", "bench", "--so-pin", "bench-so-pin", "--pin", Pin]) { RedirectStandardOutput = true, Environment = { ["SOFTHSM2_CONF"] = config } })!)
            {
                init.WaitForExit();
            }

            _token = Pkcs11Token.Open(new Pkcs11Options { Library = Module, TokenLabel = "bench", Pin = Pin });
            _token.Generate("ca", Ca);
            var generator = _token.OpenKey("ca");
            _signer = new Pkcs11Signer(Pkcs11Signer.CreateRoot(generator, new X500DistinguishedName("CN=Bench CA"), now), generator);
        }

        _pipeline = new IssuancePipeline(_signer, ["http://localhost/CertificateManagement/crl/Bench-CA.crl"]);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        _spki = key.ExportSubjectPublicKeyInfo();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _signer.Dispose();
        _token?.Dispose();
        if (_directory.Length > 0)
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    // One certificate: plan, TBSCertificate, signature (in the token or in memory).
    [Benchmark]
    public byte[] SignOne() => Sign();

    // 32 certificates from as many parallel callers: the session pool's throughput (divide by 32 per certificate).
    [Benchmark(OperationsPerInvoke = 32)]
    public void Sign32Parallel() => Parallel.For(0, 32, _ => Sign());

    private byte[] Sign() =>
        _pipeline.Sign(new CertificateOrder(Convert.ToHexString(IssuancePipeline.NewSerialNumber()), _spki, _template, _subject, DateTimeOffset.UtcNow)).Der;

#pragma warning disable SYSLIB1054, CA2101, CA5392 // One libc call with ASCII arguments in a benchmark's setup.
    [DllImport("libc", CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    private static extern int setenv(string name, string value, int overwrite);
#pragma warning restore SYSLIB1054, CA2101, CA5392
}
