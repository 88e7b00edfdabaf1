using System.Buffers.Binary;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using OpenCM.Authority;
using OpenCM.Authority.Pkcs11;
using OpenCM.Storage;

namespace OpenCM.Composition;

/// <summary>
/// The embedded root with its key in a PKCS#11 token (issue #20; docs/production-ca.md): on first
/// start the key pair is generated inside the token and the root self-signed there; the database
/// keeps only the certificate and the key's label (secret <see cref="SecretName"/>), never key
/// material. Anything wrong with the HSM settings (module, token, PIN, key) stops the host with
/// a <see cref="ConfigurationRefusedException"/> naming it.
/// </summary>
public static class Pkcs11CaSetup
{
    public const string SecretName = "ca-pkcs11";

    /// <summary>The environment variable the PIN comes from (or <c>Ca:Pkcs11:PinFile</c>).</summary>
    public const string PinVariable = "Ca__Pkcs11__Pin";

    public static async Task<ICertificateSigner> LoadOrCreateAsync(SecretStore secrets, CaOptions options, TimeProvider clock, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(secrets);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(clock);
        var hsm = options.Pkcs11;
        var keyLabel = hsm.KeyLabel is { Length: > 0 } l ? l : throw new ConfigurationRefusedException("Ca:Pkcs11:KeyLabel is not set: name the CA key's label in the token.");
        CheckPinSource(hsm);
        Pkcs11Token token;
        try
        {
            token = Pkcs11Token.Open(hsm);
        }
        catch (Pkcs11ConfigurationException e)
        {
            throw new ConfigurationRefusedException(e.Message, e);
        }

        try
        {
            var padding = Pkcs11Token.PaddingFrom(hsm);
            var packed = await secrets.GetOrCreateAsync(SecretName, () =>
            {
                token.Generate(keyLabel, options.KeyAlgorithm);
                var name = new X500DistinguishedNameBuilder();
                name.AddCommonName(options.Name);
                return Pack(keyLabel, Pkcs11Signer.CreateRoot(token.OpenKey(keyLabel, padding), name.Build(), clock.GetUtcNow()));
            }, ct).ConfigureAwait(false);
            var (storedLabel, certificate) = Unpack(packed);
            if (storedLabel != keyLabel)
            {
                throw new ConfigurationRefusedException($"This installation's CA key is labelled '{storedLabel}' in the token, but Ca:Pkcs11:KeyLabel is '{keyLabel}'.");
            }

            return new Pkcs11Signer(certificate, token.OpenKey(keyLabel, padding), token);
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

    // The PIN is read from the environment or a file only: a command-line argument is visible in
    // the process list and a settings file is often committed (docs/production-ca.md).
    private static void CheckPinSource(Pkcs11Options hsm)
    {
        if (hsm.Pin is { Length: > 0 } pin && Environment.GetEnvironmentVariable(PinVariable) != pin)
        {
            throw new ConfigurationRefusedException($"Ca:Pkcs11:Pin is set outside the environment; give the PIN in the environment variable {PinVariable} or in Ca:Pkcs11:PinFile.");
        }
    }

    private static byte[] Pack(string keyLabel, byte[] certificate)
    {
        var label = Encoding.UTF8.GetBytes(keyLabel);
        var packed = new byte[4 + label.Length + certificate.Length];
        BinaryPrimitives.WriteInt32BigEndian(packed, label.Length);
        label.CopyTo(packed, 4);
        certificate.CopyTo(packed, 4 + label.Length);
        return packed;
    }

    private static (string KeyLabel, byte[] Certificate) Unpack(byte[] packed)
    {
        var length = BinaryPrimitives.ReadInt32BigEndian(packed);
        return (Encoding.UTF8.GetString(packed, 4, length), packed[(4 + length)..]);
    }
}
