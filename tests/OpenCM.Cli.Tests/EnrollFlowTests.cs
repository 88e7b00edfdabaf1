using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.RegularExpressions;
using OpenCM.TestKit;

namespace OpenCM.Cli.Tests;

/// <summary>
/// Issue #23 items 4, 5, 6 and 8: <c>enroll</c> finishes what it started on an approval
/// template, an https server's CA trusted by file or fingerprint (and a server that is not
/// OpenCM's named), output files never replaced without --force, and every option backed by an
/// environment variable saying so.
/// </summary>
public sealed partial class EnrollFlowTests : IDisposable
{
    private const string ApprovalTemplate = "Approved User Certificate";

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Data => _dir.File("data");

    private async Task<string> UserAsync(string name, params string[] groups)
    {
        if (name != "admin")
        {
            var added = await Cli.RunAsync(["users", "add", "--data", Data, "--name", name, .. groups.SelectMany(g => new[] { "--group", g })]);
            Assert.True(added.Exit == 0, added.Err);
        }

        return (await Cli.RunAsync("token", "--data", Data, "--user", name)).Out.Trim();
    }

    private static string OneErrorLine(string err)
    {
        var lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines, l => l.StartsWith("error: ", StringComparison.Ordinal));
        Assert.DoesNotContain("   at ", err, StringComparison.Ordinal);
        return lines.Single(l => l.StartsWith("error: ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Enroll_ApprovalTemplateTwoApprovers_FilesOnceWaitsThenFinishesTheSameRequest()
    {
        await using var server = await KestrelServer.StartAsync(Data);
        var manager = await UserAsync("mona", "CM Managers");
        var first = await UserAsync("appr1", "CM Approvers");
        var second = await UserAsync("appr2", "CM Approvers");
        var pfx = _dir.File("mona.pfx");
        string[] enroll = ["enroll", "--server", server.Address, "--token", manager, "--out", pfx, "--password", "pfx pass 1"];

        // 1. Filed: exit 0, the id alone on stdout, what happens next on stderr.
        var filed = await Cli.RunAsync([.. enroll, "--template", ApprovalTemplate, "--data-item", "Request Reason=lab"]);
        Assert.True(filed.Exit == 0, filed.Err);
        var id = Guid.Parse(filed.Out.Trim()).ToString("D");
        Assert.Contains($"request {id} is waiting for approval: its template needs 2 approvals", filed.Err, StringComparison.Ordinal);
        Assert.Contains($"opencm enroll --request {id}", filed.Err, StringComparison.Ordinal);
        Assert.False(File.Exists(pfx));

        // 2. Run again for the template: the same request continues (nothing new is filed), still waiting: 1.
        var again = await Cli.RunAsync([.. enroll, "--template", ApprovalTemplate]);
        Assert.Equal(OpenCmCli.Refused, again.Exit);
        Assert.Contains($"continuing your open request {id}", again.Err, StringComparison.Ordinal);
        Assert.Equal($"error: request {id} is waiting for approval: its template needs 2 approvals; run 'opencm enroll --request {id} --out {pfx}' once approved", OneErrorLine(again.Err));
        Assert.Equal("", again.Out);

        // 3. One approval of two: still waiting.
        Assert.Equal(0, (await Cli.RunAsync("requests", "approve", id, "--server", server.Address, "--token", first)).Exit);
        var half = await Cli.RunAsync([.. enroll, "--request", id]);
        Assert.Equal(OpenCmCli.Refused, half.Exit);
        Assert.Contains("waiting for approval", OneErrorLine(half.Err), StringComparison.Ordinal);

        // 4. Both approvals: --request finishes it, the PFX holds the key and the certificate.
        Assert.Equal(0, (await Cli.RunAsync("requests", "approve", id, "--server", server.Address, "--token", second)).Exit);
        var done = await Cli.RunAsync([.. enroll, "--request", id]);
        Assert.True(done.Exit == 0, done.Err);
        Assert.Equal($"enrolled: request {id} completed; certificates and keys written to {pfx}", done.Out.Trim());
        using (var certificate = X509CertificateLoader.LoadPkcs12FromFile(pfx, "pfx pass 1"))
        {
            Assert.True(certificate.HasPrivateKey);
            Assert.Contains("CN=mona", certificate.Subject, StringComparison.Ordinal);
        }

        // 5. One request all along; a finished one is not enrolled again.
        var list = await Cli.RunAsync("requests", "list", "--server", server.Address, "--token", manager, "--format", "json");
        Assert.Single(JsonIds().Matches(list.Out));
        var twice = await Cli.RunAsync([.. enroll, "--request", id, "--force"]);
        Assert.Equal(OpenCmCli.Refused, twice.Exit);
        Assert.Contains($"request {id} is Completed", OneErrorLine(twice.Err), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Enroll_SecondRunAfterApproval_ContinuesTheApprovedRequestWithoutRequestOption()
    {
        await using var server = await KestrelServer.StartAsync(Data);
        var manager = await UserAsync("mona", "CM Managers");
        var first = await UserAsync("appr1", "CM Approvers");
        var second = await UserAsync("appr2", "CM Approvers");
        string[] enroll = ["enroll", "--server", server.Address, "--token", manager, "--template", ApprovalTemplate, "--password", "pfx pass 1"];
        var id = (await Cli.RunAsync([.. enroll, "--out", _dir.File("a.pfx"), "--data-item", "Request Reason=lab"])).Out.Trim();
        foreach (var approver in new[] { first, second })
        {
            Assert.Equal(0, (await Cli.RunAsync("requests", "approve", id, "--server", server.Address, "--token", approver)).Exit);
        }

        var done = await Cli.RunAsync([.. enroll, "--out", _dir.File("a.pfx")]);
        Assert.True(done.Exit == 0, done.Err);
        Assert.Contains($"continuing your open request {id}", done.Err, StringComparison.Ordinal);
        Assert.Contains($"request {id} completed", done.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Enroll_OutExists_RefusedWithoutForceBeforeAnythingIsFiledReplacedWithIt()
    {
        await using var server = await KestrelServer.StartAsync(Data);
        var token = await UserAsync("carol");
        var pfx = _dir.File("carol.pfx");
        await File.WriteAllTextAsync(pfx, "keep me");
        string[] enroll = ["enroll", "--server", server.Address, "--token", token, "--template", "User Certificate", "--out", pfx, "--password", "pw pw pw"];

        var refused = await Cli.RunAsync(enroll);
        Assert.Equal(OpenCmCli.Usage, refused.Exit);
        Assert.Equal($"error: {pfx} exists: pass --force to replace it", OneErrorLine(refused.Err));
        Assert.Equal("keep me", await File.ReadAllTextAsync(pfx));
        Assert.Equal("[]", (await Cli.RunAsync("requests", "list", "--server", server.Address, "--token", token, "--format", "json")).Out.Trim());

        var forced = await Cli.RunAsync([.. enroll, "--force"]);
        Assert.True(forced.Exit == 0, forced.Err);
        using (var certificate = X509CertificateLoader.LoadPkcs12FromFile(pfx, "pw pw pw"))
        {
            Assert.True(certificate.HasPrivateKey);
        }

        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(pfx));
        }

        // Written whole through a file beside it, which is gone.
        Assert.Equal(new[] { pfx }, Directory.GetFiles(_dir.Path, "*.pfx*").Concat(Directory.GetFiles(_dir.Path, ".carol*")));
    }

    [Fact]
    public async Task CaRequest_OutExists_RefusedWithoutForce()
    {
        Assert.Equal(0, (await Cli.RunAsync("init", "--data", Data)).Exit);
        var csr = _dir.File("ca.csr");
        await File.WriteAllTextAsync(csr, "keep me");
        var refused = await Cli.RunAsync("ca", "request", "--data", Data, "--subject", "CN=Issuing CA 2", "--out", csr);
        Assert.Equal(OpenCmCli.Usage, refused.Exit);
        Assert.Equal($"error: {csr} exists: pass --force to replace it", OneErrorLine(refused.Err));
        Assert.Equal("keep me", await File.ReadAllTextAsync(csr));

        var forced = await Cli.RunAsync("ca", "request", "--data", Data, "--subject", "CN=Issuing CA 2", "--out", csr, "--force");
        Assert.True(forced.Exit == 0, forced.Err);
        Assert.StartsWith("-----BEGIN CERTIFICATE REQUEST-----", await File.ReadAllTextAsync(csr), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("usage", "--template", ApprovalTemplate, "--request", "7d3f0a52-5b1e-4c7e-9f55-0a1b2c3d4e5f")]
    [InlineData("usage", "--request", "not-a-guid")]
    [InlineData("usage")]
    [InlineData("refused", "--template", "No Such Template")]
    [InlineData("refused", "--request", "7d3f0a52-5b1e-4c7e-9f55-0a1b2c3d4e5f")]
    public async Task Enroll_BadRequestOrTemplate_OneErrorLineAndItsExitCode(string kind, params string[] args)
    {
        await using var server = await KestrelServer.StartAsync(Data);
        var token = await UserAsync("carol");
        var (exit, output, err) = await Cli.RunAsync(["enroll", "--server", server.Address, "--token", token, "--out", _dir.File("x.pfx"), "--password", "p", .. args]);
        Assert.Equal(kind == "usage" ? OpenCmCli.Usage : OpenCmCli.Refused, exit);
        OneErrorLine(err);
        Assert.Equal("", output);
        Assert.False(File.Exists(_dir.File("x.pfx")));
    }

    // Item 5: an https server whose CA is not in the system store (Tls:FromOwnCa: its own CA's certificate).
    [Fact]
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA5359", Justification = "The test fetches the CA's root once untrusted to hand it to the CLI.")]
    public async Task Https_CaFileOrFingerprint_TrustedElseOneLineNamingTheTlsErrorAndTheOptions()
    {
        await using var server = await KestrelServer.StartAsync(Data, "--urls", "https://127.0.0.1:0", "--Tls:FromOwnCa=localhost,127.0.0.1");
        Assert.StartsWith("https://", server.Address, StringComparison.Ordinal);
        var token = await UserAsync("admin");
        byte[] der;
        using (var fetch = new HttpClient(new SocketsHttpHandler { SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true } }))
        {
            der = await fetch.GetByteArrayAsync($"{server.Address}/CertificateManagement/ca/OpenCM-Root-CA.crt");
        }

        var root = _dir.File("root.pem");
        await File.WriteAllTextAsync(root, PemEncoding.WriteString("CERTIFICATE", der));
        var fingerprint = string.Join(':', Convert.ToHexString(SHA256.HashData(der)).Chunk(2).Select(c => new string(c))).ToLowerInvariant();
        string[] list = ["requests", "list", "--server", server.Address, "--token", token];

        var untrusted = await Cli.RunAsync(list);
        Assert.Equal(OpenCmCli.Unavailable, untrusted.Exit);
        var line = OneErrorLine(untrusted.Err);
        Assert.StartsWith("error: the server's certificate is not trusted: ", line, StringComparison.Ordinal);
        Assert.Contains("pass --ca-file PATH or --ca-fingerprint SHA256", line, StringComparison.Ordinal);

        var byFile = await Cli.RunAsync([.. list, "--ca-file", root]);
        Assert.True(byFile.Exit == 0, byFile.Err);
        var byFingerprint = await Cli.RunAsync([.. list, "--ca-fingerprint", fingerprint]);
        Assert.True(byFingerprint.Exit == 0, byFingerprint.Err);
        var upper = await Cli.RunAsync([.. list, "--ca-fingerprint", Convert.ToHexString(SHA256.HashData(der))]);
        Assert.True(upper.Exit == 0, upper.Err);

        // Another CA's fingerprint, another CA's file: refused, exit 3.
        var wrong = await Cli.RunAsync([.. list, "--ca-fingerprint", Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes("another CA")))]);
        Assert.Equal(OpenCmCli.Unavailable, wrong.Exit);
        Assert.Contains("no CA with the fingerprint given in --ca-fingerprint", OneErrorLine(wrong.Err), StringComparison.Ordinal);
        using (var other = OtherCa())
        {
            await File.WriteAllTextAsync(_dir.File("other.pem"), other.ExportCertificatePem());
        }

        var otherFile = await Cli.RunAsync([.. list, "--ca-file", _dir.File("other.pem")]);
        Assert.Equal(OpenCmCli.Unavailable, otherFile.Exit);
        Assert.Contains("does not chain to the CA in --ca-file", OneErrorLine(otherFile.Err), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--ca-fingerprint", "zz:11")]
    [InlineData("--ca-fingerprint", "0123456789abcdef")]
    [InlineData("--ca-file", "/nonexistent/root.pem")]
    public async Task Https_MalformedTrustOption_UsageErrorNamingIt(string option, string value)
    {
        var (exit, _, err) = await Cli.RunAsync("requests", "list", "--server", "https://127.0.0.1:9", "--token", "t", option, value);
        Assert.Equal(OpenCmCli.Usage, exit);
        Assert.Contains(option, OneErrorLine(err), StringComparison.Ordinal);
    }

    // Item 5: something else at the address (a web page, a bare 404) is named, exit 3.
    [Theory]
    [InlineData("200 OK", "text/html", "<html><body>It works!</body></html>")]
    [InlineData("404 Not Found", null, "")]
    [InlineData("404 Not Found", "text/plain", "404 page not found")]
    public async Task Server_NotOpenCm_SaysSoAndExitsThree(string status, string? contentType, string body)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var address = $"http://127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}";
        using var stop = new CancellationTokenSource();
        var serving = ServeAsync(listener, status, contentType, body, stop.Token);

        var (exit, _, err) = await Cli.RunAsync("requests", "list", "--server", address, "--token", "t");
        await stop.CancelAsync();
        listener.Stop();
        await serving;
        Assert.Equal(OpenCmCli.Unavailable, exit);
        Assert.StartsWith($"error: {address} does not look like an OpenCM/MIM CM server", OneErrorLine(err), StringComparison.Ordinal);
    }

    // Item 8: an option backed by an environment variable says which, on every command that has it.
    [Fact]
    public async Task Help_EveryCommandsOptions_NameTheirEnvironmentVariable()
    {
        var backed = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["--server"] = "OPENCM_SERVER",
            ["--token"] = "OPENCM_TOKEN",
            ["--format"] = "OPENCM_FORMAT",
            ["--password"] = "OPENCM_PFX_PASSWORD",
            ["--pin-stdin"] = "OPENCM_CARD_PIN",
            ["--ca-file"] = "OPENCM_CA_FILE",
            ["--ca-fingerprint"] = "OPENCM_CA_FINGERPRINT",
            ["--database"] = "OpenCM__Database",
            ["--connection"] = "OpenCM__ConnectionString",
            ["--master-key"] = "OpenCM__MasterKey",
        };
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var commands = 0;
        var pending = new Queue<string[]>([[]]);
        while (pending.TryDequeue(out var path))
        {
            var (exit, output, err) = await Cli.RunAsync([.. path, "--help"]);
            Assert.True(exit == 0, $"{string.Join(' ', path)} --help: {err}");
            commands++;
            var options = Section(output, "Options:");
            foreach (var (name, description) in options)
            {
                if (backed.TryGetValue(name, out var variable))
                {
                    seen.Add(name);
                    Assert.True(description.Contains(variable, StringComparison.Ordinal), $"opencm {string.Join(' ', path)} {name}: '{description}' does not name {variable}");
                }
            }

            // Every command that talks to a server can be told whom to trust (item 5).
            if (options.Any(o => o.Name == "--server"))
            {
                Assert.Contains(options, o => o.Name == "--ca-file");
                Assert.Contains(options, o => o.Name == "--ca-fingerprint");
            }

            foreach (var (name, _) in Section(output, "Commands:"))
            {
                pending.Enqueue([.. path, name]);
            }
        }

        Assert.True(commands > 40, $"only {commands} commands walked");
        Assert.Equal(backed.Keys.Order(StringComparer.Ordinal), seen.Order(StringComparer.Ordinal));
    }

    // A help section's entries: the first name of each ("-?, -h, --help" is --help), and its description with wrapped lines joined.
    private static List<(string Name, string Description)> Section(string help, string header)
    {
        var entries = new List<(string Name, string Description)>();
        var inside = false;
        foreach (var raw in help.Replace("\r", "", StringComparison.Ordinal).Split('\n'))
        {
            if (!inside)
            {
                inside = raw.Trim() == header;
                continue;
            }

            if (raw.Length == 0 || !raw.StartsWith(' '))
            {
                if (raw.Length > 0 || entries.Count > 0)
                {
                    break;
                }

                continue;
            }

            var match = Entry().Match(raw);
            if (match.Success)
            {
                var names = match.Groups["head"].Value.Split(", ", StringSplitOptions.TrimEntries).Select(n => n.Split(' ')[0]).ToList();
                var name = names.FirstOrDefault(n => n.StartsWith("--", StringComparison.Ordinal)) ?? names[0];
                entries.Add((name, match.Groups["description"].Value.Trim()));
            }
            else if (entries.Count > 0)
            {
                entries[^1] = (entries[^1].Name, entries[^1].Description + " " + raw.Trim());
            }
        }

        return entries;
    }

    // An entry starts two spaces in ("  --server <server>  The server's …"); its wrapped lines start further in.
    [GeneratedRegex(@"^  (?<head>\S.*?)(?:\s{2,}(?<description>.*))?$")]
    private static partial Regex Entry();

    [GeneratedRegex(@"""Uuid"": ""[0-9a-f-]{36}""")]
    private static partial Regex JsonIds();

    private static X509Certificate2 OtherCa()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=Another CA", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
    }

    // A web server that is not OpenCM: every request gets the same answer.
    private static async Task ServeAsync(TcpListener listener, string status, string? contentType, string body, CancellationToken ct)
    {
        try
        {
            while (!ct.IsCancellationRequested)
            {
                using var client = await listener.AcceptTcpClientAsync(ct);
                var stream = client.GetStream();
                var buffer = new byte[8192];
                var read = 0;
                while (!Encoding.ASCII.GetString(buffer, 0, read).Contains("\r\n\r\n", StringComparison.Ordinal) && read < buffer.Length)
                {
                    var n = await stream.ReadAsync(buffer.AsMemory(read), ct);
                    if (n == 0)
                    {
                        break;
                    }

                    read += n;
                }

                var payload = Encoding.UTF8.GetBytes(body);
                var head = $"HTTP/1.1 {status}\r\n{(contentType is null ? "" : $"Content-Type: {contentType}\r\n")}Content-Length: {payload.Length}\r\nConnection: close\r\n\r\n";
                await stream.WriteAsync(Encoding.ASCII.GetBytes(head).Concat(payload).ToArray(), ct);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException or IOException)
        {
            // Stopped.
        }
    }
}
