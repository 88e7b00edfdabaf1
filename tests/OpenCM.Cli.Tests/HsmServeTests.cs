using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using OpenCM.TestKit;

namespace OpenCM.Cli.Tests;

/// <summary>
/// Issue #20: <c>opencm serve</c> with its new root's key in a SoftHSM2 token (Ca:Pkcs11, the PIN
/// in the environment): certificates issued through the API verify with openssl against the root
/// served, whose public key is the token's; the database keeps no key material; a wrong PIN stops
/// serve with a message, not a stack trace.
/// </summary>
public sealed class HsmServeTests : IDisposable
{
    private const string Api = "/CertificateManagement/api/v1.0";
    private const string UserCertificate = "5b0e3c1e-7f3a-4a55-9c8e-1b2d3e4f5a60";
    private const string TokenLabel = "opencm-serve";
    private const string KeyLabel = "opencm-root";
    private const string LossToken = "lost-and-found";
    private const string SubordinateToken = "subordinate";
    private static readonly SemaphoreSlim InitGate = new(1, 1);
    private static bool _initialised;
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    // A token directory of these tests' own, for child processes only (SOFTHSM2_CONF in their environment).
    private static readonly Lazy<SoftHsmToken> Hsm = new(() => new SoftHsmToken());

    private static async Task<SoftHsmToken> HsmAsync()
    {
        SoftHsmToken.SkipIfMissing();
        var hsm = Hsm.Value;
        await InitGate.WaitAsync();
        try
        {
            if (!_initialised)
            {
                await hsm.InitTokenAsync(TokenLabel);
                await hsm.InitTokenAsync("wrong-pin-token");
                await hsm.InitTokenAsync(LossToken);
                await hsm.InitTokenAsync(SubordinateToken);
                _initialised = true;
            }
        }
        finally
        {
            InitGate.Release();
        }

        return hsm;
    }

    private static string[] HsmArgs(string token, string key) =>
        [$"--Ca:Pkcs11:Library={SoftHsmToken.Module}", $"--Ca:Pkcs11:TokenLabel={token}", $"--Ca:Pkcs11:KeyLabel={key}"];

    [SkippableFact]
    public async Task Serve_RootKeyInSoftHsm_IssuedCertificateVerifiesAndTheKeyStaysInTheToken()
    {
        var hsm = await HsmAsync();
        var data = _dir.File("data");
        await using var server = await ServerProcess.StartAsync(
            new Dictionary<string, string>(hsm.Environment) { ["Ca__Pkcs11__Pin"] = SoftHsmToken.UserPin }, false, ["--data", data, .. HsmArgs(TokenLabel, KeyLabel)]);

        // Local commands read their settings from the environment (and --data) only, and load the CA
        // too: `opencm token` runs as a child with Ca__Pkcs11__* set, the PIN from a file this time.
        var pinFile = _dir.File("pin");
        await File.WriteAllTextAsync(pinFile, SoftHsmToken.UserPin + "\n");
        var minted = await ChildAsync(new Dictionary<string, string>(hsm.Environment)
        {
            ["Ca__Pkcs11__Library"] = SoftHsmToken.Module,
            ["Ca__Pkcs11__TokenLabel"] = TokenLabel,
            ["Ca__Pkcs11__KeyLabel"] = KeyLabel,
            ["Ca__Pkcs11__PinFile"] = pinFile,
        }, "token", "--data", data, "--user", "admin");
        Assert.True(minted.Exit == 0, minted.Err);
        using var http = new HttpClient { BaseAddress = new Uri(server.Address) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", minted.Out.Trim());

        var created = await http.PostAsync($"{Api}/requests", Json($$"""{"datacollection":"[]","type":"Enroll","profiletemplateuuid":"{{UserCertificate}}","comment":""}"""));
        var body = await created.Content.ReadAsStringAsync();
        Assert.True(created.StatusCode == HttpStatusCode.Created, body);
        var id = JsonSerializer.Deserialize<string>(body)!.Split('/')[^1];
        using var key = RSA.Create(2048);
        var csr = Convert.ToBase64String(new CertificateRequest("CN=x", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1).CreateSigningRequest());
        var issued = await http.PostAsync($"{Api}/requests/{id}/certificatedata", Json($$"""{"certificaterequests":["{{csr}}"]}"""));
        var json = await issued.Content.ReadAsStringAsync();
        Assert.True(issued.StatusCode == HttpStatusCode.OK, json + server.Output);
        var certificate = Assert.Single(JsonDocument.Parse(json).RootElement.EnumerateArray());
        await File.WriteAllBytesAsync(_dir.File("out.p7b"), Convert.FromBase64String(certificate.GetProperty("Pkcs7").GetString()!));
        await OpenSsl.CheckAsync(_dir.Path, "pkcs7", "-inform", "DER", "-in", "out.p7b", "-print_certs", "-out", "chain.pem");
        var chain = await File.ReadAllTextAsync(_dir.File("chain.pem"));
        var leafPem = chain[chain.IndexOf("-----BEGIN", StringComparison.Ordinal)..(chain.IndexOf("-----END CERTIFICATE-----", StringComparison.Ordinal) + 25)];
        await File.WriteAllTextAsync(_dir.File("leaf.pem"), leafPem);

        // The root as the server publishes it; its key is the token's (pkcs11-tool reads the public key object).
        var rootDer = await http.GetByteArrayAsync("/CertificateManagement/ca/OpenCM-Root-CA.crt");
        await File.WriteAllTextAsync(_dir.File("root.pem"), PemEncoding.WriteString("CERTIFICATE", rootDer));
        Assert.Contains("leaf.pem: OK", await OpenSsl.CheckAsync(_dir.Path, ["verify", .. OpenSsl.At(DateTimeOffset.UtcNow), "-CAfile", "root.pem", "leaf.pem"]), StringComparison.Ordinal);
        var read = await hsm.Pkcs11ToolAsync("--token-label", TokenLabel, "--read-object", "--type", "pubkey", "--label", KeyLabel, "--output-file", _dir.File("pub.der"));
        Assert.True(read.ExitCode == 0, read.All);
        using var root = X509CertificateLoader.LoadCertificate(rootDer);
        Assert.Equal(root.PublicKey.ExportSubjectPublicKeyInfo(), await File.ReadAllBytesAsync(_dir.File("pub.der")));

        // The CRL is signed in the token too.
        await File.WriteAllBytesAsync(_dir.File("ca.crl"), await http.GetByteArrayAsync("/CertificateManagement/crl/OpenCM-Root-CA.crl"));
        Assert.Contains("verify OK", (await OpenSsl.RunAsync(_dir.Path, "crl", "-inform", "DER", "-in", "ca.crl", "-noout", "-CAfile", "root.pem")).All, StringComparison.Ordinal);

        // No sealed software CA key was made: the CA's record names the key in the token, and no secret holds a CA key.
        using (var db = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(data, "opencm.db")};Mode=ReadOnly;Pooling=False"))
        {
            await db.OpenAsync();
            using var names = db.CreateCommand();
            names.CommandText = "SELECT COUNT(*) FROM secrets WHERE name LIKE 'ca%'";
            Assert.Equal(0L, (long)(await names.ExecuteScalarAsync())!);
            using var reference = db.CreateCommand();
            reference.CommandText = "SELECT key_ref FROM certificate_authorities WHERE id = 1";
            Assert.Equal($"pkcs11:{KeyLabel}", (string?)await reference.ExecuteScalarAsync());
        }

        // A local command without the HSM settings stops, naming the CA's key, rather than going on without it.
        var bare = await Cli.RunAsync("ca", "list", "--data", data);
        Assert.Equal(OpenCmCli.Usage, bare.Exit);
        Assert.Contains($"label '{KeyLabel}'", bare.Err, StringComparison.Ordinal);

        // The key gone from the token (an operator deleted it): the next start stops, naming it.
        await server.KillAsync();
        var deleted = await hsm.Pkcs11ToolAsync("--token-label", TokenLabel, "--login", "--pin", SoftHsmToken.UserPin, "--delete-object", "--type", "privkey", "--label", KeyLabel);
        Assert.True(deleted.ExitCode == 0, deleted.All);
        var missingKey = await Assert.ThrowsAsync<InvalidOperationException>(() => ServerProcess.StartAsync(
            new Dictionary<string, string>(hsm.Environment) { ["Ca__Pkcs11__Pin"] = SoftHsmToken.UserPin }, false, ["--data", data, .. HsmArgs(TokenLabel, KeyLabel)]));
        Assert.Contains($"no private key labelled '{KeyLabel}'", missingKey.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", missingKey.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Serve_WrongPinOrPinOnTheCommandLine_StopsWithAMessageNotThePin()
    {
        var hsm = await HsmAsync();
        var wrongPin = await Assert.ThrowsAsync<InvalidOperationException>(() => ServerProcess.StartAsync(
            new Dictionary<string, string>(hsm.Environment) { ["Ca__Pkcs11__Pin"] = "wrong-pin-0815" }, false,
            ["--data", _dir.File("a"), .. HsmArgs("wrong-pin-token", "k")]));
        Assert.Contains("token 'wrong-pin-token'", wrongPin.Message, StringComparison.Ordinal);
        Assert.Contains("CKR_PIN_INCORRECT", wrongPin.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("0815", wrongPin.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", wrongPin.Message, StringComparison.Ordinal);

        // A PIN on the command line is visible in the process list: refused, and not echoed.
        var pinOnCommandLine = await Assert.ThrowsAsync<InvalidOperationException>(() => ServerProcess.StartAsync(hsm.Environment, false,
            ["--data", _dir.File("c"), .. HsmArgs(TokenLabel, "k"), "--Ca:Pkcs11:Pin=cmdline-pin-4242"]));
        Assert.Contains("Ca__Pkcs11__Pin", pinOnCommandLine.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("4242", pinOnCommandLine.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Serve_TokenGoneMidRun_IssuanceAnswers503ThenRecoversWhenItIsBack()
    {
        var hsm = await HsmAsync();
        var data = _dir.File("data");
        var environment = new Dictionary<string, string>(hsm.Environment) { ["Ca__Pkcs11__Pin"] = SoftHsmToken.UserPin };
        await using var server = await ServerProcess.StartAsync(environment, false, ["--data", data, .. HsmArgs(LossToken, "loss-root")]);
        var minted = await ChildAsync(new Dictionary<string, string>(environment)
        {
            ["Ca__Pkcs11__Library"] = SoftHsmToken.Module,
            ["Ca__Pkcs11__TokenLabel"] = LossToken,
            ["Ca__Pkcs11__KeyLabel"] = "loss-root",
        }, "token", "--data", data, "--user", "admin");
        Assert.True(minted.Exit == 0, minted.Err);
        using var http = new HttpClient { BaseAddress = new Uri(server.Address) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", minted.Out.Trim());
        Assert.Equal(HttpStatusCode.OK, (await EnrollAsync(http)).StatusCode);

        // The token's directory moved out of SoftHSM's token directory: the token is gone.
        var directory = Directory.GetDirectories(hsm.TokenDirectory).Single(d =>
            File.ReadAllBytes(Path.Combine(d, "token.object")).AsSpan().IndexOf(Encoding.ASCII.GetBytes(LossToken)) >= 0);
        var aside = Path.Combine(Path.GetDirectoryName(hsm.TokenDirectory)!, "aside");
        Directory.Move(directory, aside);
        try
        {
            var gone = await EnrollAsync(http);
            var problem = await gone.Content.ReadAsStringAsync();
            Assert.True(gone.StatusCode == HttpStatusCode.ServiceUnavailable, problem + server.Output);
            Assert.Contains("Unavailable", problem, StringComparison.Ordinal);
            Assert.DoesNotContain(SoftHsmToken.UserPin, problem, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Move(aside, directory);
        }

        // Back: a client retrying gets its certificate, without a restart.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        HttpResponseMessage again;
        while ((again = await EnrollAsync(http)).StatusCode == HttpStatusCode.ServiceUnavailable && DateTime.UtcNow < deadline)
        {
            await Task.Delay(500);
        }

        Assert.True(again.StatusCode == HttpStatusCode.OK, await again.Content.ReadAsStringAsync() + server.Output);
    }

    // A fresh request and its certificatedata with a new CSR: the response of the second call.
    private static async Task<HttpResponseMessage> EnrollAsync(HttpClient http)
    {
        var created = await http.PostAsync($"{Api}/requests", Json($$"""{"datacollection":"[]","type":"Enroll","profiletemplateuuid":"{{UserCertificate}}","comment":""}"""));
        var body = await created.Content.ReadAsStringAsync();
        Assert.True(created.StatusCode == HttpStatusCode.Created, body);
        var id = JsonSerializer.Deserialize<string>(body)!.Split('/')[^1];
        using var key = RSA.Create(2048);
        var csr = Convert.ToBase64String(new CertificateRequest("CN=x", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1).CreateSigningRequest());
        return await http.PostAsync($"{Api}/requests/{id}/certificatedata", Json($$"""{"certificaterequests":["{{csr}}"]}"""));
    }

    [SkippableFact]
    public async Task SubordinateCa_KeyMadeInSoftHsm_RootSignsItLeavesChainAndTheKeyStaysInTheToken()
    {
        // Issue #20 "Done means": with SoftHSM2 configured, the sub-CA flow holds and its key never leaves the token.
        var hsm = await HsmAsync();
        var data = _dir.File("data");
        var environment = new Dictionary<string, string>(hsm.Environment)
        {
            ["Ca__Pkcs11__Library"] = SoftHsmToken.Module,
            ["Ca__Pkcs11__TokenLabel"] = SubordinateToken,
            ["Ca__Pkcs11__KeyLabel"] = "first-root",
            ["Ca__Pkcs11__Pin"] = SoftHsmToken.UserPin,
        };
        Assert.Equal(0, (await ChildAsync(environment, "init", "--data", data)).Exit);
        var requested = await ChildAsync(environment, "ca", "request", "--data", data, "--subject", "CN=HSM Issuing CA,O=Contoso", "--out", _dir.File("sub.csr"));
        Assert.True(requested.Exit == 0, requested.Err);

        // The enterprise root (openssl) issues it; installed, it is the active CA.
        await OpenSsl.CheckAsync(_dir.Path, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384", "-nodes", "-keyout", "root.key", "-out", "root.pem",
            "-subj", "/CN=Contoso HSM Root", "-days", "3650", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
        await File.WriteAllTextAsync(_dir.File("ext.cnf"), "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n");
        await OpenSsl.CheckAsync(_dir.Path, "x509", "-req", "-in", "sub.csr", "-CA", "root.pem", "-CAkey", "root.key", "-set_serial", "0x5ab1", "-days", "1000", "-extfile", "ext.cnf", "-out", "sub.pem");
        var installed = await ChildAsync(environment, "ca", "install", "--data", data, "--cert", _dir.File("sub.pem"), "--chain", _dir.File("root.pem"));
        Assert.True(installed.Exit == 0, installed.Err);

        // The key is in the token under the CA's slug, sensitive, and it is the certificate's.
        var objects = await hsm.Pkcs11ToolAsync("--token-label", SubordinateToken, "--login", "--pin", SoftHsmToken.UserPin, "--list-objects", "--type", "privkey");
        Assert.Contains("label:      HSM-Issuing-CA", objects.All, StringComparison.Ordinal);
        Assert.Contains("never extractable", objects.All, StringComparison.Ordinal);
        var read = await hsm.Pkcs11ToolAsync("--token-label", SubordinateToken, "--read-object", "--type", "pubkey", "--label", "HSM-Issuing-CA", "--output-file", _dir.File("sub-pub.der"));
        Assert.True(read.ExitCode == 0, read.All);
        using (var sub = X509CertificateLoader.LoadCertificateFromFile(_dir.File("sub.pem")))
        {
            Assert.Equal(sub.PublicKey.ExportSubjectPublicKeyInfo(), await File.ReadAllBytesAsync(_dir.File("sub-pub.der")));
        }

        // A certificate issued by the server chains to the root through the sub-CA.
        await using var server = await ServerProcess.StartAsync(environment, false, ["--data", data]);
        var minted = await ChildAsync(environment, "token", "--data", data, "--user", "admin");
        Assert.True(minted.Exit == 0, minted.Err);
        using var http = new HttpClient { BaseAddress = new Uri(server.Address) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", minted.Out.Trim());
        var created = await http.PostAsync($"{Api}/requests", Json($$"""{"datacollection":"[]","type":"Enroll","profiletemplateuuid":"{{UserCertificate}}","comment":""}"""));
        var id = JsonSerializer.Deserialize<string>(await created.Content.ReadAsStringAsync())!.Split('/')[^1];
        using var key = RSA.Create(2048);
        var csr = Convert.ToBase64String(new CertificateRequest("CN=x", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1).CreateSigningRequest());
        var issued = await http.PostAsync($"{Api}/requests/{id}/certificatedata", Json($$"""{"certificaterequests":["{{csr}}"]}"""));
        var json = await issued.Content.ReadAsStringAsync();
        Assert.True(issued.StatusCode == HttpStatusCode.OK, json + server.Output);
        var pkcs7 = Convert.FromBase64String(Assert.Single(JsonDocument.Parse(json).RootElement.EnumerateArray()).GetProperty("Pkcs7").GetString()!);
        var certificates = new System.Security.Cryptography.Pkcs.SignedCms();
        certificates.Decode(pkcs7);
        Assert.Equal(3, certificates.Certificates.Count);
        await File.WriteAllTextAsync(_dir.File("leaf.pem"), PemEncoding.WriteString("CERTIFICATE", certificates.Certificates[0].RawData));
        var verified = await OpenSsl.CheckAsync(_dir.Path, ["verify", .. OpenSsl.At(DateTimeOffset.UtcNow), "-x509_strict", "-CAfile", "root.pem", "-untrusted", "sub.pem", "leaf.pem"]);
        Assert.Contains("leaf.pem: OK", verified, StringComparison.Ordinal);
    }

    // opencm as its own process (the built opencm.dll beside the tests); no timeout, as before ToolProcess.
    private static Task<(int Exit, string Out, string Err)> ChildAsync(IReadOnlyDictionary<string, string> environment, params string[] args) =>
        ToolProcess.RunAsync("dotnet", [Path.Combine(AppContext.BaseDirectory, "opencm.dll"), .. args], Timeout.InfiniteTimeSpan,
            environment: new Dictionary<string, string>(environment));

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");
}
