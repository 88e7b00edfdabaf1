using System.Security.Cryptography.X509Certificates;
using OpenCM.Application;
using OpenCM.Authority;
using OpenCM.Authority.Pkcs11;

namespace OpenCM.Composition;

/// <summary>
/// CA keys in a PKCS#11 token (issue #20.2; docs/production-ca.md). With <c>Ca:Pkcs11</c> set, a
/// CA made here (the first root, or a subordinate CA's key for <c>opencm ca request</c>) has its
/// key pair generated inside the token, sensitive and never extractable; the database keeps only
/// its key reference (<see cref="KeyPrefix"/> and the key's label) and its certificate, never key
/// material. Anything wrong with the HSM settings (module, token, PIN, key) is a
/// <see cref="ConfigurationRefusedException"/> naming it, so <c>serve</c> stops with one line.
/// </summary>
public static class Pkcs11CaSetup
{
    /// <summary>How a CA's key reference names a key in the token: this prefix and its label.</summary>
    public const string KeyPrefix = "pkcs11:";

    /// <summary>The environment variable the PIN comes from (or <c>Ca:Pkcs11:PinFile</c>).</summary>
    public const string PinVariable = "Ca__Pkcs11__Pin";

    /// <summary>
    /// The first CA with its key in the token: key pair made there under <c>Ca:Pkcs11:KeyLabel</c>,
    /// root self-signed there, registered as CA 1. Two nodes starting at once on an empty
    /// database: the second finds the label taken and stops with that message; it starts on a retry.
    /// </summary>
    public static async Task RegisterFirstAsync(CaContext context, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(context);
        var options = context.Options;
        var label = options.Pkcs11.KeyLabel is { Length: > 0 } l ? l : throw new ConfigurationRefusedException("Ca:Pkcs11:KeyLabel is not set: name the CA key's label in the token.");
        var now = context.Clock.GetUtcNow();
        var name = new X500DistinguishedNameBuilder();
        name.AddCommonName(options.Name);
        var certificate = WithToken(options, token =>
        {
            token.Generate(label, options.KeyAlgorithm);
            return Pkcs11Signer.CreateRoot(token.OpenKey(label, Pkcs11Token.PaddingFrom(options.Pkcs11)), name.Build(), now);
        });
        using var root = X509CertificateLoader.LoadCertificate(certificate);
        var common = root.GetNameInfo(X509NameType.SimpleName, forIssuer: false);
        await context.Changes.AddAsync(AuditContext.Bootstrap, new StoredAuthority(1, common, CaSetup.Slug(common), AuthorityState.Active, KeyPrefix + label, root.Subject,
            certificate, [], context.Publication, now, now), CaSetup.Fingerprint(certificate), ct).ConfigureAwait(false);
    }

    /// <summary>A new key pair in the token under <paramref name="label"/>: its public key and a generator that signs with it (for a CA's PKCS#10).</summary>
    public static (PublicKey PublicKey, X509SignatureGenerator Generator, System.Security.Cryptography.HashAlgorithmName Hash) Generate(CaOptions options, string label, CaKeyAlgorithm algorithm, out IDisposable token)
    {
        ArgumentNullException.ThrowIfNull(options);
        var opened = Open(options.Pkcs11);
        try
        {
            var spki = opened.Generate(label, algorithm);
            var generator = opened.OpenKey(label, Pkcs11Token.PaddingFrom(options.Pkcs11));
            token = opened;
            return (PublicKey.CreateFromSubjectPublicKeyInfo(spki, out _), generator, generator.PreferredHash);
        }
        catch (Pkcs11ConfigurationException e)
        {
            opened.Dispose();
            throw new ConfigurationRefusedException(e.Message, e);
        }
        catch
        {
            opened.Dispose();
            throw;
        }
    }

    /// <summary>The signer of a CA whose key is <paramref name="label"/> in the token; it owns its own session pool.</summary>
    public static ICertificateSigner OpenSigner(CaOptions options, StoredAuthority authority, string label, byte[] certificate)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(authority);
        if (!options.Pkcs11.Enabled)
        {
            // A command run without the HSM settings must not go on as if this CA had no key (or make another).
            throw new ConfigurationRefusedException(
                $"CA {authority.Id} ({authority.Name}) has its key in a PKCS#11 token (label '{label}'): give Ca:Pkcs11:Library, Ca:Pkcs11:TokenLabel and the PIN ({PinVariable} or Ca:Pkcs11:PinFile).");
        }

        var token = Open(options.Pkcs11);
        try
        {
            return new Pkcs11Signer(certificate, token.OpenKey(label, Pkcs11Token.PaddingFrom(options.Pkcs11)), token);
        }
        catch (Pkcs11ConfigurationException e)
        {
            token.Dispose();
            throw new ConfigurationRefusedException(e.Message, e);
        }
        catch
        {
            token.Dispose();
            throw;
        }
    }

    private static T WithToken<T>(CaOptions options, Func<Pkcs11Token, T> work)
    {
        using var token = Open(options.Pkcs11);
        try
        {
            return work(token);
        }
        catch (Pkcs11ConfigurationException e)
        {
            throw new ConfigurationRefusedException(e.Message, e);
        }
    }

    // The token, logged in; the PIN only from the environment or a file: a command-line argument is
    // visible in the process list and a settings file is often committed (docs/production-ca.md).
    private static Pkcs11Token Open(Pkcs11Options hsm)
    {
        if (hsm.Pin is { Length: > 0 } pin && Environment.GetEnvironmentVariable(PinVariable) != pin)
        {
            throw new ConfigurationRefusedException($"Ca:Pkcs11:Pin is set outside the environment; give the PIN in the environment variable {PinVariable} or in Ca:Pkcs11:PinFile.");
        }

        try
        {
            return Pkcs11Token.Open(hsm);
        }
        catch (Pkcs11ConfigurationException e)
        {
            throw new ConfigurationRefusedException(e.Message, e);
        }
    }
}
