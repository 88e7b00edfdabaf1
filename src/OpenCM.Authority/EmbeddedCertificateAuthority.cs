using System.Security.Cryptography.X509Certificates;
using OpenCM.Application;
using OpenCM.Domain;

namespace OpenCM.Authority;

/// <summary>
/// The embedded CA behind the use cases' <see cref="ICertificateAuthority"/> port: signs plans in
/// process with the key the signer holds; its CRL is built from the certificate store, where the
/// use cases have already recorded every revocation.
/// </summary>
public sealed class EmbeddedCertificateAuthority : ICertificateAuthority
{
    private readonly IssuancePipeline _pipeline;
    private readonly CrlPublisher _crl;
    private readonly Ocsp.OcspResponder? _ocsp;

    public EmbeddedCertificateAuthority(IssuancePipeline pipeline, CrlPublisher crl, Ocsp.OcspResponder? ocsp = null)
    {
        _pipeline = pipeline;
        _crl = crl;
        _ocsp = ocsp;
    }

    // Signing in process is CPU-bound and short; it completes synchronously.
    public Task<IssuedCertificate> SignAsync(CertificatePlan plan, CancellationToken ct = default) => Task.FromResult(_pipeline.Sign(plan));

    // The revocation is in the store already; the next CRL fetch and OCSP answer publish it without waiting out their caches.
    public Task RevokeAsync(Revocation revocation, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(revocation);
        _crl.Invalidate();
        _ocsp?.Invalidate();
        return Task.CompletedTask;
    }
}

/// <summary>The CSR checker port over <see cref="CsrValidator"/>'s one table.</summary>
public sealed class CsrChecker : ICertificateRequestChecker
{
    public byte[] Check(string csr, CertificateTemplate template, string field) => IssuancePipeline.Check(csr, template, field);
}

/// <summary>Keys for templates whose keys the server makes, in process.</summary>
public sealed class KeyGenerator : IKeyGenerator
{
    public GeneratedKey Generate(CertificateTemplate template)
    {
        ArgumentNullException.ThrowIfNull(template);
        using var key = Keys.Generate(template.KeyAlgorithm, template.KeySize);
        return new GeneratedKey(key.ExportSubjectPublicKeyInfo(), key.ExportPkcs8PrivateKey());
    }
}

/// <summary>PKCS#7 and PFX answers with this CA's certificate as the chain (<see cref="Encodings"/>).</summary>
public sealed class CertificatePackaging : ICertificatePackaging
{
    private readonly ICertificateSigner _signer;

    public CertificatePackaging(ICertificateSigner signer) => _signer = signer;

    public byte[] Pkcs7(byte[] certificateDer) => Encodings.Pkcs7(certificateDer, _signer);

    public byte[] Pfx(byte[] certificateDer, byte[] pkcs8PrivateKey, string password)
    {
        using var certificate = X509CertificateLoader.LoadCertificate(certificateDer);
        using var key = Keys.ImportPkcs8(certificate.PublicKey.Oid.Value ?? "", pkcs8PrivateKey);
        return Encodings.Pfx(certificateDer, key, _signer, password);
    }
}
