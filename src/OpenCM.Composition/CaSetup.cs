using System.Buffers.Binary;
using System.Security.Cryptography;
using OpenCM.Application;
using OpenCM.Authority;
using System.Security.Cryptography.X509Certificates;
using OpenCM.Storage;

namespace OpenCM.Composition;

/// <summary>Settings of the embedded CA (configuration section <c>Ca</c>).</summary>
public sealed class CaOptions
{
    /// <summary>The configuration section it is bound from (docs/configuration.md lists its keys).</summary>
    public const string Section = "Ca";

    /// <summary>The common name of the CA made on first start; its CRL file is named after it then, and keeps that name (issue #20.5).</summary>
    public string Name { get; set; } = "OpenCM Root CA";

    /// <summary>Key algorithm of a newly created CA: ECDSA P-256 by default (decision 0007; SPEC §7 said P-384).</summary>
    public CaKeyAlgorithm KeyAlgorithm { get; set; } = CaKeyAlgorithm.EcdsaP256;

    /// <summary>
    /// How clients reach this server, e.g. https://cm.contoso.com: a CA made from now on publishes
    /// its CRL, certificate and OCSP under it, for good (issue #20.5). Required on a cluster.
    /// </summary>
    public string? PublicUrl { get; set; }

    /// <summary>How often a server looks for a CA installed meanwhile (by <c>opencm ca install</c>, on any node), in seconds.</summary>
    public int ReloadSeconds { get; set; } = 30;

    /// <summary>How long a published CRL is valid.</summary>
    public int CrlValidityHours { get; set; } = 24;

    /// <summary>The CA key in an HSM (<c>Ca:Pkcs11</c>, issue #20.2): a CA made while it is set has its key generated in the token; unset Library: keys are sealed in the database.</summary>
    public OpenCM.Authority.Pkcs11.Pkcs11Options Pkcs11 { get; set; } = new();
}

/// <summary>
/// Loads every CA this server holds (issue #20.1), making the first on first use: the embedded
/// root, whose certificate and private key are one secret encrypted at rest under the master key
/// (SPEC §7), so that two processes starting at once cannot pair one's certificate with the
/// other's key. Later CAs come from <see cref="CaAdministration"/> (<c>opencm ca request</c> and
/// <c>ca install</c>); their keys are secrets of their own, or keys in a PKCS#11 token.
/// </summary>
public static class CaSetup
{
    /// <summary>The secret of the first CA: its certificate and PKCS#8 key, packed.</summary>
    public const string SecretName = "ca";

    /// <summary>The key reference of the first CA (<see cref="SecretName"/>'s packed certificate and key).</summary>
    public const string FirstKeyReference = "secret:ca";

    /// <summary>
    /// Every CA, loaded; the first is made (or, on an install from before issue #20, registered)
    /// on first use.
    /// 1. The stored CAs; with none, the first CA's secret (made now if absent) becomes CA 1,
    ///    published under the slug of the name it was made with, which the certificates it signed
    ///    already carry.
    /// 2. A CA made on a cluster before <c>Ca:PublicUrl</c> was set takes it now, once.
    /// 3. Each CA that is not pending is loaded with its key.
    /// </summary>
    public static async Task<CertificateAuthorities> LoadAsync(CaContext context, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(context);

        // 1. The stored CAs, or the first one registered: with Ca:Pkcs11, a root whose key is made in the token.
        var stored = await context.Store.ListAsync(ct).ConfigureAwait(false);
        if (stored.Count == 0 && context.Options.Pkcs11.Enabled)
        {
            await Pkcs11CaSetup.RegisterFirstAsync(context, ct).ConfigureAwait(false);
            stored = await context.Store.ListAsync(ct).ConfigureAwait(false);
        }
        else if (stored.Count == 0)
        {
            var (certificate, key) = Unpack(await context.Secrets.GetOrCreateAsync(SecretName, () => Pack(CreateRoot(context)), ct).ConfigureAwait(false));
            CryptographicOperations.ZeroMemory(key);
            using var root = X509CertificateLoader.LoadCertificate(certificate);
            var name = root.GetNameInfo(X509NameType.SimpleName, forIssuer: false);
            await context.Changes.AddAsync(AuditContext.Bootstrap, new StoredAuthority(1, name, Slug(name), AuthorityState.Active, FirstKeyReference, root.Subject,
                certificate, [], context.Publication, context.Clock.GetUtcNow(), context.Clock.GetUtcNow()), Fingerprint(certificate), ct).ConfigureAwait(false);
            stored = await context.Store.ListAsync(ct).ConfigureAwait(false);
        }

        // 2. Publication for CAs made without one (a cluster's, before Ca:PublicUrl).
        if (context.Publication is { } publication && stored.Any(a => a.Publication is null))
        {
            foreach (var authority in stored.Where(a => a.Publication is null))
            {
                await context.Changes.SetPublicationAsync(AuditContext.Bootstrap, authority.Id, publication, context.Clock.GetUtcNow(), ct).ConfigureAwait(false);
            }

            stored = await context.Store.ListAsync(ct).ConfigureAwait(false);
        }

        // 3. The CAs that sign or publish, with their keys.
        var loaded = new List<IssuingAuthority>();
        try
        {
            foreach (var authority in stored.Where(a => a.State != AuthorityState.Pending))
            {
                loaded.Add(await OpenAsync(context, authority, ct).ConfigureAwait(false));
            }

            return new CertificateAuthorities(loaded);
        }
        catch
        {
            foreach (var authority in loaded)
            {
                authority.Dispose();
            }

            throw;
        }
    }

    /// <summary>
    /// Loads the CAs again when the stored ones changed (a CA installed, on this node or another),
    /// keeping the ones that did not; true when something changed.
    /// </summary>
    public static async Task<bool> ReloadAsync(CaContext context, CertificateAuthorities authorities, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(authorities);
        var stored = (await context.Store.ListAsync(ct).ConfigureAwait(false)).Where(a => a.State != AuthorityState.Pending).ToList();
        static bool Same(StoredAuthority a, StoredAuthority b) => a.Id == b.Id && a.State == b.State && a.Publication == b.Publication;
        var held = authorities.All;
        if (stored.Count == held.Count && stored.Zip(held).All(p => Same(p.First, p.Second.Stored)))
        {
            return false;
        }

        var loaded = new List<IssuingAuthority>();
        foreach (var authority in stored)
        {
            loaded.Add(held.FirstOrDefault(h => Same(h.Stored, authority)) ?? await OpenAsync(context, authority, ct).ConfigureAwait(false));
        }

        authorities.Replace(loaded);
        return true;
    }

    /// <summary>The file name a CA named <paramref name="name"/> publishes under: every character but a letter or digit as '-'.</summary>
    public static string Slug(string name) => new([.. (name ?? "").Select(c => char.IsAsciiLetterOrDigit(c) ? c : '-')]);

    /// <summary>Where a CA's URLs start, when it is made: <c>Ca:PublicUrl</c> (or, on one node, the first address the server listens on) with the API's path base.</summary>
    public static string? Publication(CaOptions options, string? urls, string pathBase, bool cluster)
    {
        ArgumentNullException.ThrowIfNull(options);
        var origin = options.PublicUrl ?? (cluster ? null : DefaultOrigin(urls));
        return origin is null ? null : $"{origin.TrimEnd('/')}{pathBase.TrimEnd('/')}";
    }

    /// <summary>The signer of a stored CA, from its key reference.</summary>
    internal static async Task<ICertificateSigner> OpenSignerAsync(CaContext context, StoredAuthority authority, CancellationToken ct)
    {
        if (authority.KeyReference == FirstKeyReference)
        {
            var (certificate, key) = Unpack(await context.Secrets.FindAsync(SecretName, ct).ConfigureAwait(false) ?? throw MissingKey(authority));
            try
            {
                return LocalKeySigner.Load(certificate, key);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(key);
            }
        }

        if (authority.KeyReference.StartsWith(Pkcs11CaSetup.KeyPrefix, StringComparison.Ordinal) && authority.Certificate is { } inToken)
        {
            return Pkcs11CaSetup.OpenSigner(context.Options, authority, authority.KeyReference[Pkcs11CaSetup.KeyPrefix.Length..], inToken);
        }

        if (authority.KeyReference.StartsWith(SecretPrefix, StringComparison.Ordinal) && authority.Certificate is { } der)
        {
            var key = await context.Secrets.FindAsync(authority.KeyReference[SecretPrefix.Length..], ct).ConfigureAwait(false) ?? throw MissingKey(authority);
            try
            {
                return LocalKeySigner.Load(der, key);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(key);
            }
        }

        throw MissingKey(authority);
    }

    internal const string SecretPrefix = "secret:";

    private static async Task<IssuingAuthority> OpenAsync(CaContext context, StoredAuthority authority, CancellationToken ct)
    {
        var signer = await OpenSignerAsync(context, authority, ct).ConfigureAwait(false);
        var above = new List<X509Certificate2>();
        foreach (var der in SplitCertificates(authority.Chain ?? []))
        {
            above.Add(X509CertificateLoader.LoadCertificate(der));
        }

        var crl = new CrlPublisher(signer, context.Certificates, context.Clock, TimeSpan.FromHours(context.Options.CrlValidityHours), authority.Id);
        var urls = authority.Publication is { } publication ? PublicationUrls.For(publication, authority.Slug) : null;

        var ocsp = OpenCM.Authority.Ocsp.OcspIssuer.Of(signer, authority.Id, context.Certificates);
        return new IssuingAuthority(authority, signer, above, urls, crl, ocsp);
    }

    /// <summary>How the audit names a CA certificate: its SHA-256.</summary>
    internal static string Fingerprint(byte[] certificate) => "sha256=" + Convert.ToHexString(SHA256.HashData(certificate));

    /// <summary>Concatenated DER certificates, one by one.</summary>
    internal static IEnumerable<byte[]> SplitCertificates(byte[] concatenated)
    {
        var rest = concatenated.AsMemory();
        while (!rest.IsEmpty)
        {
            System.Formats.Asn1.AsnDecoder.ReadEncodedValue(rest.Span, System.Formats.Asn1.AsnEncodingRules.DER, out _, out _, out var length);
            yield return rest[..length].ToArray();
            rest = rest[length..];
        }
    }

    private static InvalidOperationException MissingKey(StoredAuthority authority) =>
        new($"The key of CA {authority.Id} ({authority.Name}) is not where the database says ({authority.KeyReference}).");

    private static NewAuthority CreateRoot(CaContext context)
    {
        var name = new X500DistinguishedNameBuilder();
        name.AddCommonName(context.Options.Name);
        return CertificateAuthorityFactory.CreateRoot(name.Build(), context.Options.KeyAlgorithm, context.Clock.GetUtcNow());
    }

    // Without Ca:PublicUrl, the first address the server listens on, with wildcards replaced by this host's name.
    private static string DefaultOrigin(string? urls)
    {
        var first = (urls ?? "http://localhost:5000").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? "http://localhost:5000";
        foreach (var wildcard in new[] { "://*", "://+", "://0.0.0.0", "://[::]" })
        {
            first = first.Replace(wildcard, "://" + Environment.MachineName.ToLowerInvariant(), StringComparison.Ordinal);
        }

        return first;
    }

    private static (byte[] Certificate, byte[] Key) Unpack(byte[] packed)
    {
        try
        {
            var certificateLength = BinaryPrimitives.ReadInt32BigEndian(packed);
            return (packed.AsSpan(4, certificateLength).ToArray(), packed.AsSpan(4 + certificateLength).ToArray());
        }
        finally
        {
            CryptographicOperations.ZeroMemory(packed);
        }
    }

    private static byte[] Pack(NewAuthority created)
    {
        var packed = new byte[4 + created.CertificateDer.Length + created.Pkcs8PrivateKey.Length];
        BinaryPrimitives.WriteInt32BigEndian(packed, created.CertificateDer.Length);
        created.CertificateDer.CopyTo(packed, 4);
        created.Pkcs8PrivateKey.CopyTo(packed, 4 + created.CertificateDer.Length);
        CryptographicOperations.ZeroMemory(created.Pkcs8PrivateKey);
        return packed;
    }
}

/// <summary>What loading and administering the CAs needs: their stores, the secret store, the settings and the clock.</summary>
public sealed record CaContext(IAuthorityStore Store, AuthorityChanges Changes, ICertificateStore Certificates, SecretStore Secrets, CaOptions Options, string? Publication, TimeProvider Clock);
