using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace OpenCM.Bench.Load;

/// <summary>
/// Issuance throughput of one template (bench/templates/p256-tls-server.yaml) through its three
/// front doors in one run (issue #24): MIM CM's POST certificatedata (requests created beforehand,
/// untimed), EST simpleenroll (one POST per certificate: the request is created, issued and
/// completed inside it), and ACME (a whole order per certificate: newOrder, authorization,
/// http-01 challenge validated by the server against this process, finalize, download).
/// Every path ends in the same durable, audited issuance; the table compares them.
/// </summary>
internal static class Protocols
{
    private const string Api = "/CertificateManagement/api/v1.0";

    public static async Task<int> RunAsync(Uri server, string token, string[] args, int connections, int count)
    {
        string Get(string name) => Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : throw new ArgumentException($"{name} is required");
        var template = Get("--template-uuid");
        var label = Get("--label");
        var estUser = Get("--est-user");
        var estPassword = Environment.GetEnvironmentVariable("OPENCM_BENCH_PASSWORD") ?? throw new ArgumentException("OPENCM_BENCH_PASSWORD is required (the EST user's password)");
        var eabKid = Get("--eab-kid");
        var eabHmac = Environment.GetEnvironmentVariable("OPENCM_BENCH_EAB_HMAC") ?? throw new ArgumentException("OPENCM_BENCH_EAB_HMAC is required");
        var http01Port = int.Parse(Get("--http01-port"), CultureInfo.InvariantCulture);

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var conns = new RawHttpConnection[connections];
        for (var i = 0; i < conns.Length; i++)
        {
            conns[i] = await RawHttpConnection.OpenAsync(server, token);
        }

        // Each path is warmed up (JIT, caches, connections) on certificates of its own, untimed.
        var warm = Math.Max(connections * 4, count / 10);
        Console.WriteLine($"protocols: template {template} (label {label}), {connections} connections, {count} certificates per path after {warm} untimed, {Environment.ProcessorCount} cores");
        var rows = new List<global::Result>();

        // 1. MIM CM: Approved requests made beforehand (untimed), then one certificatedata each.
        Console.Write($"creating {warm + count} requests… ");
        var create = conns.Select(c => c.Build("POST", $"{Api}/requests", $$"""{"datacollection":"[]","type":"Enroll","profiletemplateuuid":"{{template}}","comment":""}""")).ToArray();
        var ids = new string[warm + count];
        await global::Load.ForCountAsync(null, conns, warm + count, async (w, i) =>
        {
            var (status, body) = await conns[w].SendAsync(create[w]);
            ids[i] = status == 201 ? body.Trim('"').Split('/')[^1] : throw new InvalidOperationException($"create answered {status}: {body}");
            return (status, body);
        });
        Console.WriteLine("done");
        var csr = Convert.ToBase64String(Csr(key, "CN=bench"));
        var payload = JsonSerializer.Serialize(new Dictionary<string, object> { ["pfxpassword"] = "", ["certificaterequests"] = new[] { csr } });
        await global::Load.ForCountAsync(null, conns, warm,
            (w, i) => conns[w].SendAsync(conns[w].Build("POST", $"{Api}/requests/{ids[count + i]}/certificatedata", payload)));
        rows.Add(await global::Load.ForCountAsync("MIM CM POST certificatedata", conns, count,
            (w, i) => conns[w].SendAsync(conns[w].Build("POST", $"{Api}/requests/{ids[i]}/certificatedata", payload))));

        // 2. EST: a distinct CSR per certificate (EST knows a retry by its CSR), made beforehand.
        var basic = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{estUser}:{estPassword}"));
        var estBodies = Enumerable.Range(0, warm + count).Select(i => Convert.ToBase64String(Csr(key, $"CN=e{i}.test"))).ToArray();
        await global::Load.ForCountAsync(null, conns, warm,
            (w, i) => conns[w].SendAsync(conns[w].Build("POST", $"/.well-known/est/{label}/simpleenroll", estBodies[count + i], "application/pkcs10", basic)));
        rows.Add(await global::Load.ForCountAsync("EST simpleenroll", conns, count,
            (w, i) => conns[w].SendAsync(conns[w].Build("POST", $"/.well-known/est/{label}/simpleenroll", estBodies[i], "application/pkcs10", basic))));

        // 3. ACME: one account (bound by the EAB key), one client per worker, a whole order per certificate.
        using var tokens = new TokenServer(http01Port);
        var account = await AcmeAccount.RegisterAsync(server, label, eabKid, eabHmac);
        var clients = Enumerable.Range(0, connections).Select(_ => new AcmeSession(account, tokens)).ToArray();
        await global::Load.ForCountAsync(null, conns, warm, (w, i) => clients[w].IssueAsync(key));
        rows.Add(await global::Load.ForCountAsync("ACME order (newOrder → certificate)", conns, count, (w, i) => clients[w].IssueAsync(key)));

        Console.WriteLine();
        Console.WriteLine("| path | certificates/s | errors | p50 ms | p99 ms | vs certificatedata |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|");
        foreach (var row in rows)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {row.Name} | {row.PerSecond:F0} | {row.Errors} | {row.P50:F2} | {row.P99:F2} | {row.PerSecond / rows[0].PerSecond:F2} |"));
        }

        foreach (var c in conns)
        {
            c.Dispose();
        }

        foreach (var c in clients)
        {
            c.Dispose();
        }

        return rows.Any(r => r.Errors > 0) ? 1 : 0;
    }

    // One key serves every request: the CA checks each CSR's signature and key, never that keys differ.
    private static byte[] Csr(ECDsa key, string subject)
    {
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        if (subject.StartsWith("CN=", StringComparison.Ordinal) && subject.Contains('.', StringComparison.Ordinal) || subject == "CN=localhost")
        {
            var san = new SubjectAlternativeNameBuilder();
            san.AddDnsName(subject[3..]);
            request.CertificateExtensions.Add(san.Build());
        }

        return request.CreateSigningRequest();
    }

    /// <summary>An ACME account shared by the workers: its key, its URL (the JWS kid) and the directory.</summary>
    private sealed record AcmeAccount(ECDsa Key, string Kid, string Thumbprint, JsonObject Directory, Uri Server)
    {
        public static async Task<AcmeAccount> RegisterAsync(Uri server, string label, string eabKid, string eabHmac)
        {
            using var http = new HttpClient { BaseAddress = server };
            var directory = JsonNode.Parse(await http.GetStringAsync($"/acme/{label}/directory"))!.AsObject();
            var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var jwk = Jwk(key);
            var newAccount = (string)directory["newAccount"]!;

            // RFC 8555 §7.3.4: the account key signed with the EAB key (HS256), inside the account's own JWS.
            var eabProtected = B64(JsonSerializer.SerializeToUtf8Bytes(new { alg = "HS256", kid = eabKid, url = newAccount }));
            var eabPayload = B64(Encoding.UTF8.GetBytes(jwk.ToJsonString()));
            var eabSignature = B64(HMACSHA256.HashData(FromB64(eabHmac), Encoding.ASCII.GetBytes($"{eabProtected}.{eabPayload}")));
            var payload = new JsonObject
            {
                ["termsOfServiceAgreed"] = true,
                ["contact"] = new JsonArray("mailto:bench@bench.test"),
                ["externalAccountBinding"] = new JsonObject { ["protected"] = eabProtected, ["payload"] = eabPayload, ["signature"] = eabSignature },
            };
            using var session = new AcmeSession(new AcmeAccount(key, "", ThumbprintOf(jwk), directory, server), null);
            var (status, headers, body) = await session.PostAsync(newAccount, payload.ToJsonString(), jwk);
            if (status is not (200 or 201) || headers.Location is null)
            {
                throw new InvalidOperationException($"newAccount answered {status}: {body}");
            }

            return new AcmeAccount(key, headers.Location.ToString(), ThumbprintOf(jwk), directory, server);
        }

        private static string ThumbprintOf(JsonObject jwk) =>
            B64(SHA256.HashData(Encoding.UTF8.GetBytes($$"""{"crv":"{{jwk["crv"]}}","kty":"EC","x":"{{jwk["x"]}}","y":"{{jwk["y"]}}"}""")));
    }

    /// <summary>One worker's ACME client: its own connection and nonces, the shared account.</summary>
    private sealed class AcmeSession : IDisposable
    {
        private readonly AcmeAccount _account;
        private readonly TokenServer? _tokens;
        private readonly HttpClient _http;
        private string? _nonce;

        public AcmeSession(AcmeAccount account, TokenServer? tokens)
        {
            _account = account;
            _tokens = tokens;
            _http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 1 }) { BaseAddress = account.Server };
        }

        public void Dispose() => _http.Dispose();

        /// <summary>A whole order for localhost; the status of the last step, or the first failing one's.</summary>
        public async Task<(int Status, string Body)> IssueAsync(ECDsa certificateKey)
        {
            // 1. The order, and its authorization (a valid one the server reuses needs no challenge).
            var (status, headers, body) = await PostAsync((string)_account.Directory["newOrder"]!, """{"identifiers":[{"type":"dns","value":"localhost"}]}""");
            if (status != 201 || headers.Location is null)
            {
                return (status, body);
            }

            var orderUrl = headers.Location.ToString();
            var order = JsonNode.Parse(body)!;
            var authorizationUrl = (string)order["authorizations"]![0]!;
            (status, _, body) = await PostAsync(authorizationUrl, "");
            if (status != 200)
            {
                return (status, body);
            }

            // 2. http-01: the key authorization served by this process, then the server asked to check it.
            var authorization = JsonNode.Parse(body)!;
            if ((string?)authorization["status"] != "valid")
            {
                var challenge = authorization["challenges"]!.AsArray().First(c => (string?)c!["type"] == "http-01")!;
                var challengeToken = (string)challenge["token"]!;
                _tokens!.Serve(challengeToken, $"{challengeToken}.{_account.Thumbprint}");
                (status, _, body) = await PostAsync((string)challenge["url"]!, "{}");
                if (status != 200)
                {
                    return (status, body);
                }

                (status, body) = await PollAsync(authorizationUrl, "valid");
                _tokens.Forget(challengeToken);
                if (status != 200)
                {
                    return (status, body);
                }
            }

            // 3. Finalize with a CSR for the order's name, wait for the certificate, download it.
            (status, _, body) = await PostAsync((string)order["finalize"]!, $$"""{"csr":"{{B64(Csr(certificateKey, "CN=localhost"))}}"}""");
            if (status != 200)
            {
                return (status, body);
            }

            if ((string?)JsonNode.Parse(body)!["status"] != "valid")
            {
                (status, body) = await PollAsync(orderUrl, "valid");
                if (status != 200)
                {
                    return (status, body);
                }
            }

            (status, _, body) = await PostAsync((string)JsonNode.Parse(body)!["certificate"]!, "");
            return (status, body);
        }

        // POST-as-GET until the resource reaches the status; 409 when it ends in another.
        private async Task<(int Status, string Body)> PollAsync(string url, string wanted)
        {
            for (var attempt = 0; attempt < 200; attempt++)
            {
                var (status, _, body) = await PostAsync(url, "");
                var now = status == 200 ? (string?)JsonNode.Parse(body)!["status"] : null;
                if (status != 200 || now == wanted)
                {
                    return (status, body);
                }

                if (now is "invalid" or "revoked" or "deactivated" or "expired")
                {
                    return (409, body);
                }

                await Task.Delay(10);
            }

            return (408, "still not " + wanted);
        }

        public async Task<(int Status, HttpResponseHeaders Headers, string Body)> PostAsync(string url, string payload, JsonObject? jwk = null)
        {
            for (var attempt = 0; ; attempt++)
            {
                _nonce ??= await NewNonceAsync();
                var header = new JsonObject { ["alg"] = "ES256", ["nonce"] = _nonce, ["url"] = url };
                if (jwk is null)
                {
                    header["kid"] = _account.Kid;
                }
                else
                {
                    header["jwk"] = jwk.DeepClone();
                }

                var protectedPart = B64(Encoding.UTF8.GetBytes(header.ToJsonString()));
                var payloadPart = payload.Length == 0 ? "" : B64(Encoding.UTF8.GetBytes(payload));
                var signature = B64(_account.Key.SignData(Encoding.ASCII.GetBytes($"{protectedPart}.{payloadPart}"), HashAlgorithmName.SHA256));
                using var content = new StringContent($$"""{"protected":"{{protectedPart}}","payload":"{{payloadPart}}","signature":"{{signature}}"}""");
                content.Headers.ContentType = new MediaTypeHeaderValue("application/jose+json");
                using var response = await _http.PostAsync(url, content);
                _nonce = response.Headers.TryGetValues("Replay-Nonce", out var nonces) ? nonces.First() : null;
                var body = await response.Content.ReadAsStringAsync();
                if ((int)response.StatusCode == 400 && body.Contains("badNonce", StringComparison.Ordinal) && attempt < 3)
                {
                    continue;
                }

                return ((int)response.StatusCode, response.Headers, body);
            }
        }

        private async Task<string> NewNonceAsync()
        {
            using var response = await _http.SendAsync(new HttpRequestMessage(HttpMethod.Head, (string)_account.Directory["newNonce"]!));
            return response.Headers.GetValues("Replay-Nonce").First();
        }
    }

    /// <summary>
    /// The http-01 responder (RFC 8555 §8.3): answers GET /.well-known/acme-challenge/{token} with
    /// the key authorization, on the port the server was told (Acme:Http01Port), IPv4 and IPv6.
    /// </summary>
    private sealed class TokenServer : IDisposable
    {
        private readonly ConcurrentDictionary<string, string> _answers = new(StringComparer.Ordinal);
        private readonly TcpListener _listener;
        private readonly CancellationTokenSource _stop = new();

        public TokenServer(int port)
        {
            _listener = new TcpListener(IPAddress.IPv6Any, port);
            _listener.Server.DualMode = true;
            _listener.Start();
            _ = Task.Run(AcceptAsync);
        }

        public void Serve(string token, string keyAuthorization) => _answers[token] = keyAuthorization;

        public void Forget(string token) => _answers.TryRemove(token, out _);

        public void Dispose()
        {
            _stop.Cancel();
            _listener.Stop();
            _stop.Dispose();
        }

        private async Task AcceptAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                TcpClient client;
                try
                {
                    client = await _listener.AcceptTcpClientAsync(_stop.Token);
                }
                catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
                {
                    return;
                }

                _ = Task.Run(() => AnswerAsync(client));
            }
        }

        private async Task AnswerAsync(TcpClient client)
        {
            using (client)
            {
                var stream = client.GetStream();
                var buffer = new byte[4096];
                var read = 0;
                while (read < buffer.Length && buffer.AsSpan(0, read).IndexOf("\r\n\r\n"u8) < 0)
                {
                    var n = await stream.ReadAsync(buffer.AsMemory(read));
                    if (n == 0)
                    {
                        return;
                    }

                    read += n;
                }

                var path = Encoding.ASCII.GetString(buffer, 0, read).Split(' ') is [_, var p, ..] ? p : "";
                const string Prefix = "/.well-known/acme-challenge/";
                var found = path.StartsWith(Prefix, StringComparison.Ordinal) && _answers.TryGetValue(path[Prefix.Length..], out var answer) ? answer : null;
                var reply = found is null
                    ? "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    : $"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {found.Length}\r\nConnection: close\r\n\r\n{found}";
                await stream.WriteAsync(Encoding.ASCII.GetBytes(reply));
            }
        }
    }

    private static JsonObject Jwk(ECDsa key)
    {
        var p = key.ExportParameters(false);
        return new JsonObject { ["crv"] = "P-256", ["kty"] = "EC", ["x"] = B64(p.Q.X!), ["y"] = B64(p.Q.Y!) };
    }

    private static string B64(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static byte[] FromB64(string text)
    {
        var s = text.Replace('-', '+').Replace('_', '/');
        return Convert.FromBase64String(s.PadRight(s.Length + ((4 - (s.Length % 4)) % 4), '='));
    }
}
