using System.CommandLine;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OpenCM.Application;
using OpenCM.Authority;
using OpenCM.Composition;
using Spectre.Console;

namespace OpenCM.Cli;

/// <summary>
/// The CAs of a data directory (issue #20.1): a subordinate CA under an enterprise root
/// (<c>ca request</c>, then <c>ca install</c> with what the root issued), and <c>ca list</c>.
/// </summary>
internal static class CaCommands
{
    public static Command Ca(CliIo io)
    {
        var ca = new Command("ca", "The server's CAs: request and install a subordinate CA under your root, list them.");
        ca.Subcommands.Add(Request(io));
        ca.Subcommands.Add(Install(io));
        ca.Subcommands.Add(List(io));
        return ca;
    }

    private static Command Request(CliIo io)
    {
        var data = new StoreOptions();
        var subject = new Option<string>("--subject") { Description = "The new CA's name, e.g. \"CN=Contoso Issuing CA 1,O=Contoso\".", Required = true };
        var output = new Option<FileInfo>("--out") { Description = "Where to write the PKCS#10 request (PEM) for your root CA (refused when it exists, unless --force).", Required = true };
        var force = SafeFile.ForceOption();
        var algorithm = new Option<CaKeyAlgorithm>("--key-algorithm") { Description = "The new CA's key.", DefaultValueFactory = _ => CaKeyAlgorithm.EcdsaP256 };
        var command = new Command("request", "Make a new CA key and write its certificate request (CA:TRUE) for your root to sign.")
        {
            data.Data, data.Database, data.Connection, subject, output, force, algorithm,
        };
        command.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            var file = parse.GetValue(output)!;

            // Checked before a key is made: an existing file is replaced only with --force (issue #23.6).
            SafeFile.EnsureWritable(file.FullName, parse.GetValue(force));
            await using var app = await Local.OpenExistingAsync(data.From(parse), ct);
            var made = await app.Services.GetRequiredService<CaAdministration>().RequestAsync(Operator(), parse.GetValue(subject)!, parse.GetValue(algorithm), ct);
            await SafeFile.WriteAsync(file.FullName, made.CertificateRequestPem, parse.GetValue(force), ownerOnly: false, ct);
            await io.Out.WriteLineAsync($"CA {made.Id} ({made.Slug}) is pending: its request is in {file.FullName}.");
            await io.Out.WriteLineAsync($"Have your root CA issue it, then: opencm ca install --cert issued.pem --chain root.pem");
            return OpenCmCli.Ok;
        }));
        return command;
    }

    private static Command Install(CliIo io)
    {
        var data = new StoreOptions();
        var cert = new Option<FileInfo>("--cert") { Description = "The certificate your root CA issued for the pending CA (PEM or DER).", Required = true };
        var chain = new Option<FileInfo>("--chain") { Description = "Your root CA's certificate, and any intermediates between it and the new CA (PEM).", Required = true };
        var command = new Command("install", "Check the certificate your root issued and make the pending CA the one that issues (running servers pick it up).")
        {
            data.Data, data.Database, data.Connection, cert, chain,
        };
        command.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            using var certificate = ReadCertificate(parse.GetValue(cert)!);
            var above = ReadChain(parse.GetValue(chain)!);
            try
            {
                await using var app = await Local.OpenExistingAsync(data.From(parse), ct);
                var installed = await app.Services.GetRequiredService<CaAdministration>().InstallAsync(Operator(), certificate, above, ct);
                await io.Out.WriteLineAsync($"CA {installed.Id} ({installed.Subject}) is active: running servers issue from it within Ca:ReloadSeconds (30 s by default).");
                await io.Out.WriteLineAsync($"SHA-256 fingerprint {Convert.ToHexString(SHA256.HashData(certificate.RawData))}");
                return OpenCmCli.Ok;
            }
            finally
            {
                foreach (var c in above)
                {
                    c.Dispose();
                }
            }
        }));
        return command;
    }

    private static Command List(CliIo io)
    {
        var data = new StoreOptions();
        var format = Output.FormatOption();
        var command = new Command("list", "List the CAs with their state, validity and where they publish.") { data.Data, data.Database, data.Connection, format };
        command.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            var chosen = Output.Parse(parse.GetValue(format));
            await using var app = await Local.OpenExistingAsync(data.From(parse), ct);
            var rows = new List<CaRow>();
            foreach (var a in await app.Services.GetRequiredService<CaAdministration>().ListAsync(ct))
            {
                DateTimeOffset? until = null;
                if (a.Certificate is { } der)
                {
                    using var c = X509CertificateLoader.LoadCertificate(der);
                    until = new DateTimeOffset(c.NotAfter.ToUniversalTime(), TimeSpan.Zero);
                }

                rows.Add(new CaRow(a.Id, a.State.ToString().ToLowerInvariant(), a.Subject, until, a.Publication is { } p ? PublicationUrls.For(p, a.Slug).Crl : null));
            }

            await io.WriteListAsync(chosen, rows, OutputWriter.Local<CaRow>(),
            [
                new("Id", r => r.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                new("State", r => r.State),
                new("Subject", r => r.Subject),
                new("Valid until", r => r.ValidUntil?.UtcDateTime.ToString("u", System.Globalization.CultureInfo.InvariantCulture) ?? "-"),
                new("CRL", r => r.Crl ?? "(set Ca:PublicUrl)"),
            ], ct);
            return OpenCmCli.Ok;
        }));
        return command;
    }

    /// <summary>One CA as <c>ca list --format json</c> prints it.</summary>
    internal sealed record CaRow(int Id, string State, string Subject, DateTimeOffset? ValidUntil, string? Crl);

    // The local operator, as every command that changes the data directory acts (DirectoryCommands).
    private static AuditContext Operator() => AuditContext.LocalOperator(Environment.UserName);

    // One certificate, PEM or DER; anything else names the file.
    private static X509Certificate2 ReadCertificate(FileInfo file)
    {
        try
        {
            var bytes = File.ReadAllBytes(file.FullName);
            return X509CertificateLoader.LoadCertificate(bytes.AsSpan().IndexOf("-----BEGIN"u8) >= 0
                ? X509Certificate2.CreateFromPem(System.Text.Encoding.ASCII.GetString(bytes)).RawData
                : bytes);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            throw new CliException($"--cert: {file.FullName} is not a readable certificate ({ex.Message})");
        }
    }

    // Every certificate in a PEM file.
    private static List<X509Certificate2> ReadChain(FileInfo file)
    {
        try
        {
            var collection = new X509Certificate2Collection();
            collection.ImportFromPemFile(file.FullName);
            return collection.Count > 0 ? [.. collection] : throw new CliException($"--chain: {file.FullName} holds no PEM certificate");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            throw new CliException($"--chain: {file.FullName} is not readable PEM ({ex.Message})");
        }
    }
}
