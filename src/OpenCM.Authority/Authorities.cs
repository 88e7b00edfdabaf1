using System.Formats.Asn1;
using System.Security.Cryptography.X509Certificates;
using OpenCM.Application;
using OpenCM.Domain;

namespace OpenCM.Authority;

/// <summary>
/// Where a CA's relying parties find what it publishes (issue #20.4): its CRL, its own
/// certificate (AIA caIssuers) and the OCSP responder. Built from the origin stored with the CA
/// when it was made and its slug, so the URLs inside every certificate it signed never move
/// (issue #20.5).
/// </summary>
public sealed record PublicationUrls(string Crl, string CaIssuers, string Ocsp)
{
    /// <summary>The URLs under <paramref name="publication"/> (an origin with the API's path base, e.g. https://cm.contoso.com/CertificateManagement).</summary>
    public static PublicationUrls For(string publication, string slug)
    {
        ArgumentNullException.ThrowIfNull(publication);
        var root = publication.TrimEnd('/');
        return new PublicationUrls($"{root}/crl/{slug}.crl", $"{root}/ca/{slug}.crt", $"{root}/ocsp");
    }
}

/// <summary>
/// One CA this server holds, loaded: its signer, the certificates above it, the pipeline that
/// signs for it and the publisher of its CRL. Active CAs sign new certificates; retired ones
/// keep publishing (issue #20.1, rollover).
/// </summary>
public sealed class IssuingAuthority : IDisposable
{
    private readonly byte[] _keyIdentifier;

    public IssuingAuthority(StoredAuthority stored, ICertificateSigner signer, IReadOnlyList<X509Certificate2> above, PublicationUrls? urls, CrlPublisher crl, Ocsp.OcspIssuer ocsp)
    {
        ArgumentNullException.ThrowIfNull(ocsp);
        Ocsp = ocsp;
        ArgumentNullException.ThrowIfNull(stored);
        ArgumentNullException.ThrowIfNull(signer);
        ArgumentNullException.ThrowIfNull(above);
        Stored = stored;
        Signer = signer;
        Above = above;
        Urls = urls;
        Crl = crl;
        Pipeline = urls is null ? new IssuancePipeline(signer, []) : new IssuancePipeline(signer, urls, stored.Id);
        _keyIdentifier = KeyIdentifier(signer.Certificate);
        Chain = [signer.Certificate.RawDataMemory, .. above.Select(c => c.RawDataMemory)];
    }

    public StoredAuthority Stored { get; }

    public int Id => Stored.Id;

    public string Slug => Stored.Slug;

    public ICertificateSigner Signer { get; }

    /// <summary>The certificates above this CA, its issuer first, up to the root; empty for a root.</summary>
    public IReadOnlyList<X509Certificate2> Above { get; }

    /// <summary>This CA's certificate and those above it, as a PKCS#7 answer carries them.</summary>
    public IReadOnlyList<ReadOnlyMemory<byte>> Chain { get; }

    /// <summary>Where it publishes; null only while a cluster's first CA waits for <c>Ca:PublicUrl</c>.</summary>
    public PublicationUrls? Urls { get; }

    public IssuancePipeline Pipeline { get; }

    public CrlPublisher Crl { get; }

    /// <summary>What the OCSP responder needs of this CA: its CertID hashes, its responder key, and its own certificates' statuses.</summary>
    public Ocsp.OcspIssuer Ocsp { get; }

    /// <summary>True when this CA's key identifier is <paramref name="keyIdentifier"/>.</summary>
    public bool Has(ReadOnlySpan<byte> keyIdentifier) => keyIdentifier.SequenceEqual(_keyIdentifier);

    public void Dispose()
    {
        Ocsp.Dispose();
        Crl.Dispose();
        Signer.Dispose();
        foreach (var certificate in Above)
        {
            certificate.Dispose();
        }
    }

    // The subject key identifier the CA's certificate carries (every CA OpenCM makes or installs has one; checked at install).
    internal static byte[] KeyIdentifier(X509Certificate2 certificate) =>
        certificate.Extensions.OfType<X509SubjectKeyIdentifierExtension>().FirstOrDefault() is { } ski
            ? ski.SubjectKeyIdentifierBytes.ToArray()
            : new X509SubjectKeyIdentifierExtension(certificate.PublicKey, false).SubjectKeyIdentifierBytes.ToArray();
}

/// <summary>
/// Every CA this server holds, loaded at start and again when the stored CAs change (issue
/// #20.1: a CA installed by <c>opencm ca install</c> on any node becomes the active one on every
/// node): the active one signs new certificates, and each publishes its own CRL and certificate.
/// A certificate's issuer is found by its authority key identifier, the one thing every
/// certificate OpenCM signs carries. CAs replaced by a reload stay alive until shutdown, so a
/// signature in flight finishes with the key it started with.
/// </summary>
public sealed class CertificateAuthorities : IDisposable
{
    private readonly Lock _gate = new();
    private readonly List<IssuingAuthority> _replaced = [];
    private volatile Snapshot _current;

    public CertificateAuthorities(IReadOnlyList<IssuingAuthority> all) => _current = Snapshot.Of(all);

    /// <summary>The active CA and the retired ones, oldest first (pending ones have nothing to publish yet).</summary>
    public IReadOnlyList<IssuingAuthority> All => _current.All;

    /// <summary>The CA new certificates come from.</summary>
    public IssuingAuthority Active => _current.Active;

    /// <summary>Every CA's OCSP side, in the order of <see cref="All"/>.</summary>
    public IReadOnlyList<Ocsp.OcspIssuer> Ocsp => _current.Ocsp;

    /// <summary>Puts <paramref name="all"/> in place of the CAs held now; the ones not kept are disposed at shutdown.</summary>
    public void Replace(IReadOnlyList<IssuingAuthority> all)
    {
        var next = Snapshot.Of(all);
        lock (_gate)
        {
            _replaced.AddRange(_current.All.Where(a => !next.All.Contains(a)));
            _current = next;
        }
    }

    /// <summary>The CA publishing under <paramref name="slug"/>, or null.</summary>
    public IssuingAuthority? BySlug(string slug) =>
        All.FirstOrDefault(a => string.Equals(a.Slug, slug, StringComparison.OrdinalIgnoreCase));

    /// <summary>The CA whose key identifier is <paramref name="keyIdentifier"/>, or null.</summary>
    public IssuingAuthority? ByKeyIdentifier(ReadOnlySpan<byte> keyIdentifier)
    {
        foreach (var authority in All)
        {
            if (authority.Has(keyIdentifier))
            {
                return authority;
            }
        }

        return null;
    }

    /// <summary>The CA that signed <paramref name="certificateDer"/> (by its authority key identifier), or null.</summary>
    public IssuingAuthority? IssuerOf(byte[] certificateDer) =>
        AuthorityKeyIdentifier(certificateDer) is { } id ? ByKeyIdentifier(id) : null;

    /// <summary>
    /// The key identifier of <paramref name="certificateDer"/>'s authority key identifier
    /// extension, or null when it has none or is not a certificate.
    /// </summary>
    // Read with System.Formats.Asn1 rather than through an X509Certificate2: OpenSSL's decoding
    // of a whole certificate (its public key through the provider's decoders) was 16 % of
    // certificatedata's CPU, for one extension of a certificate this server had just signed
    // (issue #25's profile, docs/benchmarks.md).
    internal static byte[]? AuthorityKeyIdentifier(ReadOnlyMemory<byte> certificateDer)
    {
        try
        {
            // One certificate and nothing after it, as the certificate decoder demanded.
            var outer = new AsnReader(certificateDer, AsnEncodingRules.DER);
            _ = outer.ReadEncodedValue();
            if (outer.HasData)
            {
                return null;
            }

            foreach (var extension in CertificatePlan.Of(certificateDer).Extensions)
            {
                if (extension.Oid != Oids.AuthorityKeyIdentifier)
                {
                    continue;
                }

                // AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] IMPLICIT OCTET STRING OPTIONAL, ... } (RFC 5280 §4.2.1.1)
                var aki = new AsnReader(extension.Value.AsMemory(), AsnEncodingRules.DER).ReadSequence();
                var keyIdentifier = new Asn1Tag(TagClass.ContextSpecific, 0);
                return aki.HasData && aki.PeekTag().HasSameClassAndValue(keyIdentifier)
                    ? aki.ReadOctetString(keyIdentifier)
                    : null;
            }

            return null;
        }
        catch (AsnContentException)
        {
            return null;
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var authority in _current.All.Concat(_replaced))
            {
                authority.Dispose();
            }
        }
    }

    private sealed record Snapshot(IReadOnlyList<IssuingAuthority> All, IssuingAuthority Active, IReadOnlyList<Ocsp.OcspIssuer> Ocsp)
    {
        public static Snapshot Of(IReadOnlyList<IssuingAuthority> all)
        {
            ArgumentNullException.ThrowIfNull(all);
            return new Snapshot(all, all.SingleOrDefault(a => a.Stored.State == AuthorityState.Active)
                ?? throw new InvalidOperationException("No CA is active: the server's CA table has no active CA."), [.. all.Select(a => a.Ocsp)]);
        }
    }
}
