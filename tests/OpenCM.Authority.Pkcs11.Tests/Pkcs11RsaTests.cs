using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;
using Net.Pkcs11Interop.Common;
using OpenCM.TestKit;

namespace OpenCM.Authority.Pkcs11.Tests;

/// <summary>
/// The SCEP RA's RSA key in a SoftHSM2 token (issue #24): <see cref="Pkcs11Rsa"/> decrypts what
/// the public key encrypted (PKCS#1 v1.5, OAEP), signs what the public key verifies, opens a CMS
/// envelope and signs a CMS SignedData through .NET's own classes, and never gives its private half.
/// </summary>
[Collection(SoftHsmCollection.Name)]
public sealed class Pkcs11RsaTests
{
    private static readonly byte[] Secret = [.. Enumerable.Range(1, 32).Select(i => (byte)i)];

    public static TheoryData<string> EncryptionPaddings => ["Pkcs1", "OaepSHA1", "OaepSHA256"];

    public static TheoryData<string, string> SignaturePaddings => new()
    {
        { "SHA1", "Pkcs1" },
        { "SHA256", "Pkcs1" },
        { "SHA384", "Pkcs1" },
        { "SHA512", "Pkcs1" },
        { "SHA256", "Pss" },
    };

    [SkippableTheory]
    [MemberData(nameof(EncryptionPaddings))]
    public async Task Decrypt_EncryptedWithThePublicKey_RoundTrips(string name)
    {
        await Pkcs11TokenTests.HsmAsync();
        using var token = Pkcs11Token.Open(Pkcs11TokenTests.Options());
        using var key = token.GenerateRsa(Pkcs11TokenTests.NewLabel("ra"), [1, 2, 3]);
        var padding = Encryption(name);
        using var software = RSA.Create(key.ExportParameters(false));
        var encrypted = software.Encrypt(Secret, padding);

        if (padding.Mode == RSAEncryptionPaddingMode.Oaep && padding.OaepHashAlgorithm != HashAlgorithmName.SHA1 && !OaepSha2Supported(key))
        {
            // SoftHSM 2.6 (Debian's) knows OAEP with SHA-1 only: the token says no, as a CryptographicException naming it.
            var refused = Assert.Throws<CryptographicException>(() => key.Decrypt(encrypted, padding));
            Assert.Contains("CKR_", refused.Message, StringComparison.Ordinal);
            return;
        }

        Assert.Equal(Secret, key.Decrypt(encrypted, padding));
    }

    [SkippableTheory]
    [MemberData(nameof(SignaturePaddings))]
    public async Task SignHash_EachHash_VerifiesWithThePublicKey(string hash, string padding)
    {
        await Pkcs11TokenTests.HsmAsync();
        using var token = Pkcs11Token.Open(Pkcs11TokenTests.Options());
        using var key = token.GenerateRsa(Pkcs11TokenTests.NewLabel("ra"), [4]);
        var name = new HashAlgorithmName(hash);
        var rsaPadding = padding == "Pss" ? RSASignaturePadding.Pss : RSASignaturePadding.Pkcs1;
        var data = "SCEP CertRep"u8.ToArray();

        var signature = key.SignData(data, name, rsaPadding);

        using var software = RSA.Create(key.ExportParameters(false));
        Assert.True(software.VerifyData(data, signature, name, rsaPadding));
    }

    [SkippableFact]
    public async Task Decrypt_UnsupportedPadding_ClearError()
    {
        await Pkcs11TokenTests.HsmAsync();
        using var token = Pkcs11Token.Open(Pkcs11TokenTests.Options());
        using var key = token.GenerateRsa(Pkcs11TokenTests.NewLabel("ra"), [5]);
        using var software = RSA.Create(key.ExportParameters(false));
        var encrypted = software.Encrypt(Secret, RSAEncryptionPadding.Pkcs1);

        var oaepMd5 = Assert.Throws<CryptographicException>(() => key.Decrypt(encrypted, RSAEncryptionPadding.CreateOaep(HashAlgorithmName.MD5)));
        Assert.Contains("OAEP with MD5 is not supported", oaepMd5.Message, StringComparison.Ordinal);
        var md5 = Assert.Throws<CryptographicException>(() => key.SignHash(new byte[16], HashAlgorithmName.MD5, RSASignaturePadding.Pkcs1));
        Assert.Contains("MD5", md5.Message, StringComparison.Ordinal);

        // Not a PKCS#1 block for this key (a hostile envelope): a CryptographicException, never the token's "unavailable".
        var garbage = software.Encrypt(Secret, RSAEncryptionPadding.OaepSHA1);
        Assert.Throws<CryptographicException>(() => key.Decrypt(garbage, RSAEncryptionPadding.Pkcs1));
        Assert.Equal(Secret, key.Decrypt(encrypted, RSAEncryptionPadding.Pkcs1));
    }

    [SkippableFact]
    public async Task GenerateRsa_PrivateKey_NeverLeavesTheToken()
    {
        await Pkcs11TokenTests.HsmAsync();
        using var token = Pkcs11Token.Open(Pkcs11TokenTests.Options());
        var label = Pkcs11TokenTests.NewLabel("ra");
        using var key = token.GenerateRsa(label, [6, 7]);

        Assert.Throws<CryptographicException>(() => key.ExportParameters(true));
        Assert.ThrowsAny<CryptographicException>(() => key.ExportPkcs8PrivateKey());
        Assert.Throws<NotSupportedException>(() => key.ImportParameters(key.ExportParameters(false)));
        Assert.Equal(2048, key.KeySize);
        var value = token.WithSession(s => s.Session.GetAttributeValue(s.FindKey(label, CKO.CKO_PRIVATE_KEY)!,
            [CKA.CKA_VALUE, CKA.CKA_EXTRACTABLE, CKA.CKA_SENSITIVE, CKA.CKA_DECRYPT, CKA.CKA_SIGN, CKA.CKA_ID]));
        Assert.True(value[0].CannotBeRead, "the token revealed the RA key");
        Assert.False(value[1].GetValueAsBool());
        Assert.True(value[2].GetValueAsBool());
        Assert.True(value[3].GetValueAsBool());
        Assert.True(value[4].GetValueAsBool());
        Assert.Equal([6, 7], value[5].GetValueAsByteArray());

        // Opened again by its label: the same public key; destroyed: gone.
        using var again = token.OpenRsa(label);
        Assert.Equal(key.ExportRSAPublicKey(), again.ExportRSAPublicKey());
        token.Destroy(label);
        Assert.Throws<Pkcs11ConfigurationException>(() => token.OpenRsa(label));
    }

    // What SCEP does with it: EnvelopedCms opens an envelope made for a certificate of the token key,
    // and SignedCms signs with it (CmsSigner over the certificate and the key), verifiable by anyone.
    [SkippableTheory]
    [InlineData("1.2.840.113549.1.1.1")]
    [InlineData("1.2.840.113549.1.1.7")]
    public async Task Cms_EnvelopeForTheTokenKey_OpensAndSignedDataVerifies(string keyTransport)
    {
        await Pkcs11TokenTests.HsmAsync();
        using var token = Pkcs11Token.Open(Pkcs11TokenTests.Options());
        using var key = token.GenerateRsa(Pkcs11TokenTests.NewLabel("ra"), [8]);
        var request = new CertificateRequest("CN=Token RA", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var certificate = request.Create(new X500DistinguishedName("CN=Token RA"), X509SignatureGenerator.CreateForRSA(key, RSASignaturePadding.Pkcs1),
            DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1), [1, 2, 3, 4]);

        var envelope = new EnvelopedCms(new ContentInfo("a PKCS#10"u8.ToArray()), new AlgorithmIdentifier(new Oid("2.16.840.1.101.3.4.1.42")));
        envelope.Encrypt(new CmsRecipient(SubjectIdentifierType.IssuerAndSerialNumber, certificate,
            keyTransport == "1.2.840.113549.1.1.7" ? RSAEncryptionPadding.OaepSHA1 : RSAEncryptionPadding.Pkcs1));
        var opened = new EnvelopedCms();
        opened.Decode(envelope.Encode());
        opened.Decrypt(opened.RecipientInfos[0], key);
        Assert.Equal("a PKCS#10"u8.ToArray(), opened.ContentInfo.Content);

        var signed = new SignedCms(new ContentInfo("CertRep"u8.ToArray()));
        signed.ComputeSignature(new CmsSigner(SubjectIdentifierType.IssuerAndSerialNumber, certificate, key) { DigestAlgorithm = new Oid("2.16.840.1.101.3.4.2.1") });
        var check = new SignedCms();
        check.Decode(signed.Encode());
        check.CheckSignature([certificate], verifySignatureOnly: true);
    }

    private static RSAEncryptionPadding Encryption(string name) => name switch
    {
        "Pkcs1" => RSAEncryptionPadding.Pkcs1,
        "OaepSHA1" => RSAEncryptionPadding.OaepSHA1,
        "OaepSHA256" => RSAEncryptionPadding.OaepSHA256,
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, null),
    };

    // Whether the module accepts OAEP with SHA-256 at all (SoftHSM 2.7 does; 2.6 answers CKR_ARGUMENTS_BAD whatever the data).
    private static bool OaepSha2Supported(Pkcs11Rsa key)
    {
        using var software = RSA.Create(key.ExportParameters(false));
        try
        {
            key.Decrypt(software.Encrypt([1], RSAEncryptionPadding.OaepSHA256), RSAEncryptionPadding.OaepSHA256);
            return true;
        }
        catch (CryptographicException e) when (e.InnerException is Pkcs11Exception { RV: CKR.CKR_ARGUMENTS_BAD or CKR.CKR_MECHANISM_PARAM_INVALID })
        {
            return false;
        }
    }
}
