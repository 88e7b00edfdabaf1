using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;
using OpenCM.Client;
using OpenCM.Contracts;

namespace OpenCM.Cli;

/// <summary>
/// What <c>enroll</c> and <c>renew</c> share once a software request is Approved (SPEC §11, issue
/// #23.3): read the generation options, make each key here, send only the CSRs, and write one PFX
/// with every certificate and its key, and the CA, readable by its owner only.
/// </summary>
internal static class SoftwareEnrollment
{
    /// <summary>
    /// Keys, CSRs, certificates and the PFX for the Approved request <paramref name="requestId"/>,
    /// written through <see cref="SafeFile"/> (replacing a file only when <paramref name="force"/>).
    /// <paramref name="progress"/> hears each step; <paramref name="issuing"/> is called just before
    /// the CSRs are sent, from when on a failure should abandon the request (the CA may have signed).
    /// </summary>
    public static async Task IssuePfxAsync(OpenCmClient client, Guid requestId, string pfxPassword, string path, bool force, Func<string, Task> progress, Action issuing, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(progress);
        ArgumentNullException.ThrowIfNull(issuing);

        // Keys and CSRs, made here; only the CSRs leave this machine.
        await progress("generating keys…");
        var keys = new List<AsymmetricAlgorithm>();
        try
        {
            var csrs = new List<string>();
            foreach (var option in await client.GenerationOptionsAsync(requestId, ct))
            {
                var (key, csr) = MakeKey(option);
                keys.Add(key);
                csrs.Add(csr);
            }

            await progress("requesting certificates…");
            issuing();
            var certificates = await client.SubmitCertificateDataAsync(requestId, new CertificateDataBody(csrs, pfxPassword), ct);

            // One PFX with every certificate and its key, and the CA; whole or not at all.
            await progress($"writing {path}…");
            await SafeFile.WriteAsync(path, BuildPfx(certificates, keys, pfxPassword), force, ownerOnly: true, ct);
        }
        finally
        {
            foreach (var key in keys)
            {
                key.Dispose();
            }
        }
    }

    public static (AsymmetricAlgorithm Key, string Csr) MakeKey(GenerationOptionsDto option)
    {
        var subject = option.Subject is { Length: > 0 } s ? new X500DistinguishedName(s) : new X500DistinguishedName("");
        var hash = new HashAlgorithmName(option.HashAlgorithmName is { Length: > 0 } h ? h : "SHA256");
        var algorithm = option.KeyAlgorithmName switch
        {
            "ECDSA_P256" => OpenCM.Domain.KeyAlgorithm.EcdsaP256,
            "ECDSA_P384" => OpenCM.Domain.KeyAlgorithm.EcdsaP384,
            "RSA" => OpenCM.Domain.KeyAlgorithm.Rsa,
            var other => throw new CliException($"the server asks for a {other} key, which enroll cannot make"),
        };
        var key = OpenCM.Authority.Keys.Generate(algorithm, algorithm == OpenCM.Domain.KeyAlgorithm.Rsa ? option.KeySize : 0);
        var request = key switch
        {
            RSA rsa => new CertificateRequest(subject, rsa, hash, RSASignaturePadding.Pkcs1),
            ECDsa ec => new CertificateRequest(subject, ec, hash),
            _ => throw new CliException("enroll made a key it cannot use"),
        };
        return (key, Convert.ToBase64String(request.CreateSigningRequest()));
    }

    public static byte[] BuildPfx(IReadOnlyList<CertificateDto> certificates, List<AsymmetricAlgorithm> keys, string password)
    {
        var collection = new X509Certificate2Collection();
        var chain = new X509Certificate2Collection();
        var keyIndex = 0;
        foreach (var c in certificates)
        {
            if (c.IsPfx)
            {
                // A server-generated key, already in a PFX under our password.
                foreach (var fromServer in X509CertificateLoader.LoadPkcs12Collection(Convert.FromBase64String(c.Pfx!), password, X509KeyStorageFlags.Exportable))
                {
                    (fromServer.HasPrivateKey ? collection : chain).Add(fromServer);
                }

                continue;
            }

            var key = keys[keyIndex++];
            foreach (var cert in Certificates(c))
            {
                var mine = key switch
                {
                    RSA rsa when cert.GetRSAPublicKey() is { } pub && pub.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(rsa.ExportSubjectPublicKeyInfo()) => cert.CopyWithPrivateKey(rsa),
                    ECDsa ec when cert.GetECDsaPublicKey() is { } pub && pub.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(ec.ExportSubjectPublicKeyInfo()) => cert.CopyWithPrivateKey(ec),
                    _ => cert,
                };
                (mine.HasPrivateKey ? collection : chain).Add(mine);
            }
        }

        // The user's certificates (with their keys) first, as tools read the first one; then the CA, once.
        foreach (var ca in chain.DistinctBy(c => c.Thumbprint))
        {
            collection.Add(ca);
        }

        return collection.ExportPkcs12(new PbeParameters(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, 100_000), password);
    }

    /// <summary>The certificates of a PKCS#7 answer: the issued one and the CA's above it.</summary>
    public static X509Certificate2Collection Certificates(CertificateDto certificate)
    {
        var cms = new SignedCms();
        cms.Decode(Convert.FromBase64String(certificate.Pkcs7 ?? throw new OpenCmApiException("The server answered a certificate without its PKCS#7.")));
        return cms.Certificates;
    }
}
