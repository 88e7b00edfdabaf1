using System.Diagnostics;
using System.DirectoryServices.Protocols;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace OpenCM.TestKit;

/// <summary>A user or group the fixture made in the domain.</summary>
public sealed record DomainPrincipal(string Name, string Dn, Guid Uuid, string Sid);

/// <summary>
/// A real Active Directory domain controller for the tests (issue #19): Debian's Samba AD DC,
/// provisioned into a temporary directory as <c>OPENCM.TEST</c> and started in the foreground on
/// loopback, once per test process (recipe: shared/fixtures.md). Its ports are fixed (88, 389,
/// 636, …), so test processes that need it take turns by a machine-wide lock. LDAPS carries a
/// certificate for 127.0.0.1 from a CA the fixture makes (<see cref="CaFile"/>). Samba runs with
/// its standard input on a pipe this process holds and exits when that closes, so a test process
/// that dies leaves no DC behind. Test classes lease it (<see cref="AcquireAsync"/>, released by
/// their fixture's disposal): the DC and the machine-wide lock are held only while some class of
/// this process uses them, so test projects take turns by class, not for their whole run. When
/// Samba is absent, <see cref="AcquireAsync"/> yields null and the tests skip saying so (.ci/run
/// installs it).
/// </summary>
public sealed class SambaDomainController
{
    public const string SkipReason = "Samba AD DC not found (samba, samba-tool): install Debian's samba-ad-dc, samba-ad-provision, krb5-user and ldap-utils (.ci/run does) to run the Active Directory tests.";
    public const string Realm = "OPENCM.TEST";
    public const string NetbiosDomain = "OPENCM";
    public const string BaseDn = "DC=opencm,DC=test";
    public const string AdminPassword = "Adm1n-Passw0rd!";
    public const string UserPassword = "Us3r-Passw0rd!";
    public const string Url = "ldaps://127.0.0.1:636";

    private const string LockFile = "/tmp/opencm-samba.lock";
    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static SambaDomainController? _current;
    private static int _leases;
    private readonly string _root;
    private readonly string _samba;
    private readonly FileStream _lock;
    private Process? _process;
    private int _names;

    private SambaDomainController(string root, string samba, FileStream machineLock)
    {
        _root = root;
        _samba = samba;
        _lock = machineLock;
    }

    /// <summary>
    /// A lease on the process's DC, started (and the machine's lock taken) by the first lease;
    /// null when Samba is not installed. Each lease is given back with <see cref="ReleaseAsync"/>.
    /// </summary>
    public static async Task<SambaDomainController?> AcquireAsync()
    {
        await Gate.WaitAsync();
        try
        {
            _current ??= await StartNewAsync();
            if (_current is not null)
            {
                _leases++;
            }

            return _current;
        }
        finally
        {
            Gate.Release();
        }
    }

    /// <summary>Gives a lease back; the last one stops the DC and lets other test processes have it.</summary>
    public async Task ReleaseAsync()
    {
        await Gate.WaitAsync();
        try
        {
            if (--_leases > 0 || !ReferenceEquals(_current, this))
            {
                return;
            }

            _current = null;
            if (_process is { HasExited: false } p)
            {
                p.Kill(entireProcessTree: true);
                await p.WaitForExitAsync();
            }

            TryDelete(_root);
            await _lock.DisposeAsync();
        }
        finally
        {
            Gate.Release();
        }
    }

    /// <summary>PEM of the CA that signed the DC's LDAPS certificate.</summary>
    public string CaFile => Path.Combine(_root, "ca.pem");

    /// <summary>A krb5.conf for the realm, with the KDC on 127.0.0.1:88.</summary>
    public string Krb5Conf => Path.Combine(_root, "krb5.conf");

    public string SmbConf => Path.Combine(_root, "dc", "etc", "smb.conf");

    public const string AdminDn = "CN=Administrator,CN=Users," + BaseDn;

    /// <summary>A name no other test of this process has: <paramref name="prefix"/> and a counter.</summary>
    // The DC keeps its users from run to run and process ids come round again (alice1522x2 existed
    // on 2026-12-05), so a random tag per fixture, not the process id, tells runs apart; five hex
    // digits keep "svc-http" names within sAMAccountName's 20 characters.
    public string UniqueName(string prefix) => $"{prefix}{_run}x{Interlocked.Increment(ref _names)}";

    private readonly string _run = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(3))[..5];

    /// <summary>A user with <see cref="UserPassword"/> (or <paramref name="password"/>), enabled, with a UPN in the realm.</summary>
    public async Task<DomainPrincipal> CreateUserAsync(string name, string? password = null)
    {
        var dn = $"CN={name},CN=Users,{BaseDn}";
        var quoted = Encoding.Unicode.GetBytes($"\"{password ?? UserPassword}\"");
        await SendAsync(new AddRequest(dn,
            new DirectoryAttribute("objectClass", "user"),
            new DirectoryAttribute("sAMAccountName", name),
            new DirectoryAttribute("userPrincipalName", $"{name}@{Realm.ToLowerInvariant()}"),
            new DirectoryAttribute("unicodePwd", quoted),
            new DirectoryAttribute("userAccountControl", "512")));
        return await ReadAsync(name, dn);
    }

    /// <summary>A global security group.</summary>
    public async Task<DomainPrincipal> CreateGroupAsync(string name)
    {
        var dn = $"CN={name},CN=Users,{BaseDn}";
        await SendAsync(new AddRequest(dn, new DirectoryAttribute("objectClass", "group"), new DirectoryAttribute("sAMAccountName", name)));
        return await ReadAsync(name, dn);
    }

    /// <summary>The group named <paramref name="name"/>, made if the domain has none yet (names shared by the whole run).</summary>
    public async Task<DomainPrincipal> EnsureGroupAsync(string name)
    {
        var dn = $"CN={name},CN=Users,{BaseDn}";
        try
        {
            return await ReadAsync(name, dn);
        }
        catch (DirectoryOperationException)
        {
            return await CreateGroupAsync(name);
        }
    }

    public Task AddMemberAsync(DomainPrincipal group, DomainPrincipal member) =>
        SendAsync(new ModifyRequest(group.Dn, DirectoryAttributeOperation.Add, "member", member.Dn));

    public Task RemoveMemberAsync(DomainPrincipal group, DomainPrincipal member) =>
        SendAsync(new ModifyRequest(group.Dn, DirectoryAttributeOperation.Delete, "member", member.Dn));

    /// <summary>Sets one attribute of a principal (e.g. <c>mail</c>).</summary>
    public Task ReplaceAsync(DomainPrincipal principal, string attribute, string value) =>
        SendAsync(new ModifyRequest(principal.Dn, DirectoryAttributeOperation.Replace, attribute, value));

    /// <summary>Disables (userAccountControl 514) or enables (512) a user.</summary>
    public Task SetEnabledAsync(DomainPrincipal user, bool enabled) =>
        SendAsync(new ModifyRequest(user.Dn, DirectoryAttributeOperation.Replace, "userAccountControl", enabled ? "512" : "514"));

    /// <summary>Stops the DC as an outage would.</summary>
    public async Task StopAsync()
    {
        if (_process is { HasExited: false } p)
        {
            p.Kill(entireProcessTree: true);
            await p.WaitForExitAsync();
        }

        await WaitForPortAsync(636, open: false, TimeSpan.FromSeconds(60));
    }

    /// <summary>Starts the stopped DC again.</summary>
    public Task RestartAsync() => StartProcessAsync();

    /// <summary>
    /// The service account and keytab of <c>HTTP/localhost</c> (the SPN a client asks a ticket for
    /// when it calls http://localhost:PORT/), made once per DC: the keytab file's path.
    /// </summary>
    public Task<string> HttpKeytabAsync() => _keytab ??= MakeKeytabAsync();

    private Task<string>? _keytab;

    private async Task<string> MakeKeytabAsync()
    {
        var service = await CreateUserAsync(UniqueName("svc-http"), "Svc-Passw0rd!1");
        await SambaToolAsync("spn", "add", "HTTP/localhost", service.Name);
        var keytab = Path.Combine(_root, "http.keytab");
        await SambaToolAsync("domain", "exportkeytab", keytab, "--principal=HTTP/localhost");
        return keytab;
    }

    /// <summary>
    /// A Kerberos ticket for <paramref name="user"/> in a credential cache of its own (real
    /// <c>kinit</c>, the password on its standard input): the cache's path, for KRB5CCNAME.
    /// </summary>
    public async Task<string> KinitAsync(DomainPrincipal user, string? password = null)
    {
        var cache = Path.Combine(_root, "cc-" + user.Name);
        var start = new ProcessStartInfo("kinit") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add($"{user.Name}@{Realm}");
        start.Environment["KRB5_CONFIG"] = Krb5Conf;
        start.Environment["KRB5CCNAME"] = "FILE:" + cache;
        using var process = Process.Start(start) ?? throw new InvalidOperationException("kinit did not start.");
        await process.StandardInput.WriteLineAsync(password ?? UserPassword);
        process.StandardInput.Close();
        var error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return process.ExitCode == 0 ? cache : throw new InvalidOperationException($"kinit failed: {error}");
    }

    /// <summary>Runs samba-tool against this DC (e.g. spn add, domain exportkeytab).</summary>
    public Task<string> SambaToolAsync(params string[] args) => RunAsync("samba-tool", [.. args, "-s", SmbConf]);

    private static async Task<SambaDomainController?> StartNewAsync()
    {
        var samba = Find("samba", "/usr/sbin", "/usr/bin");
        if (samba is null || Find("samba-tool", "/usr/bin", "/usr/sbin") is null || Environment.GetEnvironmentVariable("OPENCM_SAMBA") == "none")
        {
            return null;
        }

        // 1. One DC on this machine at a time (fixed ports): wait for the lock, then stop any DC a
        //    test process that died left running from its directory.
        var machineLock = await MachineResources.TakeLockAsync(LockFile, TimeSpan.FromMinutes(20), TimeSpan.FromSeconds(1));
        foreach (var dir in Directory.GetDirectories(Path.GetTempPath(), "opencm-samba-*"))
        {
            MachineResources.KillRecorded(Path.Combine(dir, "samba.pid"));
            TryDelete(dir);
        }

        // 2. A CA and an LDAPS certificate for 127.0.0.1, the realm's krb5.conf, and the domain.
        var root = Path.Combine(Path.GetTempPath(), "opencm-samba-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(root);
        var dc = new SambaDomainController(root, samba, machineLock);
        dc.WriteCertificates();
        await File.WriteAllTextAsync(dc.Krb5Conf, $"""
            [libdefaults]
              default_realm = {Realm}
              dns_lookup_realm = false
              dns_lookup_kdc = false
              rdns = false
              dns_canonicalize_hostname = false
            [realms]
              {Realm} = {"{"}
                kdc = 127.0.0.1:88
              {"}"}
            [domain_realm]
              localhost = {Realm}

            """);
        await RunAsync("samba-tool", "domain", "provision", $"--realm={Realm}", $"--domain={NetbiosDomain}", $"--adminpass={AdminPassword}",
            "--server-role=dc", "--dns-backend=NONE", $"--targetdir={Path.Combine(root, "dc")}", "--host-name=dc1",
            "--option=interfaces=lo", "--option=bind interfaces only=yes",
            // Samba's RPC endpoints take ports from 49152 up by default, inside Linux's ephemeral
            // range (32768-60999), where any test's outgoing connection may already sit: above it.
            "--option=rpc server dynamic port range=61000-61999",
            $"--option=tls keyfile={Path.Combine(root, "dc.key")}", $"--option=tls certfile={Path.Combine(root, "dc.pem")}", $"--option=tls cafile={dc.CaFile}");

        // 3. The DC itself, up when an LDAPS bind as the administrator works.
        await dc.StartProcessAsync();
        return dc;
    }

    private async Task StartProcessAsync()
    {
        var start = new ProcessStartInfo("/bin/sh") { RedirectStandardInput = true, UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add($"echo $$ > '{Path.Combine(_root, "samba.pid")}'; exec '{_samba}' -i -M single -s '{SmbConf}' >> '{Path.Combine(_root, "samba.log")}' 2>&1");
        _process = Process.Start(start) ?? throw new InvalidOperationException("samba did not start.");
        var deadline = DateTime.UtcNow.AddMinutes(3);
        while (true)
        {
            try
            {
                using var conn = Connect();
                conn.Bind();
                await WaitForPortAsync(88, open: true, TimeSpan.FromSeconds(60));
                return;
            }
            catch (LdapException) when (DateTime.UtcNow < deadline && !_process.HasExited)
            {
                await Task.Delay(500);
            }
            catch (LdapException e)
            {
                var log = File.Exists(Path.Combine(_root, "samba.log")) ? await File.ReadAllTextAsync(Path.Combine(_root, "samba.log")) : "";
                throw new InvalidOperationException($"The Samba DC did not come up: {e.Message}\n{log[Math.Max(0, log.Length - 4000)..]}", e);
            }
        }
    }

    private async Task<DomainPrincipal> ReadAsync(string name, string dn)
    {
        var response = (SearchResponse)await SendAsync(new SearchRequest(dn, "(objectClass=*)", SearchScope.Base, "objectGUID", "objectSid"));
        var entry = response.Entries[0];
        var guid = new Guid((byte[])entry.Attributes["objectGUID"].GetValues(typeof(byte[]))[0]);
        var sid = (byte[])entry.Attributes["objectSid"].GetValues(typeof(byte[]))[0];
        return new DomainPrincipal(name, dn, guid, SidText(sid));
    }

    // The fixture's own changes to the directory. Samba in single-process mode, busy with several
    // test classes' binds at once on two cores, now and then drops a TLS connection with "server
    // unavailable" (LDAP result 81; seen once in CI, 2026-12-05): setting up a test retries that
    // a few times rather than failing it. The product's own reads answer 503 instead (LdapDirectory).
    // A drop can come after the DC applied the change but before its answer arrived (CI,
    // 2026-12-05: the retried add met "Entry ... already exists"), so on a retry the answer that
    // says "already so" counts as done: the add, the member added, the member removed.
    private async Task<DirectoryResponse> SendAsync(DirectoryRequest request)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await Task.Run(() =>
                {
                    using var conn = Connect();
                    conn.Bind();
                    return conn.SendRequest(request);
                });
            }
            catch (LdapException e) when (e.ErrorCode == 81 && attempt < 5)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(300 * attempt));
            }
            catch (DirectoryOperationException e) when (attempt > 1 && AlreadyDone(request, e.Response.ResultCode))
            {
                return e.Response;
            }
        }
    }

    private static bool AlreadyDone(DirectoryRequest request, ResultCode result) => (request, result) switch
    {
        (AddRequest, ResultCode.EntryAlreadyExists) => true,
        (ModifyRequest { Modifications: [{ Operation: DirectoryAttributeOperation.Add }] }, ResultCode.AttributeOrValueExists) => true,
        (ModifyRequest { Modifications: [{ Operation: DirectoryAttributeOperation.Delete }] }, ResultCode.NoSuchAttribute) => true,
        _ => false,
    };

    private LdapConnection Connect()
    {
        var conn = new LdapConnection(new LdapDirectoryIdentifier("127.0.0.1", 636, true, false), new NetworkCredential(AdminDn, AdminPassword), AuthType.Basic)
        {
            Timeout = TimeSpan.FromSeconds(30),
        };
        conn.SessionOptions.ProtocolVersion = 3;
        conn.SessionOptions.ReferralChasing = ReferralChasingOptions.None;
        if (!OperatingSystem.IsWindows())
        {
            conn.SessionOptions.TrustedCertificatesDirectory = Path.Combine(_root, "trust");
            conn.SessionOptions.StartNewTlsSessionContext();
        }

        conn.SessionOptions.SecureSocketLayer = true;
        return conn;
    }

    private void WriteCertificates()
    {
        var now = DateTimeOffset.UtcNow;
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=OpenCM test DC CA", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        using var ca = caRequest.CreateSelfSigned(now.AddDays(-1), now.AddYears(20));

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddDnsName("localhost");
        names.AddDnsName("dc1.opencm.test");
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var leaf = request.Create(ca, now.AddDays(-1), now.AddYears(10), RandomNumberGenerator.GetBytes(12));

        File.WriteAllText(CaFile, ca.ExportCertificatePem());
        Directory.CreateDirectory(Path.Combine(_root, "trust"));
        File.Copy(CaFile, Path.Combine(_root, "trust", "ca.pem"));
        File.WriteAllText(Path.Combine(_root, "dc.pem"), leaf.ExportCertificatePem());
        var keyFile = Path.Combine(_root, "dc.key");
        File.WriteAllText(keyFile, key.ExportPkcs8PrivateKeyPem());
        if (!OperatingSystem.IsWindows())
        {
            // Samba refuses a key file others may read.
            File.SetUnixFileMode(keyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
    }

    private static void TryDelete(string dir)
    {
        try
        {
            Directory.Delete(dir, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Leftovers that cannot be removed are not this run's concern.
        }
    }

    private static async Task WaitForPortAsync(int port, bool open, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            using var client = new TcpClient();
            bool connected;
            try
            {
                await client.ConnectAsync(IPAddress.Loopback, port);
                connected = true;
            }
            catch (SocketException)
            {
                connected = false;
            }

            if (connected == open)
            {
                return;
            }

            await Task.Delay(250);
        }

        throw new TimeoutException($"Port {port} did not {(open ? "open" : "close")} within {timeout}.");
    }

    private static string? Find(string program, params string[] dirs) =>
        dirs.Concat((Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)).Select(d => Path.Combine(d, program)).FirstOrDefault(File.Exists);

    private static string SidText(byte[] b)
    {
        ulong authority = 0;
        for (var i = 2; i < 8; i++)
        {
            authority = (authority << 8) | b[i];
        }

        var text = new StringBuilder("S-1-").Append(authority);
        for (var i = 0; i < b[1]; i++)
        {
            text.Append('-').Append(BitConverter.ToUInt32(b, 8 + (4 * i)));
        }

        return text.ToString();
    }

    private static async Task<string> RunAsync(string program, params string[] args)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{program} did not start.");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return process.ExitCode == 0
            ? await output
            : throw new InvalidOperationException($"{program} {string.Join(' ', args.Where(a => !a.Contains("pass", StringComparison.OrdinalIgnoreCase)))} failed ({process.ExitCode}): {await error}");
    }
}

/// <summary>A test class's lease on the DC (<see cref="SambaDomainController.AcquireAsync"/>), given back when the class is done.</summary>
public sealed class DomainControllerFixture : Xunit.IAsyncLifetime
{
    /// <summary>The DC; null when Samba is not installed.</summary>
    public SambaDomainController? Dc { get; private set; }

    public async Task InitializeAsync() => Dc = await SambaDomainController.AcquireAsync();

    public async Task DisposeAsync()
    {
        if (Dc is not null)
        {
            await Dc.ReleaseAsync();
        }
    }
}
