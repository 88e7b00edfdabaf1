using System.CommandLine;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Spectre.Console;

namespace OpenCM.Cli;

/// <summary>
/// <c>opencm enroll</c>: the walkthrough's software enrollment from the command line (SPEC §11):
/// create the request, read the generation options, make the keys here, send the CSRs, write a
/// PFX, and mark the request Completed.
/// </summary>
internal static class EnrollCommand
{
    private const string Api = "/CertificateManagement/api/v1.0";
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
                ? new Dictionary<string, string> { [p[0]] = p[1] }
                : throw new CliException($"--data-item '{p[0]}' is not NAME=VALUE")).ToList();
            var file = parse.GetValue(output)!;
            using var http = new HttpClient { BaseAddress = new Uri(parse.GetValue(server)!) };
            var bearer = parse.GetValue(token) ?? Environment.GetEnvironmentVariable("OPENCM_TOKEN");
            if (string.IsNullOrWhiteSpace(bearer))
            {
                throw new CliException("no token: pass --token or set OPENCM_TOKEN (see 'opencm token')");
            }

            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", bearer.Trim());
            var requestId = "";
            try
            {
            await io.Console.Status().StartAsync("Finding the template…", async status =>
            {
                // 1. The template by name.
                var templates = await GetAsync(http, $"{Api}/profiletemplates", ct);
                var wanted = parse.GetValue(template)!;
                var found = templates.EnumerateArray().FirstOrDefault(t => string.Equals(t.GetProperty("Name").GetString(), wanted, StringComparison.OrdinalIgnoreCase));
                if (found.ValueKind != JsonValueKind.Object)
                {
                    throw new CliException($"no profile template named '{wanted}' is available to you");
                }

                if (found.GetProperty("IsSmartcardProfileTemplate").GetBoolean())
                {
                    throw new CliException($"'{wanted}' is a smart card template; enroll handles software profiles");
                }

                // 2. The request.
                status.Status("Creating the request…");
                var created = await SendAsync(http, HttpMethod.Post, $"{Api}/requests", new Dictionary<string, object?>
                {
                    ["type"] = "Enroll",
                    ["profiletemplateuuid"] = found.GetProperty("Uuid").GetString(),
                    ["datacollection"] = items,
                    ["comment"] = "",
                }, ct);
                requestId = created.GetString()!.Split('/')[^1];
                var request = await GetAsync(http, $"{Api}/requests/{requestId}", ct);
                if (request.GetProperty("Status").GetInt32() != 3)
                {
                    throw new PendingException(requestId);
                }

                // 3. Keys and CSRs, made here; only the CSRs leave this machine.
                status.Status("Generating keys…");
                var options = await GetAsync(http, $"{Api}/requests/{requestId}/certificaterequestgenerationoptions", ct);
                var keys = new List<AsymmetricAlgorithm>();
                var csrs = new List<string>();
                foreach (var option in options.EnumerateArray())
                {
                    var (key, csr) = MakeKey(option);
                    keys.Add(key);
                    csrs.Add(csr);
                }

                // 4. Certificates.
                status.Status("Requesting certificates…");
                var certificates = await SendAsync(http, HttpMethod.Post, $"{Api}/requests/{requestId}/certificatedata",
                    new Dictionary<string, object?> { ["pfxpassword"] = pfxPassword, ["certificaterequests"] = csrs }, ct);

                // 5. One PFX with every certificate and its key, and the CA.
                status.Status("Writing the PFX…");
                await File.WriteAllBytesAsync(file.FullName, BuildPfx(certificates, keys, pfxPassword), ct);
                foreach (var key in keys)
                {
                    key.Dispose();
                }

                // 6. Done: the request is Completed and the profile Active.
                status.Status("Completing the request…");
                await SendAsync(http, HttpMethod.Put, $"{Api}/requests/{requestId}", new Dictionary<string, object?> { ["status"] = "Completed" }, ct);
            }).ConfigureAwait(false);
            }
            catch (PendingException pending)
            {
                await io.Err.WriteLineAsync($"error: request {pending.RequestId} is waiting for approval; run enroll again once it is approved");
                return OpenCmCli.Failed;
            }
            catch (Exception) when (requestId.Length > 0)
            {
                // Leave nothing half-done: an enrollment that failed after its request was created is abandoned.
                try
                {
                    await SendAsync(http, HttpMethod.Put, $"{Api}/requests/{requestId}", new Dictionary<string, object?> { ["status"] = "Abandoned" }, CancellationToken.None);
                    await io.Err.WriteLineAsync($"request {requestId} abandoned");
                }
                catch (CliException)
                {
                    // Abandoning is best effort; the original failure is what the user needs to see.
                }

                throw;
            }

            await io.Out.WriteLineAsync($"enrolled: request {requestId} completed; certificates and keys written to {file.FullName}");
            return OpenCmCli.Ok;
        }));
        return command;
    }

    private static (AsymmetricAlgorithm Key, string Csr) MakeKey(JsonElement option)
    {
        var subject = option.GetProperty("Subject").GetString() is { Length: > 0 } s ? new X500DistinguishedName(s) : new X500DistinguishedName("");
        var hash = new HashAlgorithmName(option.GetProperty("HashAlgorithmName").GetString() ?? "SHA256");
        var algorithm = option.GetProperty("KeyAlgorithmName").GetString() switch
        {
            "ECDSA_P256" => OpenCM.Domain.KeyAlgorithm.EcdsaP256,
            "ECDSA_P384" => OpenCM.Domain.KeyAlgorithm.EcdsaP384,
            "RSA" => OpenCM.Domain.KeyAlgorithm.Rsa,
            var other => throw new CliException($"the server asks for a {other} key, which enroll cannot make"),
        };
        var key = OpenCM.Authority.Keys.Generate(algorithm, algorithm == OpenCM.Domain.KeyAlgorithm.Rsa ? option.GetProperty("KeySize").GetInt32() : 0);
        var request = key switch
        {
            RSA rsa => new CertificateRequest(subject, rsa, hash, RSASignaturePadding.Pkcs1),
            ECDsa ec => new CertificateRequest(subject, ec, hash),
            _ => throw new CliException("enroll made a key it cannot use"),
        };
        return (key, Convert.ToBase64String(request.CreateSigningRequest()));
    }

    private static byte[] BuildPfx(JsonElement certificates, List<AsymmetricAlgorithm> keys, string password)
    {
        var collection = new X509Certificate2Collection();
        var chain = new X509Certificate2Collection();
        var keyIndex = 0;
        foreach (var c in certificates.EnumerateArray())
        {
            if (c.GetProperty("isPfx").GetBoolean())
            {
                // A server-generated key, already in a PFX under our password.
                foreach (var fromServer in X509CertificateLoader.LoadPkcs12Collection(Convert.FromBase64String(c.GetProperty("Pfx").GetString()!), password, X509KeyStorageFlags.Exportable))
                {
                    (fromServer.HasPrivateKey ? collection : chain).Add(fromServer);
                }

                continue;
            }

            var cms = new SignedCms();
            cms.Decode(Convert.FromBase64String(c.GetProperty("Pkcs7").GetString()!));
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

    private static async Task<JsonElement> GetAsync(HttpClient http, string path, CancellationToken ct)
    {
        using var response = await http.GetAsync(path, ct);
        return await ReadAsync(response, ct);
    }

    private static async Task<JsonElement> SendAsync(HttpClient http, HttpMethod method, string path, object body, CancellationToken ct)
    {
        using var message = new HttpRequestMessage(method, path) { Content = new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json") };
        using var response = await http.SendAsync(message, ct);
        return await ReadAsync(response, ct);
    }

    private static async Task<JsonElement> ReadAsync(HttpResponseMessage response, CancellationToken ct)
    {
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync(ct));
        var json = doc.RootElement.Clone();
        if (!response.IsSuccessStatusCode)
        {
            var code = json.ValueKind == JsonValueKind.Object && json.TryGetProperty("errorCode", out var c) ? c.GetString() : null;
            var detail = json.ValueKind == JsonValueKind.Object && json.TryGetProperty("detail", out var d) ? d.GetString() : null;
            throw new CliException($"{(int)response.StatusCode} {code}: {detail}");
        }

        return json;
    }

    private sealed class PendingException(string requestId) : Exception($"request {requestId} is pending")
    {
        public string RequestId { get; } = requestId;
    }
}
