using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using BenchmarkDotNet.Attributes;
using OpenCM.Application;
using OpenCM.Authority;
using OpenCM.Domain;

namespace OpenCM.Bench;

/// <summary>
/// Where a certificatedata's CPU goes in the CA (issue #11.3), step by step, for a P-256 CSR on a
/// P-256 or a P-384 CA: the CSR check (parse, proof of possession, key), the certificate's build
/// and signature, and the certs-only PKCS#7 the client receives. ImportKey and Verify isolate
/// the two parts of the CSR check that are .NET's and OpenSSL's, not ours.
/// </summary>
[ShortRunJob]
[MemoryDiagnoser]
public class IssuanceBenchmarks
{
    private LocalKeySigner _signer = null!;
    private IssuancePipeline _pipeline = null!;
    private string _csr = "";
    private byte[] _spki = [];
    private byte[] _certificate = [];
    private ECDsa _imported = null!;
    private readonly byte[] _data = new byte[300];
    private byte[] _signature = [];

    [Params(CaKeyAlgorithm.EcdsaP256, CaKeyAlgorithm.EcdsaP384)]
    public CaKeyAlgorithm Ca { get; set; }
    private readonly CertificateTemplate _template = new()
    {
        CommonName = "BenchP256",
        KeyAlgorithm = KeyAlgorithm.EcdsaP256,
        Subject = "CN={name},OU=Bench,O=OpenCM",
        ExtendedKeyUsages = ["1.3.6.1.5.5.7.3.2"],
    };

    private readonly SubjectAttributes _subject = new("bench", Guid.NewGuid(), "S-1-5-21-1-2-3-1000");

    [GlobalSetup]
    public void Setup()
    {
        var root = CertificateAuthorityFactory.CreateRoot("CN=Bench CA", Ca, DateTimeOffset.UtcNow);
        _signer = LocalKeySigner.Load(root.CertificateDer, root.Pkcs8PrivateKey);
        _pipeline = new IssuancePipeline(_signer, ["http://localhost/CertificateManagement/crl/Bench-CA.crl"]);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        _csr = Convert.ToBase64String(new CertificateRequest("CN=bench", key, HashAlgorithmName.SHA256).CreateSigningRequest());
        _spki = IssuancePipeline.Check(_csr, _template);
        _certificate = Sign();
        _imported = ECDsa.Create();
        _imported.ImportSubjectPublicKeyInfo(_spki, out _);
        _signature = key.SignData(_data, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _signer.Dispose();
        _imported.Dispose();
    }

    // The client's P-256 key from its SubjectPublicKeyInfo, as the CSR check imports it.
    [Benchmark]
    public int ImportKey()
    {
        using var ec = ECDsa.Create();
        ec.ImportSubjectPublicKeyInfo(_spki, out _);
        return ec.KeySize;
    }

    // One ECDSA P-256 verification with an imported key: the proof of possession.
    [Benchmark]
    public bool Verify() => _imported.VerifyData(_data, _signature, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);

    [Benchmark]
    public byte[] CheckCsr() => IssuancePipeline.Check(_csr, _template);

    [Benchmark]
    public byte[] Sign() =>
        _pipeline.Sign(new CertificateOrder(Convert.ToHexString(IssuancePipeline.NewSerialNumber()), _spki, _template, _subject, DateTimeOffset.UtcNow)).Der;

    [Benchmark]
    public byte[] Pkcs7() => Encodings.Pkcs7(_certificate, _signer);

    [Benchmark]
    public byte[] Whole() => Encodings.Pkcs7(
        _pipeline.Sign(new CertificateOrder(Convert.ToHexString(IssuancePipeline.NewSerialNumber()), IssuancePipeline.Check(_csr, _template), _template, _subject, DateTimeOffset.UtcNow)).Der,
        _signer);
}
