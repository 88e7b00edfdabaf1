using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using BenchmarkDotNet.Attributes;
using OpenCM.Authority;
using OpenCM.Domain;

namespace OpenCM.Bench;

/// <summary>
/// The CSR check and its key import (issue #25, decision 3), per key type: the whole check with
/// EC keys through OpenSSL's point decoder (<c>Check</c>, what the server runs) against the check
/// with .NET's SubjectPublicKeyInfo import (<c>CheckNetImport</c>, before), and the import alone
/// three ways: .NET's SubjectPublicKeyInfo import, the key read by hand into
/// <see cref="ECParameters"/>/<see cref="RSAParameters"/> and imported (the decision's proposal,
/// measured and not kept: it costs what the SubjectPublicKeyInfo import costs), and OpenSSL's
/// point decoder (EC only).
/// </summary>
[ShortRunJob]
[MemoryDiagnoser]
public class CsrCheckBenchmarks
{
    public enum KeyKind
    {
        P256,
        P384,
        Rsa2048,
    }

    private byte[] _der = [];
    private byte[] _spki = [];
    private byte[] _point = [];
    private CertificateTemplate _template = null!;

    [Params(KeyKind.P256, KeyKind.P384, KeyKind.Rsa2048)]
    public KeyKind Key { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        using AsymmetricAlgorithm key = Key switch
        {
            KeyKind.P256 => ECDsa.Create(ECCurve.NamedCurves.nistP256),
            KeyKind.P384 => ECDsa.Create(ECCurve.NamedCurves.nistP384),
            _ => RSA.Create(2048),
        };
        var request = key is RSA rsa
            ? new CertificateRequest("CN=bench", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
            : new CertificateRequest("CN=bench", (ECDsa)key, HashAlgorithmName.SHA256);
        _der = request.CreateSigningRequest();
        _spki = key.ExportSubjectPublicKeyInfo();
        _point = new AsnReader(_spki, AsnEncodingRules.DER).ReadSequence().ReadSequenceAndBitString();
        _template = new CertificateTemplate
        {
            CommonName = "Bench",
            KeyAlgorithm = Key switch { KeyKind.P256 => KeyAlgorithm.EcdsaP256, KeyKind.P384 => KeyAlgorithm.EcdsaP384, _ => KeyAlgorithm.Rsa },
            Subject = "CN={name}",
        };
    }

    [Benchmark(Baseline = true)]
    public byte[] CheckNetImport() => CsrValidator.Validate(_der, _template, "csr", openSslEcImport: false);

    [Benchmark]
    public byte[] Check() => CsrValidator.Validate(_der, _template, "csr");

    [Benchmark]
    public int ImportSpki()
    {
        using AsymmetricAlgorithm key = Key == KeyKind.Rsa2048 ? RSA.Create() : ECDsa.Create();
        if (key is RSA rsa)
        {
            rsa.ImportSubjectPublicKeyInfo(_spki, out _);
        }
        else
        {
            ((ECDsa)key).ImportSubjectPublicKeyInfo(_spki, out _);
        }

        return key.KeySize;
    }

    [Benchmark]
    public int ImportParameters()
    {
        if (Key == KeyKind.Rsa2048)
        {
            var sequence = new AsnReader(_point, AsnEncodingRules.BER).ReadSequence();
            using var rsa = RSA.Create(new RSAParameters
            {
                Modulus = Unsigned(sequence.ReadIntegerBytes().Span),
                Exponent = Unsigned(sequence.ReadIntegerBytes().Span),
            });
            return rsa.KeySize;
        }

        var width = (_point.Length - 1) / 2;
        using var ec = ECDsa.Create(new ECParameters
        {
            Curve = Key == KeyKind.P256 ? ECCurve.NamedCurves.nistP256 : ECCurve.NamedCurves.nistP384,
            Q = { X = _point.AsSpan(1, width).ToArray(), Y = _point.AsSpan(1 + width).ToArray() },
        });
        return ec.KeySize;
    }

    [Benchmark]
    public int ImportOpenSsl()
    {
        if (Key == KeyKind.Rsa2048)
        {
            return 0;
        }

        using var ec = OpenSslEcKeys.TryImport(Key == KeyKind.P256 ? Oids.P256 : Oids.P384, _point) ?? throw new InvalidOperationException("OpenSSL's EC import is not available here.");
        return ec.KeySize;
    }

    private static byte[] Unsigned(ReadOnlySpan<byte> integer) => (integer.Length > 1 && integer[0] == 0 ? integer[1..] : integer).ToArray();
}

internal static class SpkiReading
{
    // SubjectPublicKeyInfo's BIT STRING, after its AlgorithmIdentifier.
    public static byte[] ReadSequenceAndBitString(this AsnReader spki)
    {
        _ = spki.ReadSequence();
        return spki.ReadBitString(out _);
    }
}
