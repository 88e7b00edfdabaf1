using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using OpenCM.TestKit;

namespace OpenCM.Cli.Tests;

/// <summary>
/// The certificate commands of issue #23.3 against a real server: <c>ca root|chain</c>,
/// <c>certificates list|show</c>, <c>revoke</c>, <c>renew</c> and <c>sign</c>, checked with openssl.
/// The server runs on the wall clock (KestrelServer); nothing here asks openssl to judge a time.
/// </summary>
public sealed class CertificateCommandTests : IDisposable
{
    private const string UserCertificate = "User Certificate";

    // A copy of the User Certificate sample whose Revoke needs one approver's vote and collects no revocation reason.
    private const string ApprovedRevokeTemplate = """
        uuid: 6a1c2e3f-4b5d-4e6f-8a7b-9c0d1e2f3a4b
        name: Revoke With Approval
        description: A software certificate whose revocation one approver must approve.
        isSmartcardProfileTemplate: false
        isVirtualSmartcardProfileTemplate: false
        policies:
          Enroll:
            enabled: true
            selfServiceEnabled: true
            approvalsNeeded: 0
            authorizedInitiator: "O:SYD:(A;;CR;;;{CM Managers})"
            authorizedApprover: "O:SYD:(A;;CR;;;{CM Managers})"
          Revoke:
            enabled: true
            selfServiceEnabled: false
            approvalsNeeded: 1
            authorizedInitiator: "O:SYD:(A;;CR;;;{CM Managers})"
            authorizedApprover: "O:SYD:(A;;CR;;;{CM Approvers})"
        certificates:
          - commonName: OpenCMRevokeApproved
            friendlyName: Revoke With Approval
            subject: "CN={name},OU=Users,O=OpenCM"
            keyAlgorithm: RSA
            keySize: 2048
            hashAlgorithm: SHA256
            keyUsages: [DigitalSignature, KeyEncipherment]
            extendedKeyUsages: ["1.3.6.1.5.5.7.3.2"]
            validityDays: 365
        """;

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Data => _dir.File("data");

    [Fact]
    public async Task CaRootAndChain_NoToken_PemOnStdoutFingerprintAsOpensslPrintsIt()
    {
        await using var server = await KestrelServer.StartAsync(Data);

        var root = await Cli.RunAsync("ca", "root", "--server", server.Address);
        Assert.True(root.Exit == 0, root.Err);
        Assert.StartsWith("-----BEGIN CERTIFICATE-----", root.Out, StringComparison.Ordinal);
        await File.WriteAllTextAsync(_dir.File("root.pem"), root.Out);
        var openssl = (await OpenSsl.CheckAsync(_dir.Path, "x509", "-in", _dir.File("root.pem"), "-noout", "-fingerprint", "-sha256")).Trim();
        Assert.Contains(openssl, root.Err, StringComparison.OrdinalIgnoreCase);
        var plain = openssl[(openssl.IndexOf('=', StringComparison.Ordinal) + 1)..].Replace(":", "", StringComparison.Ordinal).ToLowerInvariant();
        Assert.Contains("--ca-fingerprint " + plain, root.Err, StringComparison.Ordinal);

        // The same certificate as its slug-named publication, and the embedded CA is its own root: the chain is that one certificate.
        using (var http = new HttpClient { BaseAddress = new Uri(server.Address) })
        {
            var published = await http.GetByteArrayAsync("/CertificateManagement/ca/OpenCM-Root-CA.crt");
            Assert.Equal(plain, Convert.ToHexStringLower(SHA256.HashData(published)));
        }

        var chain = await Cli.RunAsync("ca", "chain", "--server", server.Address, "--format", "json");
        Assert.True(chain.Exit == 0, chain.Err);
        var only = Assert.Single(JsonDocument.Parse(chain.Out).RootElement.EnumerateArray());
        Assert.Equal(plain, only.GetProperty("sha256").GetString());
        Assert.Equal(root.Out, only.GetProperty("pem").GetString());
        Assert.Equal("CN=OpenCM Root CA", only.GetProperty("subject").GetString());
        Assert.True(only.GetProperty("notAfter").GetDateTimeOffset() > DateTimeOffset.UtcNow);
        var rootJson = JsonDocument.Parse((await Cli.RunAsync("ca", "root", "--server", server.Address, "--format", "json")).Out).RootElement;
        Assert.Equal(plain, rootJson.GetProperty("sha256").GetString());

        // --out: the PEM in the file, stdout empty; an existing file stays unless --force.
        var written = await Cli.RunAsync("ca", "root", "--server", server.Address, "--out", _dir.File("ca.pem"));
        Assert.True(written.Exit == 0, written.Err);
        Assert.Equal("", written.Out);
        Assert.Equal(root.Out, await File.ReadAllTextAsync(_dir.File("ca.pem")));
        var again = await Cli.RunAsync("ca", "root", "--server", server.Address, "--out", _dir.File("ca.pem"));
        Assert.Equal((2, "error: " + _dir.File("ca.pem") + " exists: pass --force to replace it\n"), (again.Exit, again.Err));
        Assert.Equal(0, (await Cli.RunAsync("ca", "root", "--server", server.Address, "--out", _dir.File("ca.pem"), "--force")).Exit);
    }

    [Theory]
    [InlineData(2, "--server", "localhost:1")]
    [InlineData(2, "--format", "yaml")]
    [InlineData(3, "--server", "http://127.0.0.1:1")]
    public async Task CaRoot_BadServerOrFormat_OneErrorLineAndItsExitCode(int exit, string option, string value)
    {
        var result = await Cli.RunAsync("ca", "root", option, value);
        Assert.Equal(exit, result.Exit);
        Assert.StartsWith("error: ", result.Err, StringComparison.Ordinal);
        Assert.Single(result.Err.TrimEnd('\n').Split('\n'));
        Assert.Equal("", result.Out);
    }

    [Fact]
    public async Task CaRoot_ServerThatIsNotOpenCm_SaysSo()
    {
        // Any other web server: a page that is no PEM chain. One line that says what the address may be, exit 1.
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        var answer = Task.Run(async () =>
        {
            using var client = await listener.AcceptTcpClientAsync();
            using var stream = client.GetStream();
            var buffer = new byte[4096];
            _ = await stream.ReadAsync(buffer);
            var body = "<html><body>It works!</body></html>"u8.ToArray();
            await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n"));
            await stream.WriteAsync(body);
        });

        var result = await Cli.RunAsync("ca", "root", "--server", $"http://127.0.0.1:{port}");
        await answer;
        Assert.Equal(1, result.Exit);
        Assert.Contains("is it an OpenCM server", Assert.Single(result.Err.TrimEnd('\n').Split('\n')), StringComparison.Ordinal);
        Assert.Equal("", result.Out);
    }

    [Fact]
    public async Task ListShowRevoke_FromTheCli_SerialOnTheCrlWithItsReason()
    {
        await using var server = await KestrelServer.StartAsync(Data);
        var admin = await TokenAsync("admin");
        var serial = await EnrollAsync(server, admin, UserCertificate, "me.pfx");

        var list = await Cli.RunAsync("certificates", "list", "--server", server.Address, "--token", admin);
        Assert.True(list.Exit == 0, list.Err);
        var lines = list.Out.TrimEnd('\n').Split('\n');
        Assert.StartsWith("Template", lines[0], StringComparison.Ordinal);
        Assert.Contains(serial, Assert.Single(lines[1..]), StringComparison.Ordinal);
        Assert.Contains("valid", lines[1], StringComparison.Ordinal);

        var show = await Cli.RunAsync("certificates", "show", "--server", server.Address, "--token", admin, serial.ToLowerInvariant());
        Assert.True(show.Exit == 0, show.Err);
        Assert.Contains("OpenCMUser", show.Out, StringComparison.Ordinal);
        var profile = ValueOf(show.Out, "Profile");
        Assert.True(Guid.TryParse(profile, out _), show.Out);

        // A reason in any case; the request id alone on stdout; the notice on stderr.
        var revoke = await Cli.RunAsync("revoke", "--server", server.Address, "--token", admin, "--serial", serial, "--reason", "KEYCOMPROMISE");
        Assert.True(revoke.Exit == 0, revoke.Err);
        Assert.True(Guid.TryParse(revoke.Out.Trim(), out _), revoke.Out);
        Assert.Contains("revoked: request", revoke.Err, StringComparison.Ordinal);

        var crl = await CrlTextAsync(server);
        Assert.Contains($"Serial Number: {serial}", crl, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("Key Compromise", crl[crl.IndexOf(serial, StringComparison.OrdinalIgnoreCase)..], StringComparison.Ordinal);

        // Gone from the current list; show still finds it through its profile, revoked.
        Assert.DoesNotContain(serial, (await Cli.RunAsync("certificates", "list", "--server", server.Address, "--token", admin)).Out, StringComparison.Ordinal);
        var after = await Cli.RunAsync("certificates", "show", "--server", server.Address, "--token", admin, serial, "--format", "json");
        Assert.True(after.Exit == 0, after.Err);
        Assert.Equal(serial, JsonDocument.Parse(after.Out).RootElement.GetProperty("SerialNumber").GetString());
        Assert.Equal("revoked", ValueOf((await Cli.RunAsync("certificates", "show", "--server", server.Address, "--token", admin, serial)).Out, "Status"));

        // The profile has moved on: revoking it again is the server's 409, exit 1.
        var twice = await Cli.RunAsync("revoke", "--server", server.Address, "--token", admin, "--profile", profile, "--reason", "superseded");
        Assert.Equal(1, twice.Exit);
        Assert.Contains("409", twice.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CertificatesList_Json_TheWireShape()
    {
        await using var server = await KestrelServer.StartAsync(Data);
        var admin = await TokenAsync("admin");
        var serial = await EnrollAsync(server, admin, UserCertificate, "me.pfx");
        var json = await Cli.RunAsync("certificates", "list", "--server", server.Address, "--token", admin, "--format", "json");
        Assert.True(json.Exit == 0, json.Err);
        var entry = Assert.Single(JsonDocument.Parse(json.Out).RootElement.EnumerateArray());
        Assert.Equal(
            ["IsKeyHistory", "ArchivedOnCa", "CertificateType", "TemplateCommonName", "SerialNumber", "Thumbprint", "NotAfter", "NotBefore", "Issuer", "RequesterName", "Status"],
            entry.EnumerateObject().Select(p => p.Name));
        Assert.Equal(serial, entry.GetProperty("SerialNumber").GetString());

        // By thumbprint, with colons, as people paste it.
        var thumbprint = entry.GetProperty("Thumbprint").GetString()!;
        var colons = string.Join(':', thumbprint.Chunk(2).Select(c => new string(c)));
        var show = await Cli.RunAsync("certificates", "show", "--server", server.Address, "--token", admin, colons, "--format", "json");
        Assert.True(show.Exit == 0, show.Err);
        Assert.Equal(thumbprint, JsonDocument.Parse(show.Out).RootElement.GetProperty("Thumbprint").GetString());
    }

    [Fact]
    public async Task Revoke_TemplateNeedsApproval_FiledExitZeroThenOnTheCrlOnceApproved()
    {
        await using var server = await KestrelServer.StartAsync(Data);
        await File.WriteAllTextAsync(_dir.File("revoke-approval.yaml"), ApprovedRevokeTemplate);
        var imported = await Cli.RunAsync("templates", "import", "--data", Data, _dir.File("revoke-approval.yaml"));
        Assert.True(imported.Exit == 0, imported.Err);
        await Cli.RunAsync("users", "add", "--data", Data, "--name", "appr1", "--group", "CM Approvers");
        var (admin, approver) = (await TokenAsync("admin"), await TokenAsync("appr1"));
        var serial = await EnrollAsync(server, admin, "Revoke With Approval", "approved.pfx");

        // Its Revoke collects no reason: one it would drop is refused, unspecified is what it records.
        var dropped = await Cli.RunAsync("revoke", "--server", server.Address, "--token", admin, "--serial", serial, "--reason", "superseded");
        Assert.Equal(1, dropped.Exit);
        Assert.Contains("collects no 'Revocation Reason'", dropped.Err, StringComparison.Ordinal);

        var filed = await Cli.RunAsync("revoke", "--server", server.Address, "--token", admin, "--serial", serial, "--reason", "Unspecified");
        Assert.True(filed.Exit == 0, filed.Err);
        var id = filed.Out.Trim();
        Assert.True(Guid.TryParse(id, out _), filed.Out);
        Assert.Contains($"request {id} is waiting for approval", filed.Err, StringComparison.Ordinal);
        Assert.DoesNotContain(serial, await CrlTextAsync(server), StringComparison.OrdinalIgnoreCase);

        // The approver's vote is the last one needed: the server carries the Revoke out.
        var approve = await Cli.RunAsync("requests", "approve", "--server", server.Address, "--token", approver, id);
        Assert.True(approve.Exit == 0, approve.Err);
        var crl = await CrlTextAsync(server);
        Assert.Contains($"Serial Number: {serial}", crl, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("Unspecified", crl[crl.IndexOf(serial, StringComparison.OrdinalIgnoreCase)..], StringComparison.Ordinal);
    }

    public static TheoryData<int, string, string[]> RevokeRefusals => new()
    {
        // Usage: exit 2, nothing asked of the server.
        { 2, "is not one of unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation, certificateHold, privilegeWithdrawn", ["--serial", "01", "--reason", "because"] },
        { 2, "give either --serial or --profile", ["--reason", "keyCompromise"] },
        { 2, "give either --serial or --profile", ["--serial", "01", "--profile", "9c1d0f5e-0000-4000-8000-000000000000", "--reason", "keyCompromise"] },
        { 2, "--profile 'nope' is not a profile's GUID", ["--profile", "nope", "--reason", "keyCompromise"] },
        { 2, "--serial 'xyz' is not a hexadecimal serial number", ["--serial", "xyz", "--reason", "keyCompromise"] },
        { 2, "--format is table or json", ["--serial", "01", "--reason", "keyCompromise", "--format", "xml"] },

        // Refused: exit 1.
        { 1, "none of your profiles holds a certificate with serial number 0123", ["--serial", "0123", "--reason", "keyCompromise"] },
        { 1, "404 NotFound: No profile with id 9c1d0f5e", ["--profile", "9c1d0f5e-0000-4000-8000-000000000000", "--reason", "keyCompromise"] },
    };

    [Theory]
    [MemberData(nameof(RevokeRefusals))]
    public async Task Revoke_BadArguments_OneErrorLineAndItsExitCode(int exit, string message, string[] args)
    {
        await using var server = await KestrelServer.StartAsync(Data);
        var admin = await TokenAsync("admin");
        var result = await Cli.RunAsync(["revoke", "--server", server.Address, "--token", admin, .. args]);
        Assert.Equal(exit, result.Exit);
        Assert.Contains(message, result.Err, StringComparison.Ordinal);
        Assert.StartsWith("error: ", result.Err, StringComparison.Ordinal);
        Assert.Single(result.Err.TrimEnd('\n').Split('\n'));
        Assert.Equal("", result.Out);
    }

    [Fact]
    public async Task Revoke_UserWithoutTheRight_RefusedExitOne()
    {
        // The sample's Revoke is for managers: a user revoking their own certificate gets the server's 403.
        await using var server = await KestrelServer.StartAsync(Data);
        await Cli.RunAsync("users", "add", "--data", Data, "--name", "carol");
        var carol = await TokenAsync("carol");
        var serial = await EnrollAsync(server, carol, UserCertificate, "carol.pfx");
        var result = await Cli.RunAsync("revoke", "--server", server.Address, "--token", carol, "--serial", serial, "--reason", "keyCompromise");
        Assert.Equal(1, result.Exit);
        Assert.Contains("403", result.Err, StringComparison.Ordinal);
        Assert.DoesNotContain(serial, await CrlTextAsync(server), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Renew_SoftwareProfile_NewKeyInANewPfxOldOneSuperseded()
    {
        await using var server = await KestrelServer.StartAsync(Data);
        var admin = await TokenAsync("admin");
        var serial = await EnrollAsync(server, admin, UserCertificate, "old.pfx");
        var profile = ValueOf((await Cli.RunAsync("certificates", "show", "--server", server.Address, "--token", admin, serial)).Out, "Profile");

        // The file is checked before anything is asked of the server.
        var exists = await Cli.RunAsync("renew", "--server", server.Address, "--token", admin, "--profile", profile, "--out", _dir.File("old.pfx"), "--password", "pw");
        Assert.Equal(2, exists.Exit);
        Assert.Contains("exists: pass --force to replace it", exists.Err, StringComparison.Ordinal);

        var renewed = await Cli.RunAsync("renew", "--server", server.Address, "--token", admin, "--profile", profile, "--out", _dir.File("new.pfx"), "--password", "pw", "--format", "json");
        Assert.True(renewed.Exit == 0, renewed.Err);
        var request = JsonDocument.Parse(renewed.Out).RootElement;
        Assert.Equal(8, request.GetProperty("Status").GetInt32());
        Assert.Equal(profile, request.GetProperty("OldProfileUuid").GetString());

        var leaf = await OpenSsl.CheckAsync(_dir.Path, "pkcs12", "-in", _dir.File("new.pfx"), "-passin", "pass:pw", "-nokeys", "-clcerts");
        var newSerial = (await Cli.RunAsync("certificates", "list", "--server", server.Address, "--token", admin, "--format", "json")).Out;
        var current = Assert.Single(JsonDocument.Parse(newSerial).RootElement.EnumerateArray()).GetProperty("SerialNumber").GetString()!;
        Assert.NotEqual(serial, current);
        await File.WriteAllTextAsync(_dir.File("new.pem"), leaf);
        Assert.Contains(current, await OpenSsl.CheckAsync(_dir.Path, "x509", "-in", _dir.File("new.pem"), "-noout", "-serial"), StringComparison.OrdinalIgnoreCase);
        var crl = await CrlTextAsync(server);
        Assert.Contains("Superseded", crl[crl.IndexOf(serial, StringComparison.OrdinalIgnoreCase)..], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sign_OpensslCsr_CertificateCarriesTheCsrsKey()
    {
        await using var server = await KestrelServer.StartAsync(Data);
        var admin = await TokenAsync("admin");
        await OpenSsl.CheckAsync(_dir.Path, "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", _dir.File("k.pem"), "-subj", "/CN=ignored", "-out", _dir.File("r.csr"));

        var signed = await Cli.RunAsync("sign", "--server", server.Address, "--token", admin, "--csr", _dir.File("r.csr"), "--template", "user certificate", "--out", _dir.File("cert.pem"));
        Assert.True(signed.Exit == 0, signed.Err);
        Assert.Contains("signed: request", signed.Err, StringComparison.Ordinal);
        var certificateKey = await OpenSsl.CheckAsync(_dir.Path, "x509", "-in", _dir.File("cert.pem"), "-noout", "-pubkey");
        var requestKey = await OpenSsl.CheckAsync(_dir.Path, "req", "-in", _dir.File("r.csr"), "-noout", "-pubkey");
        Assert.Equal(requestKey, certificateKey);
        Assert.Contains("CN = admin", await OpenSsl.CheckAsync(_dir.Path, "x509", "-in", _dir.File("cert.pem"), "-noout", "-subject"), StringComparison.Ordinal);

        // DER in, PEM on stdout; the request completed.
        await OpenSsl.CheckAsync(_dir.Path, "req", "-in", _dir.File("r.csr"), "-outform", "DER", "-out", _dir.File("r.der"));
        var der = await Cli.RunAsync("sign", "--server", server.Address, "--token", admin, "--csr", _dir.File("r.der"), "--template", UserCertificate);
        Assert.True(der.Exit == 0, der.Err);
        using var issued = X509Certificate2.CreateFromPem(der.Out);
        Assert.Contains("CN=admin", issued.Subject, StringComparison.Ordinal);
        var completed = await Cli.RunAsync("requests", "list", "--server", server.Address, "--token", admin, "--status", "Completed");
        Assert.Equal(2, completed.Out.Split("Enroll").Length - 1);
    }

    [Fact]
    public async Task Sign_TemplateNeedsApproval_FiledExitZeroWithTheRequestId()
    {
        await using var server = await KestrelServer.StartAsync(Data);
        var admin = await TokenAsync("admin");
        await OpenSsl.CheckAsync(_dir.Path, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", _dir.File("k.pem"), "-subj", "/CN=x", "-out", _dir.File("r.csr"));
        var filed = await Cli.RunAsync("sign", "--server", server.Address, "--token", admin, "--csr", _dir.File("r.csr"), "--template", "Approved User Certificate",
            "--data-item", "Request Reason=lab", "--out", _dir.File("cert.pem"));
        Assert.True(filed.Exit == 0, filed.Err);
        var id = filed.Out.Trim();
        Assert.True(Guid.TryParse(id, out _), filed.Out);
        Assert.Contains($"request {id} is waiting for approval; once it is approved: opencm sign --request {id}", filed.Err, StringComparison.Ordinal);
        Assert.False(File.Exists(_dir.File("cert.pem")));
    }

    public static TheoryData<string, int, string> HostileCsrs => new()
    {
        { "empty", 2, "is empty" },
        { "text", 2, "is not a PKCS#10 certificate request" },
        { "certificate", 2, "its PEM block is a CERTIFICATE" },
        { "bad signature", 2, "is not a PKCS#10 certificate request with a valid signature" },
        { "wrong key for the template", 1, "error: 4" },
        { "unknown template", 1, "no profile template named 'Nope'" },
    };

    [Theory]
    [MemberData(nameof(HostileCsrs))]
    public async Task Sign_HostileCsr_OneErrorLineExitTwoLocallyOrOneFromTheServer(string kind, int exit, string message)
    {
        await using var server = await KestrelServer.StartAsync(Data);
        var admin = await TokenAsync("admin");
        var file = _dir.File("in.csr");
        await OpenSsl.CheckAsync(_dir.Path, "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", _dir.File("k.pem"), "-subj", "/CN=x", "-outform", "DER", "-out", _dir.File("good.der"));
        var template = UserCertificate;
        switch (kind)
        {
            case "empty":
                await File.WriteAllBytesAsync(file, []);
                break;
            case "text":
                await File.WriteAllTextAsync(file, "hello, this is no request\n");
                break;
            case "certificate":
                await File.WriteAllTextAsync(file, (await Cli.RunAsync("ca", "root", "--server", server.Address)).Out);
                break;
            case "bad signature":
                var der = await File.ReadAllBytesAsync(_dir.File("good.der"));
                der[^5] ^= 0x55;
                await File.WriteAllBytesAsync(file, der);
                break;
            case "wrong key for the template":
                // The User Certificate sample wants an RSA key: the server refuses an EC one (a 4xx), and the request is abandoned.
                await OpenSsl.CheckAsync(_dir.Path, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", _dir.File("k2.pem"), "-subj", "/CN=x", "-out", file);
                break;
            case "unknown template":
                File.Copy(_dir.File("good.der"), file);
                template = "Nope";
                break;
        }

        var result = await Cli.RunAsync("sign", "--server", server.Address, "--token", admin, "--csr", file, "--template", template, "--out", _dir.File("out.pem"));
        Assert.Equal(exit, result.Exit);
        Assert.Contains(message, result.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Err, StringComparison.Ordinal);
        Assert.Single(result.Err.TrimEnd('\n').Split('\n'), l => l.StartsWith("error: ", StringComparison.Ordinal));
        Assert.False(File.Exists(_dir.File("out.pem")));
    }

    private async Task<string> TokenAsync(string user) => (await Cli.RunAsync("token", "--data", Data, "--user", user)).Out.Trim();

    // Enrolls from the CLI and returns the new certificate's serial number as the server lists it.
    private async Task<string> EnrollAsync(KestrelServer server, string token, string template, string file)
    {
        var before = Serials(await Cli.RunAsync("certificates", "list", "--server", server.Address, "--token", token, "--format", "json"));
        var enrolled = await Cli.RunAsync("enroll", "--server", server.Address, "--token", token, "--template", template, "--out", _dir.File(file), "--password", "pw");
        Assert.True(enrolled.Exit == 0, enrolled.Err);
        return Assert.Single(Serials(await Cli.RunAsync("certificates", "list", "--server", server.Address, "--token", token, "--format", "json")).Except(before));

        static List<string> Serials((int Exit, string Out, string Err) list)
        {
            Assert.True(list.Exit == 0, list.Err);
            return [.. JsonDocument.Parse(list.Out).RootElement.EnumerateArray().Select(c => c.GetProperty("SerialNumber").GetString()!)];
        }
    }

    // The CRL as openssl reads it (no time check: `crl -text` only decodes).
    private async Task<string> CrlTextAsync(KestrelServer server)
    {
        using var http = new HttpClient { BaseAddress = new Uri(server.Address) };
        var file = _dir.File($"crl-{Guid.NewGuid():N}.crl");
        await File.WriteAllBytesAsync(file, await http.GetByteArrayAsync("/CertificateManagement/crl/OpenCM-Root-CA.crl"));
        return await OpenSsl.CheckAsync(_dir.Path, "crl", "-inform", "DER", "-in", file, "-noout", "-text");
    }

    // A name/value line of a plain (not a terminal) show: "Name  value".
    private static string ValueOf(string output, string name) =>
        output.Split('\n').Select(l => l.Split("  ", 2, StringSplitOptions.None)).Where(p => p.Length == 2 && p[0].Trim() == name).Select(p => p[1].Trim()).SingleOrDefault()
        ?? throw new Xunit.Sdk.XunitException($"no '{name}' line in:\n{output}");
}
