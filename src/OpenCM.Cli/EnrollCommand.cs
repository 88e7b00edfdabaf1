using System.CommandLine;
using OpenCM.Client;
using OpenCM.Contracts;
using OpenCM.Domain;
using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;
using Spectre.Console;

namespace OpenCM.Cli;

/// <summary>
/// <c>opencm enroll</c>: the walkthrough's software enrollment from the command line (SPEC §11):
/// create the request, read the generation options, make the keys here, send the CSRs, write a
/// PFX, and mark the request Completed.
/// </summary>
internal static class EnrollCommand
{
    private const string PasswordVariable = "OPENCM_PFX_PASSWORD";

    public static Command Create(CliIo io)
    {
        var server = new Option<string>("--server") { Description = "The server's base address.", DefaultValueFactory = _ => Environment.GetEnvironmentVariable("OPENCM_SERVER") ?? "http://localhost:5000" };
        var token = new Option<string?>("--token") { Description = "Bearer token; defaults to $OPENCM_TOKEN." };
        var template = new Option<string>("--template") { Description = "The profile template's name.", Required = true };
        var output = new Option<FileInfo>("--out") { Description = "Where to write the PFX.", Required = true };
        var password = new Option<string?>("--password") { Description = $"PFX password; prefer ${PasswordVariable}, which process listings do not show." };
        var data = new Option<string[]>("--data-item") { Description = "A data collection item, NAME=VALUE; repeatable." };
        var command = new Command("enroll", "Enroll for a software profile template and write the certificates and keys to a PFX.") { server, token, template, output, password, data };
        command.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            var pfxPassword = parse.GetValue(password) ?? Environment.GetEnvironmentVariable(PasswordVariable);
            if (string.IsNullOrEmpty(pfxPassword))
            {
                throw new CliException($"a PFX password is needed: set {PasswordVariable} (or pass --password)");
            }

            var items = (parse.GetValue(data) ?? []).Select(d => d.Split('=', 2)).Select(p => p.Length == 2
                ? new DataItemDto(p[0], p[1])
                : throw new CliException($"--data-item '{p[0]}' is not NAME=VALUE")).ToList();
            var file = parse.GetValue(output)!;
            using var client = RequestCommands.Client(parse.GetValue(server)!, parse.GetValue(token));
            Guid? requestId = null;
            try
            {
            await io.Console.Status().StartAsync("Finding the template…", async status =>
            {
                // 1. The template by name.
                var wanted = parse.GetValue(template)!;
                var found = (await client.ProfileTemplatesAsync(ct)).FirstOrDefault(t => string.Equals(t.Name, wanted, StringComparison.OrdinalIgnoreCase))
                    ?? throw CliException.Refused($"no profile template named '{wanted}' is available to you");
                if (found.IsSmartcardProfileTemplate)
                {
                    throw new CliException($"'{wanted}' is a smart card template; enroll handles software profiles");
                }

                // 2. The request.
                status.Status("Creating the request…");
                requestId = await client.CreateRequestAsync(new CreateRequestBody(WireRequestType.Enroll, found.Uuid, items, Comment: ""), ct);
                var request = await client.GetRequestAsync(requestId.Value, ct);
                if (request.Status != (int)WireRequestStatus.Approved)
                {
                    throw new PendingException(requestId.Value.ToString("D"));
                }

                // 3. Keys and CSRs, made here; only the CSRs leave this machine.
                status.Status("Generating keys…");
                var keys = new List<AsymmetricAlgorithm>();
                var csrs = new List<string>();
                foreach (var option in await client.GenerationOptionsAsync(requestId.Value, ct))
                {
                    var (key, csr) = MakeKey(option);
                    keys.Add(key);
                    csrs.Add(csr);
                }

                // 4. Certificates.
                status.Status("Requesting certificates…");
                var certificates = await client.SubmitCertificateDataAsync(requestId.Value, new CertificateDataBody(csrs, pfxPassword), ct);

                // 5. One PFX with every certificate and its key, and the CA.
                status.Status("Writing the PFX…");
                await WriteOwnerOnlyAsync(file.FullName, BuildPfx(certificates, keys, pfxPassword), ct);
                foreach (var key in keys)
                {
                    key.Dispose();
                }

                // 6. Done: the request is Completed and the profile Active.
                status.Status("Completing the request…");
                await client.SetStatusAsync(requestId.Value, WireRequestStatus.Completed, ct);
            }).ConfigureAwait(false);
            }
            catch (PendingException pending)
            {
                await io.Err.WriteLineAsync($"error: request {pending.RequestId} is waiting for approval; run enroll again once it is approved");
                return OpenCmCli.Failed;
            }
            catch (Exception) when (requestId is { } created)
            {
                // Leave nothing half-done: an enrollment that failed after its request was created is abandoned.
                try
                {
                    await client.SetStatusAsync(created, WireRequestStatus.Abandoned, CancellationToken.None);
                    await io.Err.WriteLineAsync($"request {created:D} abandoned");
                }
                catch (OpenCmApiException)
                {
                    // Abandoning is best effort; the original failure is what the user needs to see.
                }

                throw;
            }

            await io.Out.WriteLineAsync($"enrolled: request {requestId:D} completed; certificates and keys written to {file.FullName}");
            return OpenCmCli.Ok;
        }));
        return command;
    }

    private static (AsymmetricAlgorithm Key, string Csr) MakeKey(GenerationOptionsDto option)
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

    private static byte[] BuildPfx(IReadOnlyList<CertificateDto> certificates, List<AsymmetricAlgorithm> keys, string password)
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

            var cms = new SignedCms();
            cms.Decode(Convert.FromBase64String(c.Pkcs7!));
            var key = keys[keyIndex++];
            foreach (var cert in cms.Certificates)
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

    // A PFX holds private keys: readable by its owner only (0600), also when it replaces a file.
    private static async Task WriteOwnerOnlyAsync(string path, byte[] content, CancellationToken ct)
    {
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        await using (var stream = new FileStream(path, options))
        {
            await stream.WriteAsync(content, ct);
        }

        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
    }

    private sealed class PendingException(string requestId) : Exception($"request {requestId} is pending")
    {
        public string RequestId { get; } = requestId;
    }
}
