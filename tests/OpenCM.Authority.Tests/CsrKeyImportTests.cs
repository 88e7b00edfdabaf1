using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OpenCM.Authority;
using OpenCM.Domain;

namespace OpenCM.Authority.Tests;

/// <summary>
/// Issue #25.3: the CSR check imports canonical EC points through OpenSSL's point decoder instead
/// of .NET's SubjectPublicKeyInfo import. The oracle is the check as it was (.NET's import only,
/// <c>openSslEcImport: false</c>): every hostile key below, each in a CSR that its real key signs
/// wherever one exists, ends the same way on both paths, and every refusal is ValidationFailed
/// naming the field.
/// </summary>
public sealed class CsrKeyImportTests
{
    private const string Field = "certificaterequests[0]";
    private const string EcdsaSha256 = "1.2.840.10045.4.3.2";
    private const string RsaSha256 = "1.2.840.113549.1.1.11";

    private static readonly ECDsa P256 = P256WithNonZeroX();
    private static readonly ECDsa P384 = ECDsa.Create(ECCurve.NamedCurves.nistP384);
    private static readonly RSA Rsa = RSA.Create(2048);

    // "Both coordinates a byte short" must be a different point: with x[0] and y[0] both zero
    // (one key in 65,536) it would be this key's own point, which the import rightly takes.
    private static ECDsa P256WithNonZeroX()
    {
        while (true)
        {
            var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            if (key.ExportParameters(false).Q.X![0] != 0)
            {
                return key;
            }

            key.Dispose();
        }
    }

    [Fact]
    public void OpenSslEcKeys_OnLinux_Available()
    {
        // The fast path must not go quietly unused where the server runs.
        Assert.Equal(OperatingSystem.IsLinux(), OpenSslEcKeys.Available);
    }

    public static TheoryData<string, bool> EcPoints() => new()
    {
        // name, accepted
        { "canonical", true },
        { "canonical P-384", true },
        { "compressed", false },
        { "compressed, odd y", false },
        { "hybrid", false },
        { "coordinates zero-padded to 33 bytes", true }, // .NET's import takes them; kept as it was
        { "one byte more (even length)", false },
        { "one byte less (even length)", false },
        { "both coordinates a byte short", false },
        { "not on the curve", false },
        { "coordinates not below the prime", false },
        { "all zero", false },
        { "the point at infinity", false },
        { "the prefix alone", false },
        { "empty", false },
        { "P-384 point under the P-256 curve", false },
        { "P-256 point under the P-384 curve", false },
        { "unknown curve", false },
        { "secp256k1", false },
    };

    [Theory]
    [MemberData(nameof(EcPoints))]
    public void Validate_HostileEcPoint_SameOutcomeAsDotNetsImport(string name, bool accepted)
    {
        var p256 = P256.ExportParameters(false).Q;
        var p384 = P384.ExportParameters(false).Q;
        byte[] x = p256.X!, y = p256.Y!;
        var (curve, point, signer, template) = name switch
        {
            "canonical" => (Oids.P256, Uncompressed(x, y), P256, KeyAlgorithm.EcdsaP256),
            "canonical P-384" => (Oids.P384, Uncompressed(p384.X!, p384.Y!), P384, KeyAlgorithm.EcdsaP384),
            "compressed" => (Oids.P256, [(byte)(2 + (y[^1] & 1)), .. x], P256, KeyAlgorithm.EcdsaP256),
            "compressed, odd y" => (Oids.P256, [(byte)(3 - (y[^1] & 1)), .. x], P256, KeyAlgorithm.EcdsaP256),
            "hybrid" => (Oids.P256, [(byte)(6 + (y[^1] & 1)), .. x, .. y], P256, KeyAlgorithm.EcdsaP256),
            "coordinates zero-padded to 33 bytes" => (Oids.P256, Uncompressed([0, .. x], [0, .. y]), P256, KeyAlgorithm.EcdsaP256),
            "one byte more (even length)" => (Oids.P256, [.. Uncompressed(x, y), 0], P256, KeyAlgorithm.EcdsaP256),
            "one byte less (even length)" => (Oids.P256, Uncompressed(x, y)[..^1], P256, KeyAlgorithm.EcdsaP256),
            "both coordinates a byte short" => (Oids.P256, Uncompressed(x[1..], y[1..]), P256, KeyAlgorithm.EcdsaP256),
            "not on the curve" => (Oids.P256, Uncompressed(x, [.. y[..^1], (byte)(y[^1] ^ 1)]), P256, KeyAlgorithm.EcdsaP256),
            "coordinates not below the prime" => (Oids.P256, Uncompressed(Enumerable.Repeat((byte)0xFF, 32).ToArray(), y), P256, KeyAlgorithm.EcdsaP256),
            "all zero" => (Oids.P256, Uncompressed(new byte[32], new byte[32]), P256, KeyAlgorithm.EcdsaP256),
            "the point at infinity" => (Oids.P256, [0x00], P256, KeyAlgorithm.EcdsaP256),
            "the prefix alone" => (Oids.P256, [0x04], P256, KeyAlgorithm.EcdsaP256),
            "empty" => (Oids.P256, [], P256, KeyAlgorithm.EcdsaP256),
            "P-384 point under the P-256 curve" => (Oids.P256, Uncompressed(p384.X!, p384.Y!), P384, KeyAlgorithm.EcdsaP256),
            "P-256 point under the P-384 curve" => (Oids.P384, Uncompressed(x, y), P256, KeyAlgorithm.EcdsaP384),
            "unknown curve" => ("1.2.3.4", Uncompressed(x, y), P256, KeyAlgorithm.EcdsaP256),
            "secp256k1" => ("1.3.132.0.10", Uncompressed(x, y), P256, KeyAlgorithm.EcdsaP256),
            _ => throw new ArgumentOutOfRangeException(nameof(name)),
        };
        var spki = Spki(Oids.EcPublicKey, writer => writer.WriteObjectIdentifier(curve), point);
        var csr = Csr(spki, EcdsaSha256, includeNull: false, info => signer.SignData(info, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence));

        AssertSameOutcome(csr, new CertificateTemplate { CommonName = "x", Subject = "CN={name}", KeyAlgorithm = template }, accepted);
    }

    public static TheoryData<string, bool> RsaKeys() => new()
    {
        // name, accepted
        { "canonical", true },
        { "modulus with a superfluous leading zero", true }, // BER inside the BIT STRING: .NET's import takes it
        { "modulus negative (leading zero missing)", true }, // .NET reads it unsigned: the key its owner signed with
        { "exponent 0", false },
        { "exponent 1, signature that verifies under it", false },
        { "exponent 2", false },
        { "exponent 65536 (even)", false },
        { "exponent negative", false },
        { "modulus 16,392 bits", false },
        { "modulus 4,096 bits", false },
        { "modulus zero", false },
        { "a third integer", false },
    };

    [Theory]
    [MemberData(nameof(RsaKeys))]
    public void Validate_HostileRsaKey_SameOutcomeAsBefore(string name, bool accepted)
    {
        var key = Rsa.ExportParameters(false);
        byte[] n = key.Modulus!, e = key.Exponent!;
        Func<byte[], byte[]> sign = info => Rsa.SignData(info, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        byte[][] integers = name switch
        {
            "canonical" => [[0, .. n], e],
            "modulus with a superfluous leading zero" => [[0, 0, .. n], e],
            "modulus negative (leading zero missing)" => [n, e],
            "exponent 0" => [[0, .. n], [0]],
            "exponent 1, signature that verifies under it" => [[0, .. n], [1]],
            "exponent 2" => [[0, .. n], [2]],
            "exponent 65536 (even)" => [[0, .. n], [1, 0, 0]],
            "exponent negative" => [[0, .. n], [0x81, 0, 1]],
            "modulus 16,392 bits" => [[0, 0xC1, .. new byte[2048]], e],
            "modulus 4,096 bits" => [[0, 0xC1, .. new byte[511]], e],
            "modulus zero" => [[0], e],
            "a third integer" => [[0, .. n], e, [5]],
            _ => throw new ArgumentOutOfRangeException(nameof(name)),
        };
        if (name.StartsWith("exponent 1", StringComparison.Ordinal))
        {
            // With e = 1 the signature is the padded digest itself (RFC 8017 §8.2.2): it verifies without any private key.
            sign = info => [0x00, 0x01, .. Enumerable.Repeat((byte)0xFF, 256 - 3 - 51), 0x00,
                0x30, 0x31, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20, .. SHA256.HashData(info)];
        }

        var sequence = new AsnWriter(AsnEncodingRules.BER);
        using (sequence.PushSequence())
        {
            foreach (var integer in integers)
            {
                // Written as given: non-minimal and negative integers on purpose.
                sequence.WriteEncodedValue([0x02, .. Length(integer.Length), .. integer]);
            }
        }

        var spki = Spki(Oids.Rsa, writer => writer.WriteNull(), sequence.Encode());
        AssertSameOutcome(Csr(spki, RsaSha256, includeNull: true, sign), new CertificateTemplate { CommonName = "x", Subject = "CN={name}" }, accepted);
    }

    [Fact]
    public void TryImport_MutatedPoints_SameVerdictAndKeyAsDotNetsImport()
    {
        // Deterministic: each byte of a real point changed in turn, twice over, on both curves.
        var random = new Random(25);
        foreach (var (key, curve) in new[] { (P256, Oids.P256), (P384, Oids.P384) })
        {
            var q = key.ExportParameters(false).Q;
            byte[] point = [0x04, .. q.X!, .. q.Y!];
            for (var i = 0; i < 2 * point.Length; i++)
            {
                var mutated = (byte[])point.Clone();
                mutated[i % point.Length] ^= (byte)random.Next(1, 256);
                var spki = Spki(Oids.EcPublicKey, writer => writer.WriteObjectIdentifier(curve), mutated);

                string Outcome(Func<ECDsa?> import)
                {
                    try
                    {
                        using var imported = import();
                        return imported is null ? "fallback" : Convert.ToHexString([.. imported.ExportParameters(false).Q.X!, .. imported.ExportParameters(false).Q.Y!]);
                    }
                    catch (CryptographicException)
                    {
                        return "refused";
                    }
                }

                var expected = Outcome(() =>
                {
                    var ec = ECDsa.Create();
                    try
                    {
                        ec.ImportSubjectPublicKeyInfo(spki, out _);
                        return ec;
                    }
                    catch
                    {
                        ec.Dispose();
                        throw;
                    }
                });
                var actual = Outcome(() => OpenSslEcKeys.TryImport(curve, mutated));
                Assert.True(actual == expected || (actual == "fallback" && i % point.Length == 0), $"byte {i % point.Length}: OpenSSL {actual}, .NET {expected}");
            }
        }
    }

    private static void AssertSameOutcome(byte[] csr, CertificateTemplate template, bool accepted)
    {
        string Outcome(bool openSslEcImport)
        {
            try
            {
                return Convert.ToHexString(CsrValidator.Validate(csr, template, Field, openSslEcImport));
            }
            catch (OpenCmException ex)
            {
                Assert.Equal((ErrorKind.ValidationFailed, Field), (ex.Error.Kind, ex.Error.Field));
                return "refused";
            }
        }

        var before = Outcome(openSslEcImport: false);
        var now = Outcome(openSslEcImport: true);
        Assert.Equal(before, now);
        Assert.Equal(accepted, now != "refused");
    }

    private static byte[] Uncompressed(byte[] x, byte[] y) => [0x04, .. x, .. y];

    private static byte[] Length(int length) => length switch
    {
        < 0x80 => [(byte)length],
        < 0x100 => [0x81, (byte)length],
        _ => [0x82, (byte)(length >> 8), (byte)length],
    };

    private static byte[] Spki(string algorithm, Action<AsnWriter> parameters, byte[] key)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            using (writer.PushSequence())
            {
                writer.WriteObjectIdentifier(algorithm);
                parameters(writer);
            }

            writer.WriteBitString(key);
        }

        return writer.Encode();
    }

    // CertificationRequest (RFC 2986) around a given SubjectPublicKeyInfo, signed by sign.
    private static byte[] Csr(byte[] spki, string signatureAlgorithm, bool includeNull, Func<byte[], byte[]> sign)
    {
        var info = new AsnWriter(AsnEncodingRules.DER);
        using (info.PushSequence())
        {
            info.WriteInteger(0);
            info.WriteEncodedValue(new X500DistinguishedName("CN=x").RawData);
            info.WriteEncodedValue(spki);
            using (info.PushSetOf(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
            {
            }
        }

        var infoDer = info.Encode();
        var request = new AsnWriter(AsnEncodingRules.DER);
        using (request.PushSequence())
        {
            request.WriteEncodedValue(infoDer);
            using (request.PushSequence())
            {
                request.WriteObjectIdentifier(signatureAlgorithm);
                if (includeNull)
                {
                    request.WriteNull();
                }
            }

            request.WriteBitString(sign(infoDer));
        }

        return request.Encode();
    }
}
