using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OpenCM.TestKit;

namespace OpenCM.Authority.Tests;

/// <summary>
/// <see cref="CertificateAuthorities.AuthorityKeyIdentifier"/> reads the extension without .NET's
/// certificate decoder (issue #25): it must answer what <see cref="X509AuthorityKeyIdentifierExtension"/>
/// answers, and null, not an exception, for anything that is not a certificate.
/// </summary>
public class AuthorityKeyIdentifierTests
{
    private static X509Certificate2 SelfSigned(bool withAki, bool withKeyId = true)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=aki test", key, HashAlgorithmName.SHA256);
        var ski = new X509SubjectKeyIdentifierExtension(request.PublicKey, false);
        request.CertificateExtensions.Add(ski);
        if (withAki)
        {
            request.CertificateExtensions.Add(withKeyId
                ? X509AuthorityKeyIdentifierExtension.CreateFromSubjectKeyIdentifier(ski)
                : X509AuthorityKeyIdentifierExtension.CreateFromIssuerNameAndSerialNumber(new X500DistinguishedName("CN=issuer"), [1, 2, 3]));
        }

        return request.CreateSelfSigned(Samples.Now, Samples.Now.AddDays(1));
    }

    [Theory]
    [InlineData(true, true)]
    [InlineData(true, false)]
    [InlineData(false, false)]
    public void AuthorityKeyIdentifier_Certificate_SameAsDotNet(bool withAki, bool withKeyId)
    {
        using var certificate = SelfSigned(withAki, withKeyId);
        var expected = certificate.Extensions.OfType<X509AuthorityKeyIdentifierExtension>().FirstOrDefault()?.KeyIdentifier;

        var actual = CertificateAuthorities.AuthorityKeyIdentifier(certificate.RawData);

        Assert.Equal(expected?.ToArray(), actual);
    }

    [Fact]
    public void AuthorityKeyIdentifier_NotACertificate_Null()
    {
        using var certificate = SelfSigned(true);
        var der = certificate.RawData;
        byte[][] hostile = [[], [0x30], [0x30, 0x80], [0x04, 0x00], [.. der.AsSpan(0, der.Length / 2)], [.. der, 0x00], [0x30, 0x03, 0x30, 0x01, 0x00]];

        Assert.All(hostile, bytes => Assert.Null(CertificateAuthorities.AuthorityKeyIdentifier(bytes)));
    }

    [Fact]
    public void AuthorityKeyIdentifier_EveryTruncationAndByteFlip_NeverThrows()
    {
        using var certificate = SelfSigned(true);
        var der = certificate.RawData;
        for (var i = 0; i < der.Length; i++)
        {
            _ = CertificateAuthorities.AuthorityKeyIdentifier(der.AsMemory(0, i));
            var flipped = (byte[])der.Clone();
            flipped[i] ^= 0xFF;
            _ = CertificateAuthorities.AuthorityKeyIdentifier(flipped);
        }
    }
}
