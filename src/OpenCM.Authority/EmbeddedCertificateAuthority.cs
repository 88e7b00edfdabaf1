using System.Security.Cryptography.X509Certificates;
using OpenCM.Application;
using OpenCM.Domain;

namespace OpenCM.Authority;

/// <summary>
/// The embedded CA behind the use cases' <see cref="ICertificateAuthority"/> port: signs plans in
/// process with the key of the CA the plan names (its authority key identifier, put there from
/// the active CA's <see cref="IssuerProfile"/>); CRLs are built from the certificate store, where
/// the use cases have already recorded every revocation.
/// </summary>
public sealed class EmbeddedCertificateAuthority : ICertificateAuthority
{
    private readonly CertificateAuthorities _authorities;
    private readonly Ocsp.OcspResponder? _ocsp;
    private readonly Application.Telemetry.OpenCmMetrics? _metrics;

    public EmbeddedCertificateAuthority(CertificateAuthorities authorities, Ocsp.OcspResponder? ocsp = null, Application.Telemetry.OpenCmMetrics? metrics = null)
    {
        _authorities = authorities;
        _ocsp = ocsp;
        _metrics = metrics;
    }

    public IssuerProfile Issuer => _authorities.Active.Pipeline.Issuer;

    // Signing in process is CPU-bound and short; it completes synchronously. A plan made just
    // before a rollover names the CA it was recorded under, and that CA signs it.
    public Task<IssuedCertificate> SignAsync(CertificatePlan plan, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var named = plan.Extensions.FirstOrDefault(e => e.Oid == Oids.AuthorityKeyIdentifier) is { } aki
            && new System.Security.Cryptography.X509Certificates.X509AuthorityKeyIdentifierExtension(aki.Value.AsSpan()).KeyIdentifier is { } id
            ? _authorities.ByKeyIdentifier(id.Span)
            : null;
        return named is null
            ? throw new OpenCmException(new DomainError(ErrorKind.Internal, $"The plan of serial {plan.SerialHex} names no CA this server holds."))
            : Task.FromResult(Sign(named, plan));
    }

    /// <summary>Which key backend signs for <paramref name="authority"/>: a key in memory, or a PKCS#11 token (the metrics' <c>backend</c> label).</summary>
    public static string Backend(IssuingAuthority authority) => authority?.Signer is LocalKeySigner ? "software" : "pkcs11";

    // Timed per key backend (issue #21.1): a slow or failing HSM shows before requests time out.
    private IssuedCertificate Sign(IssuingAuthority named, CertificatePlan plan)
    {
        if (_metrics is null)
        {
            return named.Pipeline.Sign(plan);
        }

        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            var issued = named.Pipeline.Sign(plan);
            _metrics.SignatureTimed(Backend(named), named.Slug, System.Diagnostics.Stopwatch.GetElapsedTime(started));
            return issued;
        }
        catch
        {
            _metrics.SigningFailed(Backend(named), named.Slug);
            throw;
        }
    }

    // The revocation is in the store already; the next CRL fetch and OCSP answer publish it without waiting out their caches.
    public Task RevokeAsync(Revocation revocation, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(revocation);
        foreach (var authority in _authorities.All)
        {
            authority.Crl.Invalidate();
        }

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

/// <summary>
/// PKCS#7 and PFX answers with the chain of the CA that signed the certificate: that CA and the
/// certificates above it, up to the root (issue #20.1), so a relying party that trusts only the
/// enterprise root can build the path (<see cref="Encodings"/>).
/// </summary>
public sealed class CertificatePackaging : ICertificatePackaging
{
    private readonly CertificateAuthorities _authorities;

    public CertificatePackaging(CertificateAuthorities authorities) => _authorities = authorities;

    public byte[] Pkcs7(byte[] certificateDer) => Encodings.Pkcs7(certificateDer, IssuerOf(certificateDer).Chain);

    public byte[] Pfx(byte[] certificateDer, byte[] pkcs8PrivateKey, string password)
    {
        using var certificate = X509CertificateLoader.LoadCertificate(certificateDer);
        using var key = Keys.ImportPkcs8(certificate.PublicKey.Oid.Value ?? "", pkcs8PrivateKey);
        var issuer = IssuerOf(certificateDer);
        return Encodings.Pfx(certificateDer, key, [issuer.Signer.Certificate, .. issuer.Above], password);
    }

    // A certificate this server stored was signed by one of its CAs; the active one stands in for
    // one signed elsewhere (never the case for what the use cases package).
    private IssuingAuthority IssuerOf(byte[] certificateDer) => _authorities.IssuerOf(certificateDer) ?? _authorities.Active;
}
