using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OpenCM.Application;
using OpenCM.Authority;
using OpenCM.Domain;

namespace OpenCM.Composition;

/// <summary>A CA key made and its PKCS#10 written (<see cref="CaAdministration.RequestAsync"/>).</summary>
public sealed record CaRequest(int Id, string Slug, string CertificateRequestPem);

/// <summary>
/// A subordinate CA under an existing root (issue #20.1), for <c>opencm ca request</c>,
/// <c>ca install</c> and <c>ca list</c>: a new CA key and its PKCS#10 asking for CA:TRUE, then the
/// certificate the enterprise root issued for it, checked before it becomes the active CA.
/// A refused install changes nothing. Running servers take the new active CA within
/// <c>Ca:ReloadSeconds</c> (<c>CaReloadLoop</c>).
/// </summary>
public sealed class CaAdministration
{
    private const string SecretPrefix = "ca/";
    private readonly CaContext _context;

    public CaAdministration(CaContext context) => _context = context;

    /// <summary>Every CA, pending ones included, oldest first.</summary>
    public Task<IReadOnlyList<StoredAuthority>> ListAsync(CancellationToken ct = default) => _context.Store.ListAsync(ct);

    /// <summary>
    /// A new CA key and its PKCS#10 request.
    /// 1. The subject must be a distinguished name with a common name (it names the CA and its publications).
    /// 2. The key is made in the PKCS#11 token when one is configured, else sealed under the master key as a secret of its own.
    /// 3. The CA is stored pending, with the publication origin it will keep for good.
    /// 4. The request asks for CA:TRUE, keyCertSign and cRLSign, signed with the new key.
    /// </summary>
    public async Task<CaRequest> RequestAsync(AuditContext who, string subject, CaKeyAlgorithm algorithm, CancellationToken ct = default)
    {
        // 1. The name.
        X500DistinguishedName name;
        try
        {
            name = new X500DistinguishedName(subject ?? "");
        }
        catch (CryptographicException)
        {
            throw new OpenCmException(DomainError.Validation("--subject", $"'{subject}' is not a distinguished name such as \"CN=Contoso Issuing CA 1,O=Contoso\"."));
        }

        var commonName = name.EnumerateRelativeDistinguishedNames().FirstOrDefault(r => r.GetSingleElementType().Value == "2.5.4.3")?.GetSingleElementValue();
        if (string.IsNullOrWhiteSpace(commonName))
        {
            throw new OpenCmException(DomainError.Validation("--subject", "The subject needs a common name (CN=...): it names the CA and its CRL."));
        }

        var existing = await _context.Store.ListAsync(ct).ConfigureAwait(false);
        var slug = CaSetup.Slug(commonName);
        for (var n = 2; existing.Any(a => string.Equals(a.Slug, slug, StringComparison.OrdinalIgnoreCase)); n++)
        {
            slug = $"{CaSetup.Slug(commonName)}-{n}";
        }

        // 2. The key: in the token when Ca:Pkcs11 is set, else sealed as a secret of its own. The
        //    request is signed with it where it is.
        string keyReference;
        string csr;
        if (_context.Options.Pkcs11.Enabled)
        {
            var (publicKey, generator, hash) = Pkcs11CaSetup.Generate(_context.Options, slug, algorithm, out var token);
            using (token)
            {
                keyReference = Pkcs11CaSetup.KeyPrefix + slug;
                csr = PemEncoding.WriteString("CERTIFICATE REQUEST", CertificateAuthorityFactory.CaRequest(name, publicKey, hash).CreateSigningRequest(generator));
            }
        }
        else
        {
            using var key = CertificateAuthorityFactory.GenerateKey(algorithm);
            var secret = SecretPrefix + slug;
            var pkcs8 = key.ExportPkcs8PrivateKey();

            // The store wipes what it is given once sealed: it gets a copy, and ours tells whether the stored secret is the one just made.
            var stored = await _context.Secrets.GetOrCreateAsync(secret, () => (byte[])pkcs8.Clone(), ct).ConfigureAwait(false);
            var ours = CryptographicOperations.FixedTimeEquals(stored, pkcs8);
            CryptographicOperations.ZeroMemory(stored);
            CryptographicOperations.ZeroMemory(pkcs8);
            if (!ours)
            {
                throw new OpenCmException(new DomainError(ErrorKind.Conflict, $"A CA key named '{slug}' exists already; try again."));
            }

            keyReference = CaSetup.SecretPrefix + secret;
            csr = CertificateAuthorityFactory.CaRequest(name, key).CreateSigningRequestPem();
        }

        // 3. The pending CA, publishing under Ca:PublicUrl when given, else where the active CA
        //    does (a command run on the data directory does not know the server's address).
        var now = _context.Clock.GetUtcNow();
        var publication = _context.Options.PublicUrl is null
            ? existing.FirstOrDefault(a => a.State == AuthorityState.Active)?.Publication ?? _context.Publication
            : _context.Publication;
        var id = await _context.Changes.AddAsync(who, new StoredAuthority(0, commonName, slug, AuthorityState.Pending, keyReference, name.Name,
            null, null, publication, now, null), "algorithm=" + algorithm, ct).ConfigureAwait(false)
            ?? throw new OpenCmException(new DomainError(ErrorKind.Conflict, $"Another CA took the name '{slug}' at the same time; try again."));
        return new CaRequest(id, slug, csr);
    }

    /// <summary>
    /// Makes the pending CA that <paramref name="certificate"/> certifies the active one, after
    /// checking, in order, each with a message naming what is wrong and nothing changed:
    /// 1. it is for the key of a pending CA;
    /// 2. it is a CA certificate (basicConstraints CA:TRUE; keyCertSign and cRLSign where it has a key usage);
    /// 3. it is valid now;
    /// 4. it chains to a root among <paramref name="chain"/> (the root and any intermediates);
    /// then the pending CA becomes active and the one before it retired, in one compare-and-set.
    /// </summary>
    public async Task<StoredAuthority> InstallAsync(AuditContext who, X509Certificate2 certificate, IReadOnlyList<X509Certificate2> chain, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        ArgumentNullException.ThrowIfNull(chain);

        // 1. The pending CA whose key this certifies.
        var pending = (await _context.Store.ListAsync(ct).ConfigureAwait(false)).Where(a => a.State == AuthorityState.Pending).ToList();
        StoredAuthority? target = null;
        foreach (var candidate in pending)
        {
            // A key of another algorithm than the certificate's does not load under it: not this one.
            ICertificateSigner signer;
            try
            {
                signer = await CaSetup.OpenSignerAsync(_context, candidate with { Certificate = certificate.RawData }, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is CryptographicException or ConfigurationRefusedException)
            {
                continue;
            }

            using (signer)
            {
                if (SameKey(signer, certificate))
                {
                    target = candidate;
                    break;
                }
            }
        }

        if (target is null)
        {
            throw new OpenCmException(DomainError.Validation("--cert", pending.Count == 0
                ? "No CA is pending: make its key and request first (opencm ca request)."
                : $"The certificate ({certificate.Subject}) is not for the key of a pending CA ({string.Join(", ", pending.Select(p => p.Name))})."));
        }

        // 2. A CA certificate.
        if (certificate.Extensions.OfType<X509BasicConstraintsExtension>().FirstOrDefault() is not { CertificateAuthority: true })
        {
            throw new OpenCmException(DomainError.Validation("--cert", "The certificate is not a CA certificate: it lacks basicConstraints CA:TRUE."));
        }

        if (certificate.Extensions.OfType<X509KeyUsageExtension>().FirstOrDefault() is { } usage
            && (usage.KeyUsages & (X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign)) != (X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign))
        {
            throw new OpenCmException(DomainError.Validation("--cert", $"The certificate's key usage ({usage.KeyUsages}) lacks keyCertSign or cRLSign: it could not sign certificates and CRLs."));
        }

        // 3. Valid now.
        var now = _context.Clock.GetUtcNow();
        if (now < certificate.NotBefore.ToUniversalTime() || now > certificate.NotAfter.ToUniversalTime())
        {
            throw new OpenCmException(DomainError.Validation("--cert",
                $"The certificate is valid from {certificate.NotBefore.ToUniversalTime():u} to {certificate.NotAfter.ToUniversalTime():u}, not now ({now:u})."));
        }

        // 4. Up to a given root.
        var above = Chain(certificate, chain, now);

        // 5. Active; the CA before it retired.
        var concatenated = above.SelectMany(c => c.RawData).ToArray();
        if (!await _context.Changes.ActivateAsync(who, target, certificate.RawData, concatenated, CaSetup.Fingerprint(certificate.RawData), now, ct).ConfigureAwait(false))
        {
            throw new OpenCmException(new DomainError(ErrorKind.Conflict, $"CA {target.Id} ({target.Name}) is not pending any more: another process installed it."));
        }

        return (await _context.Store.ListAsync(ct).ConfigureAwait(false)).Single(a => a.Id == target.Id);
    }

    // The certificates above the new CA, its issuer first and the root last, built with only the given certificates as anchors.
    private static List<X509Certificate2> Chain(X509Certificate2 certificate, IReadOnlyList<X509Certificate2> given, DateTimeOffset now)
    {
        var roots = given.Where(c => c.SubjectName.RawData.AsSpan().SequenceEqual(c.IssuerName.RawData)).ToList();
        if (roots.Count == 0)
        {
            throw new OpenCmException(DomainError.Validation("--chain", "The chain file holds no root (self-signed) certificate: give the enterprise root it chains to."));
        }

        using var builder = new X509Chain();
        builder.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        builder.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        builder.ChainPolicy.VerificationTime = now.UtcDateTime;
        builder.ChainPolicy.VerificationTimeIgnored = false;
        builder.ChainPolicy.CustomTrustStore.AddRange(roots.ToArray());
        builder.ChainPolicy.ExtraStore.AddRange(given.Except(roots).ToArray());
        if (!builder.Build(certificate))
        {
            var why = string.Join("; ", builder.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct());
            throw new OpenCmException(DomainError.Validation("--chain", $"The certificate does not chain to the given root: {why}."));
        }

        return [.. builder.ChainElements.Skip(1).Select(e => X509CertificateLoader.LoadCertificate(e.Certificate.RawData))];
    }

    // True when the certificate's public key is the signer's: a signature by the key verifies under the certificate.
    private static bool SameKey(ICertificateSigner signer, X509Certificate2 certificate)
    {
        var data = RandomNumberGenerator.GetBytes(32);
        var signature = signer.Generator.SignData(data, signer.HashAlgorithm);
        using var ecdsa = certificate.GetECDsaPublicKey();
        if (ecdsa is not null)
        {
            // X509SignatureGenerator writes ECDSA signatures as X.509 does (a DER sequence).
            return ecdsa.VerifyData(data, signature, signer.HashAlgorithm, DSASignatureFormat.Rfc3279DerSequence);
        }

        using var rsa = certificate.GetRSAPublicKey();
        return rsa is not null && rsa.VerifyData(data, signature, signer.HashAlgorithm, RSASignaturePadding.Pkcs1);
    }
}
