using System.Diagnostics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.TestKit;

namespace OpenCM.Server.Tests;

/// <summary>
/// certmonger (the daemon, its getcert and its scep-submit helper) enrolls from OpenCM's SCEP endpoint (issue #24.3):
/// the daemon builds the PKIMessages, as it does on a real host. It runs with a private listening socket only
/// (<c>certmonger -L -P</c>, <c>CERTMONGER_PVT_ADDRESS</c> for getcert), so no D-Bus is needed, and with its state
/// in a temporary directory.
/// </summary>
public class ScepCertmongerTests : IClassFixture<ScepFixture>
{
    private readonly ScepFixture _server;

    public ScepCertmongerTests(ScepFixture server) => _server = server;

    // getcert request -w: the daemon makes a key and a CSR with the one-time challenge, scep-submit sends the PKCSReq, the certificate
    // lands in cert.pem (MONITORING). The same, used challenge for a second key is refused: CA_REJECTED, no second request.
    [SkippableFact]
    public async Task Certmonger_Request_EnrolledThenUsedChallengeRejected()
    {
        CertmongerDaemon.SkipIfMissing();
        var (secret, user) = await _server.ChallengeAsync("tls-server");
        using var dir = new TempDirectory();
        await using var daemon = await CertmongerDaemon.StartAsync(dir, _server.Clock.GetUtcNow());

        var (exit, output) = await daemon.GetcertAsync(TimeSpan.FromMinutes(1), "add-scep-ca", "-c", "OpenCM", "-u", _server.ScepUrl);
        Assert.True(exit == 0, output + daemon.Log);
        // add-scep-ca returns before the daemon has fetched GetCACert; a request sent before that has no RA to encrypt for.
        await daemon.WaitForCaCertificatesAsync("OpenCM");
        (exit, output) = await daemon.GetcertAsync(TimeSpan.FromMinutes(3), "request", "-c", "OpenCM", "-I", "first", "-f", dir.File("cert.pem"), "-k", dir.File("key.pem"),
            "-L", secret, "-N", "CN=localhost", "-D", "localhost", "-w");
        Assert.True(exit == 0, output + daemon.Log);
        (_, output) = await daemon.GetcertAsync(TimeSpan.FromMinutes(1), "list", "-i", "first");
        Assert.Contains("status: MONITORING", output, StringComparison.Ordinal);

        await File.WriteAllTextAsync(dir.File("chain.pem"), await _server.CreateClient().GetStringAsync("/CertificateManagement/ca/chain.pem"));
        Assert.Contains("cert.pem: OK", await OpenSsl.CheckAsync(dir.Path, ["verify", .. OpenSsl.At(_server.Clock.GetUtcNow()), "-CAfile", "chain.pem", "-purpose", "sslserver", "cert.pem"]), StringComparison.Ordinal);
        using var certificate = X509Certificate2.CreateFromPem(await File.ReadAllTextAsync(dir.File("cert.pem")));
        using var key = RSA.Create();
        key.ImportFromPem(await File.ReadAllTextAsync(dir.File("key.pem")));
        Assert.Equal(key.ExportSubjectPublicKeyInfo(), certificate.PublicKey.ExportSubjectPublicKeyInfo());
        Assert.Contains("DNS:localhost", await OpenSsl.CheckAsync(dir.Path, "x509", "-in", "cert.pem", "-noout", "-ext", "subjectAltName"), StringComparison.Ordinal);

        var request = Assert.Single(await RequestsOfAsync(user));
        Assert.Equal(RequestStatus.Completed, (RequestStatus)request.GetProperty("Status").GetInt32());
        Assert.StartsWith("SCEP PKCSReq from ", request.GetProperty("Comment").GetString(), StringComparison.Ordinal);

        // A second enrollment (new key, so a new transaction) with the challenge the first one used: failInfo badRequest, which certmonger calls CA_REJECTED.
        (exit, output) = await daemon.GetcertAsync(TimeSpan.FromMinutes(3), "request", "-c", "OpenCM", "-I", "second", "-f", dir.File("cert2.pem"), "-k", dir.File("key2.pem"),
            "-L", secret, "-N", "CN=localhost", "-D", "localhost", "-w");
        Assert.True(exit != 0, output);
        (_, output) = await daemon.GetcertAsync(TimeSpan.FromMinutes(1), "list", "-i", "second");
        Assert.Contains("status: CA_REJECTED", output, StringComparison.Ordinal);
        Assert.False(File.Exists(dir.File("cert2.pem")));
        Assert.Single(await RequestsOfAsync(user));
    }

    private async Task<List<JsonElement>> RequestsOfAsync(Principal user)
    {
        var admin = await _server.AdminAsync();
        var list = await (await admin.GetAsync(ServerFixture.Api + "/requests?top=1000")).JsonAsync();
        return [.. list.EnumerateArray().Where(r => r.GetProperty("TargetUserUuid").GetGuid() == user.Uuid)];
    }
}

/// <summary>A private certmonger daemon (certmonger(8)): state under a temporary directory, reachable on its own socket only; killed with its helpers on dispose.</summary>
internal sealed class CertmongerDaemon : IAsyncDisposable
{
    public const string Daemon = "/usr/sbin/certmonger";
    public const string Getcert = "/usr/bin/getcert";

    private readonly Process _process;
    private readonly StringBuilder _log = new();
    private readonly Dictionary<string, string> _environment;

    private CertmongerDaemon(Process process, Dictionary<string, string> environment)
    {
        _process = process;
        _environment = environment;
    }

    /// <summary>What the daemon wrote so far (debug level 1: its states and helpers; no keys or challenges), for failure messages.</summary>
    public string Log
    {
        get
        {
            lock (_log)
            {
                return "\ncertmonger:\n" + _log;
            }
        }
    }

    // certmonger judges certificates by its clock (one it finds expired it renews at once) and takes no
    // time option: it runs on the server's pinned time through libfaketime ("@" an absolute start),
    // in both of the suite's passes, as openssl gets -attime.
    public const string FakeTime = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

    public static void SkipIfMissing() =>
        Prerequisite.SkipIfMissing(!File.Exists(Daemon) || !File.Exists(Getcert) || !File.Exists(ScepClientTool.ScepSubmit) || !File.Exists(FakeTime),
            $"{Daemon}, {Getcert}, {ScepClientTool.ScepSubmit} or {FakeTime} is not installed (apt-get install certmonger faketime).");

    public static async Task<CertmongerDaemon> StartAsync(TempDirectory dir, DateTimeOffset now)
    {
        var socket = dir.File("certmonger.sock");
        var environment = new Dictionary<string, string>
        {
            ["HOME"] = Directory.CreateDirectory(dir.File("home")).FullName,
            ["CERTMONGER_REQUESTS_DIR"] = Directory.CreateDirectory(dir.File("requests")).FullName,
            ["CERTMONGER_CAS_DIR"] = Directory.CreateDirectory(dir.File("cas")).FullName,
            ["CERTMONGER_TMPDIR"] = Directory.CreateDirectory(dir.File("tmp")).FullName,
            ["CERTMONGER_PVT_ADDRESS"] = "unix:path=" + socket,
            ["LD_PRELOAD"] = FakeTime,
            ["FAKETIME"] = "@" + now.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture),
            ["TZ"] = "UTC",
        };

        // -s: a session's daemon (not the system's); -L -P: only this socket, no bus; -n: in the foreground, logging to stderr.
        var daemon = new CertmongerDaemon(Process.Start(Start(Daemon, environment, ["-s", "-L", "-P", socket, "-n", "-d", "1"]))!, environment);
        daemon._process.OutputDataReceived += daemon.Append;
        daemon._process.ErrorDataReceived += daemon.Append;
        daemon._process.BeginOutputReadLine();
        daemon._process.BeginErrorReadLine();
        try
        {
            for (var waited = 0; !File.Exists(socket); waited += 100)
            {
                if (daemon._process.HasExited || waited > 60_000)
                {
                    throw new InvalidOperationException("certmonger did not open its socket within a minute." + daemon.Log);
                }

                await Task.Delay(100);
            }
        }
        catch
        {
            await daemon.DisposeAsync();
            throw;
        }

        return daemon;
    }

    /// <summary>Runs getcert against this daemon until it exits; failing the test after <paramref name="timeout"/>.</summary>
    public async Task<(int ExitCode, string Output)> GetcertAsync(TimeSpan timeout, params string[] args)
    {
        var (exit, output, error) = await ToolProcess.RunAsync(Getcert, args, timeout, environment: _environment);
        return (exit, output + error);
    }

    /// <summary>Waits (a minute at most) until <c>getcert list-cas</c> shows the CA's certificate, i.e. the daemon has its GetCACert answer.</summary>
    public async Task WaitForCaCertificatesAsync(string ca)
    {
        var output = "";
        for (var waited = 0; waited < 60_000; waited += 500)
        {
            (_, output) = await GetcertAsync(TimeSpan.FromMinutes(1), "list-cas", "-c", ca);
            if (output.Contains("CA certificate thumbprint", StringComparison.Ordinal))
            {
                return;
            }

            await Task.Delay(500);
        }

        throw new TimeoutException($"certmonger did not fetch {ca}'s certificates within a minute: {output}{Log}");
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }

            using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await _process.WaitForExitAsync(cancel.Token);
        }
        catch (Exception e) when (e is InvalidOperationException or OperationCanceledException)
        {
            // Already gone, or not reaped in time: nothing more a test can do.
        }
        finally
        {
            _process.Dispose();
        }
    }

    private static ProcessStartInfo Start(string tool, Dictionary<string, string> environment, string[] args)
    {
        var start = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        return start;
    }

    private void Append(object sender, DataReceivedEventArgs e)
    {
        if (e.Data is not null)
        {
            lock (_log)
            {
                _log.AppendLine(e.Data);
            }
        }
    }
}
