using System.Security.Cryptography;
using OpenCM.Application;
using OpenCM.Domain;

namespace OpenCM.Authority;

/// <summary>The embedded CA behind the use cases' <see cref="ICertificateAuthority"/> port.</summary>
public sealed class EmbeddedCertificateAuthority : ICertificateAuthority
{
    private readonly ICertificateSigner _signer;
    private readonly IssuancePipeline _pipeline;

    public EmbeddedCertificateAuthority(ICertificateSigner signer, IssuancePipeline pipeline)
    {
        _signer = signer;
        _pipeline = pipeline;
    }

    public SignedCertificate IssueFromCsr(string csr, CertificateTemplate template, SubjectAttributes subject, DateTimeOffset now, string field) =>
        Map(_pipeline.IssueFromCsr(csr, template, subject, now, field));

    public ServerKeyCertificate IssueWithServerKey(CertificateTemplate template, SubjectAttributes subject, DateTimeOffset now, string pfxPassword)
    {
        ArgumentNullException.ThrowIfNull(template);
        using AsymmetricAlgorithm key = template.KeyAlgorithm switch
        {
            KeyAlgorithm.EcdsaP256 => ECDsa.Create(ECCurve.NamedCurves.nistP256),
            KeyAlgorithm.EcdsaP384 => ECDsa.Create(ECCurve.NamedCurves.nistP384),
            _ => RSA.Create(template.KeySize),
        };
        var issued = _pipeline.IssueForKey(key, template, subject, now);
        return new ServerKeyCertificate(Map(issued), Encodings.Pfx(issued.Der, key, _signer, pfxPassword), key.ExportPkcs8PrivateKey());
    }

    public byte[] Pkcs7(byte[] certificateDer) => Encodings.Pkcs7(certificateDer, _signer);

    public byte[] Pfx(byte[] certificateDer, byte[] pkcs8PrivateKey, string password)
    {
        using var certificate = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificate(certificateDer);
        using AsymmetricAlgorithm key = certificate.PublicKey.Oid.Value == Oids.Rsa ? RSA.Create() : ECDsa.Create();
        switch (key)
        {
            case RSA rsa:
                rsa.ImportPkcs8PrivateKey(pkcs8PrivateKey, out _);
                break;
            case ECDsa ec:
                ec.ImportPkcs8PrivateKey(pkcs8PrivateKey, out _);
                break;
        }

        return Encodings.Pfx(certificateDer, key, _signer, password);
    }

    private static SignedCertificate Map(IssuedCertificate c) => new(c.SerialHex, c.Der, c.Thumbprint, c.NotBefore, c.NotAfter);
}
