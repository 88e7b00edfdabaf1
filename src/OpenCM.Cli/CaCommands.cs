using System.CommandLine;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OpenCM.Application;
using OpenCM.Authority;
using OpenCM.Composition;
using OpenCM.Contracts;
using Spectre.Console;

namespace OpenCM.Cli;

/// <summary>
/// The CAs of a data directory (issue #20.1): a subordinate CA under an enterprise root
/// (<c>ca request</c>, then <c>ca install</c> with what the root issued), and <c>ca list</c>;
/// and, from a running server without a token, its root and chain with their fingerprints
/// (<c>ca root</c>, <c>ca chain</c>, issue #23.3).
/// </summary>
internal static class CaCommands
{
    public static Command Ca(CliIo io)
    {
        var ca = new Command("ca", "The server's CAs: request and install a subordinate CA under your root, list them; fetch a running server's root and chain.");
        ca.Subcommands.Add(Request(io));
        ca.Subcommands.Add(Install(io));
        ca.Subcommands.Add(List(io));
        ca.Subcommands.Add(Fetch(io, "root", "Fetch the root CA of a running server (no token needed): PEM on stdout or --out, its SHA-256 fingerprint on stderr."));
        ca.Subcommands.Add(Fetch(io, "chain", "Fetch the issuing CA and every CA above it up to the root (no token needed): PEM on stdout or --out, fingerprints on stderr."));
        return ca;
    }

    private static Command Fetch(CliIo io, string which, string description)
    {
        var server = RequestCommands.ServerOption();
        var output = new Option<FileInfo?>("--out") { Description = "Write the PEM to this file instead of stdout." };
        var force = SafeFile.ForceOption();
        var format = Output.FormatOption(" (JSON: subject, notAfter, sha256 and pem of " + (which == "root" ? "the root" : "each CA, the issuing one first") + ")");
        var command = new Command(which, description) { server, output, force, format };
        command.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            var chosen = Output.Parse(parse.GetValue(format));
            var file = parse.GetValue(output);
            if (file is not null)
            {
                SafeFile.EnsureWritable(file.FullName, parse.GetValue(force));
            }

            var chain = await FetchChainAsync(parse.GetValue(server)!, ct);
            try
            {
                IReadOnlyList<X509Certificate2> shown = which == "root" ? [chain[^1]] : chain;
                var pem = string.Concat(shown.Select(c => PemEncoding.WriteString("CERTIFICATE", c.RawData) + "\n"));
                if (file is not null)
                {
                    await SafeFile.WriteAsync(file.FullName, pem, parse.GetValue(force), ownerOnly: false, ct);
                    await io.Err.WriteLineAsync($"written to {file.FullName}");
                }

                foreach (var c in shown)
                {
                    // As `openssl x509 -fingerprint -sha256` prints it, and as --ca-fingerprint takes it.
                    var sha256 = SHA256.HashData(c.RawData);
                    await io.Err.WriteLineAsync($"{c.Subject}");
                    await io.Err.WriteLineAsync($"  sha256 Fingerprint={Convert.ToHexString(sha256).Chunk(2).Select(p => new string(p)).Aggregate((a, b) => a + ":" + b)}");
                    await io.Err.WriteLineAsync($"  --ca-fingerprint {Convert.ToHexStringLower(sha256)}");
                }

                if (chosen == OutputFormat.Json)
                {
                    var rows = shown.Select(c => new CaCertificate(c.Subject, new DateTimeOffset(c.NotAfter.ToUniversalTime(), TimeSpan.Zero), Convert.ToHexStringLower(SHA256.HashData(c.RawData)),
                        PemEncoding.WriteString("CERTIFICATE", c.RawData) + "\n")).ToList();
                    await io.Out.WriteLineAsync(which == "root"
                        ? OutputWriter.Serialize(rows[0], OutputWriter.Local<CaCertificate>())
                        : OutputWriter.Serialize(rows, OutputWriter.Local<List<CaCertificate>>()));
                }
                else if (file is null)
                {
                    await io.Out.WriteAsync(pem);
                }

                return OpenCmCli.Ok;
            }
            finally
            {
                foreach (var c in chain)
                {
                    c.Dispose();
                }
            }
        }));
        return command;
    }

    /// <summary>One CA certificate as <c>ca root|chain --format json</c> prints it.</summary>
    internal sealed record CaCertificate(string Subject, DateTimeOffset NotAfter, string Sha256, string Pem);

    /// <summary>
    /// GET {PathBase}/ca/chain.pem, published unauthenticated (OperationsEndpoints, PkiEndpoints): the
    /// active CA first, its root last. An answer that is no such chain says the address is not an
    /// OpenCM server's.
    /// </summary>
    private static async Task<List<X509Certificate2>> FetchChainAsync(string server, CancellationToken ct)
    {
        var address = RequestCommands.ServerAddress(server);
        // The same trust as every --server command (--ca-file, --ca-fingerprint): an https server with a private CA is read too.
        using var http = ServerConnection.Http(address);
        using var response = await http.GetAsync(new Uri(PathBase + "/ca/chain.pem", UriKind.Relative), ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        if (!response.IsSuccessStatusCode)
        {
            ProblemDto? problem = null;
            try
            {
                problem = System.Text.Json.JsonSerializer.Deserialize(text, WireJson.TypeInfo<ProblemDto>());
            }
            catch (System.Text.Json.JsonException)
            {
                // Not a problem body: the status alone says it.
            }

            throw new OpenCM.Client.OpenCmApiException((int)response.StatusCode, problem is { ErrorCode: not null } ? problem : null);
        }

        var chain = new X509Certificate2Collection();
        try
        {
            chain.ImportFromPem(text);
        }
        catch (CryptographicException)
        {
            chain.Clear();
        }

        return chain.Count > 0
            ? [.. chain]
            : throw new OpenCM.Client.OpenCmApiException($"{address} answered {PathBase}/ca/chain.pem with no certificate: is it an OpenCM server (0.23 or later)?");
    }

    // Where OpenCM publishes (the API's default path base, as OpenCmClient assumes).
    private const string PathBase = "/CertificateManagement";

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
