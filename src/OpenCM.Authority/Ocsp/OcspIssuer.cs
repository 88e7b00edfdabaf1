using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OpenCM.Application;

namespace OpenCM.Authority.Ocsp;

/// <summary>
/// A CA the responder answers for: its signer, and how to find what it issued under a serial
/// (null: never issued by it). A server with several CAs gives the responder one per CA, each
/// with a lookup limited to that CA's certificates.
/// </summary>
public sealed class OcspIssuer : IDisposable
{
    private static readonly Oid OcspSigning = new("1.3.6.1.5.5.7.3.9");
    private const string OcspNoCheck = "1.3.6.1.5.5.7.48.1.5";

    private readonly Func<string, CancellationToken, Task<SerialStatus?>> _lookup;
    private readonly Lock _renewal = new();
    private readonly List<IDisposable> _responderKeys = [];
    private volatile Responder? _responder;

    public OcspIssuer(ICertificateSigner ca, Func<string, CancellationToken, Task<SerialStatus?>> lookup)
    {
        ArgumentNullException.ThrowIfNull(ca);
        Ca = ca;
        _lookup = lookup;
        Sha1 = (OcspResponseWriter.NameHash(ca.Certificate, HashAlgorithmName.SHA1), OcspResponseWriter.KeyHash(ca.Certificate, HashAlgorithmName.SHA1));
        Sha256 = (OcspResponseWriter.NameHash(ca.Certificate, HashAlgorithmName.SHA256), OcspResponseWriter.KeyHash(ca.Certificate, HashAlgorithmName.SHA256));
    }

    /// <summary>
    /// The OCSP side of CA <paramref name="authorityId"/> of a server with several: it answers for
    /// what it signed (and for serials reserved, not signed yet), and "unknown" for another CA's
    /// serials, which a CertID naming this CA cannot be about (RFC 6960 §2.2).
    /// </summary>
    public static OcspIssuer Of(ICertificateSigner ca, int authorityId, ICertificateStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        return new OcspIssuer(ca, async (serial, ct) =>
            await store.FindStatusAsync(serial, ct).ConfigureAwait(false) is { } found && (found.AuthorityId is null || found.AuthorityId == authorityId) ? found : null);
    }

    public ICertificateSigner Ca { get; }

    private (byte[] Name, byte[] Key) Sha1 { get; }

    private (byte[] Name, byte[] Key) Sha256 { get; }

    /// <summary>Whether <paramref name="id"/> names this CA (its name and key hashes under the CertID's algorithm).</summary>
    public bool Issued(OcspCertId id)
    {
        ArgumentNullException.ThrowIfNull(id);
        var (name, key) = id.Hash == HashAlgorithmName.SHA1 ? Sha1 : Sha256;
        return id.IssuerNameHash.Span.SequenceEqual(name) && id.IssuerKeyHash.Span.SequenceEqual(key);
    }

    /// <summary>What the store says of <paramref name="serialHex"/> under this CA.</summary>
    public Task<SerialStatus?> LookupAsync(string serialHex, CancellationToken ct) => _lookup(serialHex, ct);

    /// <summary>
    /// The key that signs this CA's responses at <paramref name="now"/>: the CA's own, or a
    /// delegated responder certificate, issued on first use and again once half its validity has
    /// passed (so a client never sees one about to expire). Its P-256 key lives in memory only:
    /// a restart issues a new one, which costs one CA signature.
    /// </summary>
    public OcspSigningKey SigningKey(DateTimeOffset now, OcspOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!options.Delegated)
        {
            return new OcspSigningKey(Ca.Certificate, Ca.Generator, Ca.HashAlgorithm, Delegated: false);
        }

        if (_responder is { } current && current.Fresh(now))
        {
            return current.Key;
        }

        lock (_renewal)
        {
            if (_responder is { } again && again.Fresh(now))
            {
                return again.Key;
            }

            var issued = IssueResponder(now, TimeSpan.FromDays(options.ResponderValidityDays));
            _responder = issued;
            return issued.Key;
        }
    }

    public void Dispose()
    {
        lock (_renewal)
        {
            // Replaced responder keys are kept until here: a response being signed may still hold one.
            foreach (var key in _responderKeys)
            {
                key.Dispose();
            }

            _responderKeys.Clear();
        }
    }

    // The responder certificate of RFC 6960 §4.2.2.2: issued by this CA, EKU id-kp-OCSPSigning,
    // and id-pkix-ocsp-nocheck (§4.2.2.2.1) so that clients do not ask about the responder itself.
    private Responder IssueResponder(DateTimeOffset now, TimeSpan validity)
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        _responderKeys.Add(key);
        var name = new X500DistinguishedNameBuilder();
        name.AddCommonName((Ca.Certificate.GetNameInfo(X509NameType.SimpleName, forIssuer: false) is { Length: > 0 } cn ? cn : "OpenCM CA") + " OCSP Responder");
        var request = new CertificateRequest(name.Build(), key, Ca.HashAlgorithm);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([OcspSigning], false));
        request.CertificateExtensions.Add(new X509Extension(OcspNoCheck, [0x05, 0x00], false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Ca.Certificate, includeKeyIdentifier: true, includeIssuerAndSerial: false));

        // A few minutes before now for clients whose clock is behind; never past the CA's own end.
        var caEnd = new DateTimeOffset(Ca.Certificate.NotAfter.ToUniversalTime(), TimeSpan.Zero);
        var notBefore = now.AddMinutes(-5);
        var notAfter = now + validity < caEnd ? now + validity : caEnd;
        var certificate = request.Create(Ca.Certificate.SubjectName, Ca.Generator, notBefore, notAfter, CertificateIssuance.NewSerialBytes());
        _responderKeys.Add(certificate);
        return new Responder(new OcspSigningKey(certificate, X509SignatureGenerator.CreateForECDsa(key), HashAlgorithmName.SHA256, Delegated: true), now, notAfter);
    }

    private sealed record Responder(OcspSigningKey Key, DateTimeOffset IssuedAt, DateTimeOffset NotAfter)
    {
        public bool Fresh(DateTimeOffset now) => now >= IssuedAt && now < IssuedAt + ((NotAfter - IssuedAt) / 2);
    }
}
