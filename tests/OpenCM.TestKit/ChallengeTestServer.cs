using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;

namespace OpenCM.TestKit;

/// <summary>
/// Debian's <c>pebble-challtestsrv</c> as the tests' DNS server (issue #24.4): its DNS answers on a
/// free loopback port (UDP and TCP), and its management API sets the A, AAAA and TXT records an
/// ACME validation asks for. Only the DNS server runs (its own http-01, https-01 and tls-alpn-01
/// responders are off). By default it answers no A or AAAA for a name nobody added, so that a
/// name resolves only as the test says. Absent, the test skips (<see cref="Prerequisite"/>).
/// </summary>
public sealed class ChallengeTestServer : IAsyncDisposable
{
    public const string Binary = "/usr/bin/pebble-challtestsrv";
    public const string SkipReason = "pebble-challtestsrv is not installed (apt-get install pebble); the ACME validation tests need its DNS server.";

    private readonly Process _process;
    private readonly HttpClient _management;

    private ChallengeTestServer(Process process, int dnsPort, int managementPort)
    {
        _process = process;
        Dns = new IPEndPoint(IPAddress.Loopback, dnsPort);
        _management = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{managementPort}/") };
    }

    /// <summary>Where its DNS server answers (what <c>Acme:Dns01Resolver</c> is set to).</summary>
    public IPEndPoint Dns { get; }

    public static bool IsAvailable() => File.Exists(Binary);

    /// <summary>Starts one on free loopback ports and waits until its management API answers; skips when it is absent.</summary>
    public static async Task<ChallengeTestServer> StartAsync()
    {
        Prerequisite.SkipIfMissing(!IsAvailable(), SkipReason);
        for (var attempt = 0; ; attempt++)
        {
            var (dnsPort, managementPort) = (FreePort(), FreePort());
            var process = Process.Start(new ProcessStartInfo(Binary)
            {
                ArgumentList =
                {
                    "-dns01", $"127.0.0.1:{dnsPort}", "-management", $"127.0.0.1:{managementPort}",
                    "-http01", "", "-https01", "", "-tlsalpn01", "", "-defaultIPv4", "", "-defaultIPv6", "",
                },
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            })!;
            process.OutputDataReceived += (_, _) => { };
            process.ErrorDataReceived += (_, _) => { };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            var server = new ChallengeTestServer(process, dnsPort, managementPort);
            for (var i = 0; i < 100 && !process.HasExited; i++)
            {
                try
                {
                    using var probe = new TcpClient();
                    await probe.ConnectAsync(IPAddress.Loopback, managementPort);
                    return server;
                }
                catch (SocketException)
                {
                    await Task.Delay(100);
                }
            }

            await server.DisposeAsync();
            if (attempt == 2)
            {
                throw new InvalidOperationException($"pebble-challtestsrv did not answer on 127.0.0.1:{managementPort} within 10 s.");
            }

            // A port taken between choosing and binding (UDP and TCP are chosen together): try others.
        }
    }

    /// <summary>Answers A queries for <paramref name="host"/> with these addresses.</summary>
    public Task AddARecordAsync(string host, params string[] addresses) => PostAsync("add-a", new { host = Fqdn(host), addresses });

    /// <summary>Answers AAAA queries for <paramref name="host"/> with these addresses.</summary>
    public Task AddAaaaRecordAsync(string host, params string[] addresses) => PostAsync("add-aaaa", new { host = Fqdn(host), addresses });

    /// <summary>Adds a TXT value at <paramref name="host"/> (each call adds one more record).</summary>
    public Task SetTxtAsync(string host, string value) => PostAsync("set-txt", new { host = Fqdn(host), value });

    /// <summary>Removes every TXT value at <paramref name="host"/>.</summary>
    public Task ClearTxtAsync(string host) => PostAsync("clear-txt", new { host = Fqdn(host) });

    private async Task PostAsync(string path, object body)
    {
        using var response = await _management.PostAsJsonAsync(path, body);
        response.EnsureSuccessStatusCode();
    }

    private static string Fqdn(string host) => host.EndsWith('.') ? host : host + ".";

    // A port free for both TCP and UDP at the moment of asking.
    private static int FreePort()
    {
        while (true)
        {
            using var tcp = new TcpListener(IPAddress.Loopback, 0);
            tcp.Start();
            var port = ((IPEndPoint)tcp.LocalEndpoint).Port;
            try
            {
                using var udp = new UdpClient(new IPEndPoint(IPAddress.Loopback, port));
                return port;
            }
            catch (SocketException)
            {
                // Taken for UDP: another.
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _management.Dispose();
        try
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        catch (InvalidOperationException)
        {
            // It had ended already.
        }

        _process.Dispose();
    }
}
