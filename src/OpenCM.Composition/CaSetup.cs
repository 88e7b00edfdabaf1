using System.Buffers.Binary;
using System.Security.Cryptography;
using OpenCM.Application;
using OpenCM.Authority;
using OpenCM.Storage;

namespace OpenCM.Composition;

/// <summary>Settings of the embedded CA (configuration section <c>Ca</c>).</summary>
public sealed class CaOptions
{
    /// <summary>The CA's common name; also names its CRL file.</summary>
    public string Name { get; set; } = "OpenCM Root CA";

    /// <summary>Key algorithm of a newly created CA: ECDSA P-256 by default (decision 0007; SPEC §7 said P-384).</summary>
    public CaKeyAlgorithm KeyAlgorithm { get; set; } = CaKeyAlgorithm.EcdsaP256;

    /// <summary>How clients reach this server, for the CRL distribution point in certificates, e.g. https://cm.contoso.com.</summary>
    public string? PublicUrl { get; set; }

    /// <summary>How long a published CRL is valid.</summary>
    public int CrlValidityHours { get; set; } = 24;

    /// <summary>The CA key in an HSM (<c>Ca:Pkcs11</c>, issue #20); unset Library: the key is sealed in the database.</summary>
    public OpenCM.Authority.Pkcs11.Pkcs11Options Pkcs11 { get; set; } = new();

    /// <summary>The file name the CA publishes under: its name with every other character than a letter or digit as '-'.</summary>
    public string Slug => new([.. Name.Select(c => char.IsAsciiLetterOrDigit(c) ? c : '-')]);
}

/// <summary>
/// Creates the embedded CA on first use and loads it afterwards. Certificate and private key are
/// one secret, encrypted at rest under the master key (SPEC §7), so that two processes starting
/// at once cannot pair one's certificate with the other's key.
/// </summary>
public static class CaSetup
{
    public const string SecretName = "ca";

    public static async Task<ICertificateSigner> LoadOrCreateAsync(SecretStore secrets, CaOptions options, TimeProvider clock, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(secrets);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(clock);

        // The key in an HSM: a separate path (Pkcs11CaSetup), so the sealed-key path below is unchanged.
        if (options.Pkcs11.Enabled)
        {
            return await Pkcs11CaSetup.LoadOrCreateAsync(secrets, options, clock, ct).ConfigureAwait(false);
        }

        var packed = await secrets.GetOrCreateAsync(SecretName, () =>
        {
            var name = new System.Security.Cryptography.X509Certificates.X500DistinguishedNameBuilder();
            name.AddCommonName(options.Name);
            return Pack(CertificateAuthorityFactory.CreateRoot(name.Build(), options.KeyAlgorithm, clock.GetUtcNow()));
        }, ct).ConfigureAwait(false);
        var certificateLength = BinaryPrimitives.ReadInt32BigEndian(packed);
        var certificate = packed.AsSpan(4, certificateLength).ToArray();
        var key = packed.AsSpan(4 + certificateLength);
        try
        {
            return LocalKeySigner.Load(certificate, key);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(packed);
        }
    }

    /// <summary>The CRL distribution point certificates carry.</summary>
    public static string CrlUrl(CaOptions options, string? urls, string pathBase)
    {
        ArgumentNullException.ThrowIfNull(options);
        var origin = options.PublicUrl ?? DefaultOrigin(urls);
        return $"{origin.TrimEnd('/')}{pathBase.TrimEnd('/')}/crl/{options.Slug}.crl";
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
