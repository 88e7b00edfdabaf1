using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;
using OpenCM.Authority.Scep;
using OpenCM.TestKit;

namespace OpenCM.Authority.Tests;

/// <summary>SCEP's CMS layer (RFC 8894 §3) with messages built as a client builds them.</summary>
public sealed class ScepMessagesTests : IDisposable
{
    private const string Des = "1.3.14.3.2.7";
    private const string Aes128 = "2.16.840.1.101.3.4.1.2";
    private const string Aes256 = "2.16.840.1.101.3.4.1.42";
    private readonly LocalKeySigner _ca;
    private readonly ScepRa _ra;
    private readonly RSA _clientKey = RSA.Create(2048);
    private readonly X509Certificate2 _self;
    private readonly byte[] _csr;

    public ScepMessagesTests()
    {
        var root = CertificateAuthorityFactory.CreateRoot("CN=SCEP Test CA", CaKeyAlgorithm.EcdsaP256, Samples.Now);
        _ca = LocalKeySigner.Load(root.CertificateDer, root.Pkcs8PrivateKey);
        var raKey = RSA.Create(2048);
        _ra = new ScepRa(ScepRa.Issue(_ca, raKey, Samples.Now, TimeSpan.FromDays(365)), raKey);
        var request = new CertificateRequest("CN=device.test", _clientKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        _csr = request.CreateSigningRequest();
        _self = request.CreateSelfSigned(Samples.Now.AddDays(-1), Samples.Now.AddDays(1));
    }

    public void Dispose()
    {
        _ca.Dispose();
        _ra.Dispose();
        _clientKey.Dispose();
        _self.Dispose();
    }

    [Fact]
    public void Issue_RaCertificate_RsaSignedByCaForSignatureAndKeyEncipherment()
    {
        var usage = Assert.Single(_ra.Certificate.Extensions.OfType<X509KeyUsageExtension>());
        Assert.Equal(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, usage.KeyUsages);
        Assert.False(Assert.Single(_ra.Certificate.Extensions.OfType<X509BasicConstraintsExtension>()).CertificateAuthority);
        Assert.Equal(_ca.Certificate.SubjectName.RawData, _ra.Certificate.IssuerName.RawData);
        Assert.Equal("CN=SCEP Test CA SCEP RA", _ra.Certificate.Subject);
        using var chain = new X509Chain { ChainPolicy = { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck, VerificationTime = Samples.Now.UtcDateTime } };
        chain.ChainPolicy.CustomTrustStore.Add(_ca.Certificate);
        Assert.True(chain.Build(_ra.Certificate));
    }

    [Theory]
    [InlineData(Des, "1.3.14.3.2.26", "1.2.840.113549.3.7")] // scepclient 2.1's defaults: DES and SHA-1; the answer in 3DES
    [InlineData(Aes128, "2.16.840.1.101.3.4.2.1", Aes128)]
    [InlineData(Aes256, "2.16.840.1.101.3.4.2.1", Aes256)]
    public void Read_ClientPkcsReq_OpensAndAnswersSuccessForTheRequesterKey(string encryption, string digest, string answerEncryption)
    {
        var message = ClientMessage(ScepMessageType.PKCSReq, _csr, _ra.Certificate, encryption, digest, "tx-1", [1, 2, 3, 4]);

        var read = ScepMessages.Read(message, [_ra]);

        Assert.Equal((ScepMessageType.PKCSReq, "tx-1"), (read.Type, read.Header.TransactionId));
        Assert.Equal(new byte[] { 1, 2, 3, 4 }, read.Header.SenderNonce);
        Assert.Equal(_csr, read.Content);
        Assert.Equal(_self.RawData, read.Header.Signer.RawData);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(_clientKey.ExportSubjectPublicKeyInfo())), read.SignerKeyHash);

        var issued = _self.RawData; // any certificate will do for the envelope's content
        var answer = ScepMessages.CertRep(read.Header, _ra, ScepStatus.Success, issued: issued);
        var (attributes, content) = ClientReads(answer);
        Assert.Equal(("3", "0", "tx-1"), (attributes["2.16.840.1.113733.1.9.2"], attributes["2.16.840.1.113733.1.9.3"], attributes["2.16.840.1.113733.1.9.7"]));
        Assert.Equal("01020304", attributes["2.16.840.1.113733.1.9.6"]);
        var envelope = new EnvelopedCms();
        envelope.Decode(content);
        Assert.Equal(answerEncryption, envelope.ContentEncryptionAlgorithm.Oid.Value);
        envelope.Decrypt(envelope.RecipientInfos[0], _clientKey);
        var certsOnly = new SignedCms();
        certsOnly.Decode(envelope.ContentInfo.Content);
        Assert.Equal(issued, Assert.Single(certsOnly.Certificates).RawData);
    }

    [Theory]
    [InlineData(ScepStatus.Pending, null)]
    [InlineData(ScepStatus.Failure, "4")]
    public void CertRep_PendingOrFailure_SignedWithoutEnvelope(ScepStatus status, string? failInfo)
    {
        var read = ScepMessages.Read(ClientMessage(ScepMessageType.CertPoll, [0x30, 0x00], _ra.Certificate, Aes128, "2.16.840.1.101.3.4.2.1", "tx-2", [9]), [_ra]);
        var (attributes, content) = ClientReads(ScepMessages.CertRep(read.Header, _ra, status, ScepFailInfo.BadCertId));
        Assert.Empty(content);
        Assert.Equal(((int)status).ToString(System.Globalization.CultureInfo.InvariantCulture), attributes["2.16.840.1.113733.1.9.3"]);
        Assert.Equal(failInfo, attributes.GetValueOrDefault("2.16.840.1.113733.1.9.4"));
    }

    // Hostile input: a typed refusal, with a header to answer to only when one was readable.
    [Theory]
    [InlineData("garbage", false, ScepFailInfo.BadRequest)]
    [InlineData("empty", false, ScepFailInfo.BadRequest)]
    [InlineData("no transaction", false, ScepFailInfo.BadRequest)]
    [InlineData("other recipient", true, ScepFailInfo.BadMessageCheck)]
    [InlineData("tampered content", true, ScepFailInfo.BadMessageCheck)]
    [InlineData("CertRep from a client", true, ScepFailInfo.BadRequest)]
    [InlineData("MD5", true, ScepFailInfo.BadAlg)]
    public void Read_Hostile_ScepMessageException(string kind, bool answerable, ScepFailInfo expected)
    {
        using var otherKey = RSA.Create(2048);
        using var other = new CertificateRequest("CN=other", otherKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1).CreateSelfSigned(Samples.Now.AddDays(-1), Samples.Now.AddDays(1));
        var message = kind switch
        {
            "garbage" => "not cms"u8.ToArray(),
            "empty" => [],
            "no transaction" => ClientMessage(ScepMessageType.PKCSReq, _csr, _ra.Certificate, Aes128, "2.16.840.1.101.3.4.2.1", null, [1]),
            "other recipient" => ClientMessage(ScepMessageType.PKCSReq, _csr, other, Aes128, "2.16.840.1.101.3.4.2.1", "tx", [1]),
            "CertRep from a client" => ClientMessage(ScepMessageType.CertRep, _csr, _ra.Certificate, Aes128, "2.16.840.1.101.3.4.2.1", "tx", [1]),
            "MD5" => ClientMessage(ScepMessageType.PKCSReq, _csr, _ra.Certificate, Aes128, "1.2.840.113549.2.5", "tx", [1]),
            _ => Tamper(ClientMessage(ScepMessageType.PKCSReq, _csr, _ra.Certificate, Aes128, "2.16.840.1.101.3.4.2.1", "tx", [1])),
        };

        var refused = Assert.Throws<ScepMessageException>(() => ScepMessages.Read(message, [_ra]));
        Assert.Equal(answerable, refused.Header is not null);
        if (answerable)
        {
            Assert.Equal(expected, refused.FailInfo);
        }
    }

    [Fact]
    public void IssuerAndSubject_Names_ReadBackOrNull()
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteEncodedValue(_ca.Certificate.SubjectName.RawData);
            writer.WriteEncodedValue(_self.SubjectName.RawData);
        }

        Assert.Equal(_self.SubjectName.RawData, ScepMessages.IssuerAndSubject(writer.Encode())!.Value.Subject);
        Assert.Null(ScepMessages.IssuerAndSubject([0x30, 0x03, 0x02, 0x01]));
    }

    // What a client sends (RFC 8894 §3.2): data enveloped for the RA, signed with the self-signed certificate.
    private byte[] ClientMessage(ScepMessageType type, byte[] data, X509Certificate2 recipient, string encryption, string digest, string? transaction, byte[] nonce)
    {
        var envelope = new EnvelopedCms(new ContentInfo(data), new AlgorithmIdentifier(new System.Security.Cryptography.Oid(encryption)));
        envelope.Encrypt(new CmsRecipient(SubjectIdentifierType.IssuerAndSerialNumber, recipient, RSAEncryptionPadding.Pkcs1));
        var signed = new SignedCms(new ContentInfo(envelope.Encode()));
        var signer = new CmsSigner(SubjectIdentifierType.IssuerAndSerialNumber, _self) { DigestAlgorithm = new System.Security.Cryptography.Oid(digest), IncludeOption = X509IncludeOption.EndCertOnly };
        signer.SignedAttributes.Add(Printable("2.16.840.1.113733.1.9.2", ((int)type).ToString(System.Globalization.CultureInfo.InvariantCulture)));
        if (transaction is not null)
        {
            signer.SignedAttributes.Add(Printable("2.16.840.1.113733.1.9.7", transaction));
        }

        var octets = new AsnWriter(AsnEncodingRules.DER);
        octets.WriteOctetString(nonce);
        signer.SignedAttributes.Add(new AsnEncodedData("2.16.840.1.113733.1.9.5", octets.Encode()));
        signed.ComputeSignature(signer, silent: true);
        return signed.Encode();
    }

    // What a client checks of a CertRep: the RA's signature, the attributes, and the content.
    private (Dictionary<string, string> Attributes, byte[] Content) ClientReads(byte[] answer)
    {
        var signed = new SignedCms();
        signed.Decode(answer);
        signed.CheckSignature(new X509Certificate2Collection(_ra.Certificate), verifySignatureOnly: true);
        var signerInfo = Assert.Single(signed.SignerInfos.Cast<SignerInfo>());
        Assert.Equal(_ra.Certificate.RawData, signerInfo.Certificate!.RawData);
        var attributes = new Dictionary<string, string>();
        foreach (var attribute in signerInfo.SignedAttributes)
        {
            var reader = new AsnReader(attribute.Values[0].RawData, AsnEncodingRules.DER);
            var tag = reader.PeekTag();
            attributes[attribute.Oid.Value!] = tag.HasSameClassAndValue(Asn1Tag.PrimitiveOctetString) ? Convert.ToHexString(reader.ReadOctetString())
                : tag.TagValue == (int)UniversalTagNumber.PrintableString ? reader.ReadCharacterString(UniversalTagNumber.PrintableString) : "?";
        }

        return (attributes, signed.ContentInfo.Content);
    }

    private static AsnEncodedData Printable(string oid, string value)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        writer.WriteCharacterString(UniversalTagNumber.PrintableString, value);
        return new AsnEncodedData(oid, writer.Encode());
    }

    // One byte of the enveloped content changed: the signature no longer verifies.
    private static byte[] Tamper(byte[] message)
    {
        var copy = (byte[])message.Clone();
        copy[copy.Length / 3] ^= 0x01;
        return copy;
    }
}
