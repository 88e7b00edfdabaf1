using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using OpenCM.TestKit;

namespace OpenCM.Cli.Tests;

/// <summary>
/// Issue #9: several OpenCM processes on one PostgreSQL. They start together on an empty
/// database, share one master key (a copy of one key file) and everything else through the
/// database, and race each other for the same requests, approvals, enrollments and cards.
/// </summary>
public sealed class ClusterTests : IDisposable
{
    private const string Api = "/CertificateManagement/api/v1.0";
    private const string UserCertificate = "5b0e3c1e-7f3a-4a55-9c8e-1b2d3e4f5a60";
    private const string ApprovedUserCertificate = "9d6f2a4b-3c8e-4f1a-b7d5-2e6c8a0f1b23";
    private const string VirtualSmartcardVpn = "97cd65fa-af4b-4587-9309-0dd6bfd8b4e1";
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private sealed record Node(ServerProcess Process, HttpClient Http);

    // Two data directories holding copies of one master key file, for one database.
    private async Task<(string Connection, string[] Stores)> ClusterAsync()
    {
        var server = await PostgresServer.Shared;
        Prerequisite.SkipIfMissing(server is null, PostgresServer.SkipReason);
        var connection = await server!.CreateDatabaseAsync("cluster");
        var first = _dir.File("node-a");
        var second = _dir.File("node-b");
        Directory.CreateDirectory(first);
        Directory.CreateDirectory(second);
        _ = Storage.MasterKey.LoadOrCreate(Path.Combine(first, "master.key"));
        File.Copy(Path.Combine(first, "master.key"), Path.Combine(second, "master.key"));
        return (connection, [first, second]);
    }

    [SkippableFact]
    public async Task Serve_PostgresWithoutPublicUrl_RefusesAtStartSayingWhy()
    {
        var server = await PostgresServer.Shared;
        Prerequisite.SkipIfMissing(server is null, PostgresServer.SkipReason);
        var connection = await server!.CreateDatabaseAsync("nopublicurl");
        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => ServerProcess.StartAsync(StoreArgs(_dir.File("node"), connection)));
        Assert.Contains("set Ca:PublicUrl", refused.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", refused.Message, StringComparison.Ordinal);

        // Given it, the same database serves, and its CA publishes there for good.
        await using var node = await ServerProcess.StartAsync([.. StoreArgs(_dir.File("node"), connection), PublicUrl]);
        var list = await Cli.RunAsync(["ca", "list", .. StoreArgs(_dir.File("node"), connection)]);
        Assert.Contains("https://cm.contoso.test/CertificateManagement/crl/OpenCM-Root-CA.crl", list.Out, StringComparison.Ordinal);
    }

    // Nodes of a cluster publish under one address, or they refuse to serve (issue #20.5).
    private const string PublicUrl = "--Ca:PublicUrl=https://cm.contoso.test";

    private static string[] StoreArgs(string data, string connection) => ["--data", data, "--database", "postgres", "--connection", connection];

    private static async Task<HttpClient> ClientAsync(ServerProcess node, string token)
    {
        var http = new HttpClient { BaseAddress = new Uri(node.Address) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return await Task.FromResult(http);
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    private static async Task<Guid> CreateAsync(HttpClient http, string template, string data = "\"[]\"")
    {
        var response = await http.PostAsync($"{Api}/requests", Json($$"""{"datacollection":{{data}},"type":"Enroll","profiletemplateuuid":"{{template}}","comment":""}"""));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, body);
        return Guid.Parse(JsonSerializer.Deserialize<string>(body)!.Split('/')[^1]);
    }

    private static string Csr()
    {
        using var key = RSA.Create(2048);
        return Convert.ToBase64String(new CertificateRequest("CN=x", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1).CreateSigningRequest());
    }

    [SkippableFact]
    public async Task DbCopy_EmbeddedInstallToPostgres_CountsAndChainMatchAndThePostgresNodeServesTheSameData()
    {
        var server = await PostgresServer.Shared;
        Prerequisite.SkipIfMissing(server is null, PostgresServer.SkipReason);

        // 1. An embedded install with a user, requests in two statuses, and their audit events.
        var data = _dir.File("embedded");
        var sqlite = new[] { "--data", data };
        Guid kept, canceled;
        await using (var embedded = await ServerProcess.StartAsync(sqlite))
        {
            using var http = await ClientAsync(embedded, (await Cli.RunAsync(["token", .. sqlite, "--user", "admin"])).Out.Trim());
            kept = await CreateAsync(http, UserCertificate);
            canceled = await CreateAsync(http, UserCertificate);
            Assert.Equal(HttpStatusCode.OK, (await http.PutAsync($"{Api}/requests/{canceled}", Json("""{"status":"Canceled"}"""))).StatusCode);
        }

        Assert.Equal(0, (await Cli.RunAsync(["users", "add", .. sqlite, "--name", "carol"])).Exit);

        // 2. The copy: counts and chain checked on the target (migrated first by `opencm migrate`, which a second run finds current).
        var connection = await server!.CreateDatabaseAsync("copy");
        var migrated = await Cli.RunAsync(["migrate", .. StoreArgs(_dir.File("migrate"), connection)]);
        Assert.True(migrated.Exit == 0, migrated.Err);
        Assert.DoesNotContain(": 0 migration(s) applied", migrated.Out, StringComparison.Ordinal);
        Assert.Contains(": 0 migration(s) applied; schema current", (await Cli.RunAsync(["migrate", .. StoreArgs(_dir.File("migrate"), connection)])).Out, StringComparison.Ordinal);
        var (exit, output, err) = await Cli.RunAsync("db", "copy", "--from", $"sqlite:{data}", "--to", $"postgres:{connection}");
        Assert.True(exit == 0, output + err);
        Assert.Contains("counts match; audit chain intact", output, StringComparison.Ordinal);
        Assert.DoesNotContain(connection, output + err, StringComparison.Ordinal);

        // 3. A PostgreSQL node with the install's master key serves the same data, and tokens it signed before still work.
        var oldToken = (await Cli.RunAsync(["token", .. sqlite, "--user", "carol"])).Out.Trim();
        await using (var node = await ServerProcess.StartAsync([.. StoreArgs(data, connection), PublicUrl]))
        {
            using var admin = await ClientAsync(node, (await Cli.RunAsync(["token", .. StoreArgs(data, connection), "--user", "admin"])).Out.Trim());
            var status = JsonDocument.Parse(await admin.GetStringAsync($"{Api}/requests/{canceled}")).RootElement.GetProperty("Status").GetInt32();
            Assert.Equal(17, status);
            Assert.Equal(HttpStatusCode.OK, (await admin.PutAsync($"{Api}/requests/{kept}", Json("""{"status":"Abandoned"}"""))).StatusCode);
            var fresh = await CreateAsync(admin, UserCertificate); // the paging key continues past the copied rows
            var page = JsonDocument.Parse(await admin.GetStringAsync($"{Api}/requests")).RootElement.EnumerateArray().Select(r => r.GetProperty("Uuid").GetString()).ToList();
            Assert.Contains(fresh.ToString("D"), page);
            using var carol = await ClientAsync(node, oldToken);
            Assert.Equal(HttpStatusCode.OK, (await carol.GetAsync($"{Api}/me")).StatusCode);
        }

        Assert.Equal(0, (await Cli.RunAsync(["audit", "verify", .. StoreArgs(data, connection)])).Exit);

        // 4. A second copy into the now used database is refused, and changes nothing.
        var again = await Cli.RunAsync("db", "copy", "--from", $"sqlite:{data}", "--to", $"postgres:{connection}");
        Assert.Equal(OpenCmCli.Usage, again.Exit);
        Assert.Contains("empty database", again.Err, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task DatabaseOutage_NodeAnswers503WithRetryAfterUnreadyThenRecoversByItself()
    {
        // A PostgreSQL of this test's own, to stop and start.
        var pg = await PostgresServer.StartNewAsync();
        Prerequisite.SkipIfMissing(pg is null, PostgresServer.SkipReason);
        var connection = await pg!.CreateDatabaseAsync("outage");
        var data = _dir.File("node");
        var store = StoreArgs(data, connection);
        await using var node = await ServerProcess.StartAsync([.. store, PublicUrl]);
        using var http = await ClientAsync(node, (await Cli.RunAsync(["token", .. store, "--user", "admin"])).Out.Trim());
        var id = await CreateAsync(http, UserCertificate);

        // 1. The database goes away: a clear 503 with Retry-After and a problem body, and readiness says so.
        await pg.StopAsync();
        var down = await http.GetAsync($"{Api}/requests/{id}");
        var problem = JsonDocument.Parse(await down.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(HttpStatusCode.ServiceUnavailable, down.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(5), down.Headers.RetryAfter?.Delta);
        Assert.Equal("Unavailable", problem.GetProperty("errorCode").GetString());
        Assert.DoesNotContain("127.0.0.1", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await http.GetAsync("/health/ready")).StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await http.PutAsync($"{Api}/requests/{id}", Json("""{"status":"Canceled"}"""))).StatusCode);

        // 2. It comes back: the same node serves again without a restart.
        await pg.RestartAsync();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        HttpStatusCode status;
        do
        {
            status = (await http.GetAsync($"{Api}/requests/{id}")).StatusCode;
        }
        while (status != HttpStatusCode.OK && DateTime.UtcNow < deadline && await Task.Delay(200).ContinueWith(_ => true));
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/health/ready")).StatusCode);
        var put = await http.PutAsync($"{Api}/requests/{id}", Json("""{"status":"Canceled"}"""));
        await Task.Delay(put.StatusCode == HttpStatusCode.OK ? 0 : 1000);
        Assert.True(put.StatusCode == HttpStatusCode.OK, $"{put.StatusCode}: {await put.Content.ReadAsStringAsync()}\n{node.Output}");
        await pg.StopAsync();
    }

    [SkippableFact]
    public async Task TwoNodes_StartTogetherThenRaceForTheSameWork_EveryRaceHasOneWinnerAndTheChainVerifies()
    {
        var (connection, stores) = await ClusterAsync();

        // 1. Both nodes start at once on the empty database: one migrates and initializes, the other reuses.
        var starting = stores.Select(s => ServerProcess.StartAsync([.. StoreArgs(s, connection), PublicUrl])).ToArray();
        await using var a = await starting[0];
        await using var b = await starting[1];
        var token = (await Cli.RunAsync(["token", .. StoreArgs(stores[1], connection), "--user", "admin"])).Out.Trim();
        Assert.StartsWith("ey", token, StringComparison.Ordinal);
        var nodes = new[] { await ClientAsync(a, token), await ClientAsync(b, token) };

        // Two approvers, added through node A's files while both nodes serve; each votes through both nodes.
        var approvers = new List<HttpClient[]>();
        foreach (var name in new[] { "approver1", "approver2" })
        {
            Assert.Equal(0, (await Cli.RunAsync(["users", "add", .. StoreArgs(stores[0], connection), "--name", name, "--group", "CM Approvers"])).Exit);
            var approverToken = (await Cli.RunAsync(["token", .. StoreArgs(stores[0], connection), "--user", name])).Out.Trim();
            approvers.Add([await ClientAsync(a, approverToken), await ClientAsync(b, approverToken)]);
        }

        // Either node answers for what the other made (the token was minted from node B's files).
        var probe = await CreateAsync(nodes[0], UserCertificate);
        Assert.Equal(HttpStatusCode.OK, (await nodes[1].GetAsync($"{Api}/requests/{probe}")).StatusCode);

        // 2. The races, all at once: 64 clients and more in flight across both nodes.
        var transitions = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => CreateAsync(nodes[0], UserCertificate)));
        var enrollments = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => CreateAsync(nodes[1], UserCertificate)));
        var votes = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => CreateAsync(nodes[0], ApprovedUserCertificate, """[{"Request Reason":"race"}]""")));
        var cards = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => CreateAsync(nodes[1], VirtualSmartcardVpn)));
        var csrs = enrollments.Select(_ => (Csr(), Csr())).ToArray();
        var cardId = Guid.NewGuid().ToString();

        var calls = new List<Task<(string Race, Guid Id, HttpStatusCode Status)>>();
        Task<(string, Guid, HttpStatusCode)> Call(string race, Guid id, HttpClient http, HttpMethod method, string path, string body) => Task.Run(async () =>
        {
            using var message = new HttpRequestMessage(method, Api + path) { Content = Json(body) };
            using var response = await http.SendAsync(message);
            return (race, id, response.StatusCode);
        });
        foreach (var id in transitions)
        {
            calls.Add(Call("transition", id, nodes[0], HttpMethod.Put, $"/requests/{id}", """{"status":"Canceled"}"""));
            calls.Add(Call("transition", id, nodes[1], HttpMethod.Put, $"/requests/{id}", """{"status":"Abandoned"}"""));
        }

        for (var i = 0; i < enrollments.Length; i++)
        {
            calls.Add(Call("enroll", enrollments[i], nodes[0], HttpMethod.Post, $"/requests/{enrollments[i]}/certificatedata", $$"""{"certificaterequests":["{{csrs[i].Item1}}"]}"""));
            calls.Add(Call("enroll", enrollments[i], nodes[1], HttpMethod.Post, $"/requests/{enrollments[i]}/certificatedata", $$"""{"certificaterequests":["{{csrs[i].Item2}}"]}"""));
        }

        foreach (var id in votes)
        {
            // Two approvals are needed; each approver sends theirs through both nodes at once.
            foreach (var through in approvers.SelectMany(x => x))
            {
                calls.Add(Call("vote", id, through, HttpMethod.Post, $"/requests/{id}/approvals", """{"decision":"Approve","comment":"ok"}"""));
            }
        }

        for (var i = 0; i < cards.Length; i++)
        {
            calls.Add(Call("card", cards[i], nodes[i % 2], HttpMethod.Post, "/smartcards", $$"""{"requestid":"{{cards[i]}}","cardid":"{{cardId}}","atr":""}"""));
        }

        var outcomes = await Task.WhenAll(calls);
        Assert.True(calls.Count >= 64);
        Assert.DoesNotContain(outcomes, o => (int)o.Status >= 500);

        // 3. One winner per race: each contested transition and enrollment once, each card once.
        foreach (var race in outcomes.Where(o => o.Race is "transition" or "enroll").GroupBy(o => o.Id))
        {
            Assert.Single(race, o => o.Status == HttpStatusCode.OK);
        }

        Assert.Single(outcomes, o => o.Race == "card" && o.Status == HttpStatusCode.Created);
        foreach (var id in votes)
        {
            // Approved: two approvers, each counted once however often they voted. Node 1 may serve
            // its cached copy from before node 0's last vote until that commit's notification
            // arrives (decision 0016: milliseconds), so it is read again for up to five seconds.
            var status = 0;
            for (var attempt = 0; attempt < 50 && status != 3; attempt++)
            {
                await Task.Delay(attempt == 0 ? 0 : 100);
                status = JsonDocument.Parse(await nodes[1].GetStringAsync($"{Api}/requests/{id}")).RootElement.GetProperty("Status").GetInt32();
            }

            Assert.Equal(3, status);
        }

        // No serial twice: sixteen enrollments, sixteen distinct certificates, each on one node's answer only.
        var certificates = JsonDocument.Parse(await nodes[0].GetStringAsync($"{Api}/certificates")).RootElement.EnumerateArray()
            .Select(c => c.GetProperty("SerialNumber").GetString()).ToList();
        Assert.Equal(certificates.Count, certificates.Distinct().Count());

        // 4. A portal session begun on one node is honoured by the other (one data-protection key ring, in the database).
        Assert.Equal(0, (await Cli.RunWithInputAsync("a portal password\n", ["users", "set-password", .. StoreArgs(stores[0], connection), "--name", "approver1", "--password-stdin"])).Exit);
        var cookies = new CookieContainer();
        var handler = new HttpClientHandler { CookieContainer = cookies, AllowAutoRedirect = false };
        using var portalA = new HttpClient(handler, disposeHandler: false) { BaseAddress = new Uri(a.Address) };
        using var portalB = new HttpClient(handler, disposeHandler: true) { BaseAddress = new Uri(b.Address) };
        var form = await portalA.GetStringAsync("/CertificateManagement/signin");
        var antiforgery = System.Text.RegularExpressions.Regex.Match(form, "name=\"__RequestVerificationToken\" type=\"hidden\" value=\"([^\"]+)\"").Groups[1].Value;
        var signedIn = await portalA.PostAsync("/CertificateManagement/signin", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["__RequestVerificationToken"] = antiforgery, ["name"] = "approver1", ["password"] = "a portal password",
        }));
        Assert.Equal(HttpStatusCode.Redirect, signedIn.StatusCode);
        var home = await portalB.GetAsync("/CertificateManagement/");
        Assert.Equal(HttpStatusCode.OK, home.StatusCode);
        Assert.Contains("approver1", await home.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // 5. One audit chain, verifiable from any node's files.
        var verify = await Cli.RunAsync(["audit", "verify", .. StoreArgs(stores[0], connection)]);
        Assert.True(verify.Exit == 0, verify.Out + verify.Err);
        Assert.Contains("audit log intact", verify.Out, StringComparison.Ordinal);
    }
}
