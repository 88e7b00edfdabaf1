using OpenCM.Application;
using OpenCM.Domain;

namespace OpenCM.Authority;

/// <summary>
/// The embedded CA behind the use cases' <see cref="ICertificateAuthority"/> port: signs in
/// process with the key the signer holds; its CRL is built from the certificate store, where the
/// use cases have already recorded every revocation.
/// </summary>
public sealed class EmbeddedCertificateAuthority : ICertificateAuthority
{
    private readonly ICertificateSigner _signer;
    private readonly IssuancePipeline _pipeline;
    private readonly CrlPublisher _crl;

    public EmbeddedCertificateAuthority(ICertificateSigner signer, IssuancePipeline pipeline, CrlPublisher crl)
    {
        _signer = signer;
        _pipeline = pipeline;
        _crl = crl;
    }

    public byte[] CheckCertificateRequest(string csr, CertificateTemplate template, string field) => IssuancePipeline.Check(csr, template, field);

    public GeneratedKey GenerateKey(CertificateTemplate template)
    {
        ArgumentNullException.ThrowIfNull(template);
        using var key = Keys.Generate(template.KeyAlgorithm, template.KeySize);
        return new GeneratedKey(key.ExportSubjectPublicKeyInfo(), key.ExportPkcs8PrivateKey());
    }

    public string NewSerialNumber() => Convert.ToHexString(IssuancePipeline.NewSerialNumber());

    // Signing in process is CPU-bound and short; it completes synchronously.
    public Task<IssuedCertificate> SignAsync(CertificateOrder order, CancellationToken ct = default) => Task.FromResult(_pipeline.Sign(order));

    // The revocation is in the store already; the next CRL fetch publishes it without waiting out the cached CRL.
    public Task RevokeAsync(Revocation revocation, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(revocation);
        _crl.Invalidate();
        return Task.CompletedTask;
    }

    public byte[] Pkcs7(byte[] certificateDer) => Encodings.Pkcs7(certificateDer, _signer);

    public byte[] Pfx(byte[] certificateDer, byte[] pkcs8PrivateKey, string password)
    {
        using var certificate = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificate(certificateDer);
        using var key = Keys.ImportPkcs8(certificate.PublicKey.Oid.Value ?? "", pkcs8PrivateKey);
        return Encodings.Pfx(certificateDer, key, _signer, password);
    }
}
