using System.Diagnostics;
using System.Text.Json;
using OpenCM.TestKit;

namespace OpenCM.Cli.Tests;

/// <summary>
/// Windows Integrated Authentication (issue #19): <c>opencm serve</c> with Active Directory as its
/// directory and <c>Auth:Negotiate:Enabled</c>, against a real Samba AD DC; the clients are the
/// real <c>kinit</c> and <c>curl --negotiate</c>.
/// </summary>
public sealed class KerberosTests : IClassFixture<DomainControllerFixture>
{
    private readonly DomainControllerFixture _fixture;

    public KerberosTests(DomainControllerFixture fixture) => _fixture = fixture;

    private Task<SambaDomainController> DcAsync()
    {
        Prerequisite.SkipIfMissing(_fixture.Dc is null || !OnPath("kinit") || !OnPath("curl"), SambaDomainController.SkipReason);
        return Task.FromResult(_fixture.Dc!);
    }

    private static async Task<ServerProcess> ServeAsync(SambaDomainController dc, TempDirectory data)
    {
        var keytab = await dc.HttpKeytabAsync();
        await dc.EnsureGroupAsync("CM Managers");
        await dc.EnsureGroupAsync("CM Approvers");
        return await ServerProcess.StartAsync("--data", data.Path,
            "--Directory:Source=ldap", $"--Directory:Ldap:Url={SambaDomainController.Url}", $"--Directory:Ldap:BaseDn={SambaDomainController.BaseDn}",
            $"--Directory:Ldap:BindDn={SambaDomainController.AdminDn}", $"--Directory:Ldap:BindPassword={SambaDomainController.AdminPassword}",
            $"--Directory:Ldap:CaFile={dc.CaFile}",
            "--Auth:Negotiate:Enabled=true", $"--Auth:Negotiate:Keytab={keytab}", $"--Auth:Negotiate:Krb5Config={dc.Krb5Conf}");
    }

    [SkippableFact]
    public async Task Me_CurlNegotiateWithAlicesTicket_HerObjectGuidAndObjectSid()
    {
        var dc = await DcAsync();
        using var data = new TempDirectory();
        await using var server = await ServeAsync(dc, data);
        var alice = await dc.CreateUserAsync(dc.UniqueName("alice"));
        var cache = await dc.KinitAsync(alice);

        var me = Url(server, "/CertificateManagement/api/v1.0/me");
        var (exit, body) = await CurlAsync(dc, cache, "--negotiate", "-u", ":", "-sS", "--fail-with-body", me);
        Assert.True(exit == 0, body + "\n" + server.Output);
        using var json = JsonDocument.Parse(body);
        Assert.Equal(alice.Uuid.ToString("D"), json.RootElement.GetProperty("Uuid").GetString());
        Assert.Equal(alice.Sid, json.RootElement.GetProperty("Sid").GetString());
    }

    [SkippableFact]
    public async Task Api_NoOrGarbageNegotiateToken_401OfferingBothOr400NeverA5xx()
    {
        var dc = await DcAsync();
        using var data = new TempDirectory();
        await using var server = await ServeAsync(dc, data);
        var me = Url(server, "/CertificateManagement/api/v1.0/me");

        // No credentials: both ways in are offered.
        var (_, plain) = await CurlAsync(dc, null, "-sS", "-i", me);
        Assert.Contains("401", plain.Split('\n')[0], StringComparison.Ordinal);
        Assert.Contains("WWW-Authenticate: Negotiate", plain, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("WWW-Authenticate: Bearer", plain, StringComparison.OrdinalIgnoreCase);

        // Not base64: 400; base64 that is no token, or a truncated one: 401. Never a 5xx.
        foreach (var (token, status) in new[] { ("!!!not-base64!!!", "400"), ("YWJjZA==", "401"), ("YIIBhwYGKwYBBQUCoIIBezCCAXegDTALBgkqhkiG9xIBAgKiggFk", "401"), ("", "401") })
        {
            var (_, answer) = await CurlAsync(dc, null, "-sS", "-i", "-H", $"Authorization: Negotiate {token}", me);
            Assert.True(answer.Split('\n')[0].Contains(status, StringComparison.Ordinal), $"'{token}': {answer}");
            Assert.DoesNotContain(token.Length > 4 ? token : "\u0000", server.Output, StringComparison.Ordinal);
        }
    }

    // "Sign in with Windows" (issue #19): the portal's route answers Negotiate's 401, and a
    // ticket becomes the portal's own session cookie, which then opens the home page. The client
    // is curl with a cookie jar, following the redirect as a browser does. TODO(#19): the same in
    // Chromium: Debian's build, with --auth-server-allowlist=localhost and a persistent profile,
    // sent no Negotiate token here (the handler saw one challenge and nothing after it).
    [SkippableFact]
    public async Task Portal_SignInWithWindows_TicketBecomesAPortalSessionThatOpensTheHomePage()
    {
        var dc = await DcAsync();
        using var data = new TempDirectory();
        await using var server = await ServeAsync(dc, data);
        var alice = await dc.CreateUserAsync(dc.UniqueName("win"));
        var cache = await dc.KinitAsync(alice);
        var jar = data.File("cookies.txt");

        // The sign-in page offers it; following it with a ticket ends on the home page, signed in.
        var (_, signin) = await CurlAsync(dc, null, "-sS", Url(server, "/CertificateManagement/signin"));
        Assert.Contains("Sign in with Windows", signin, StringComparison.Ordinal);
        var (exit, home) = await CurlAsync(dc, cache, "--negotiate", "-u", ":", "-sS", "-L", "-c", jar, "-b", jar,
            Url(server, "/CertificateManagement/signin?handler=Windows&returnUrl=%2FCertificateManagement%2F"));
        Assert.True(exit == 0 && home.Contains($"Hello, {alice.Name}", StringComparison.Ordinal), home + "\n" + server.Output);

        // The session alone (no ticket any more) keeps her signed in; without a ticket the route is a 401.
        var (_, again) = await CurlAsync(dc, null, "-sS", "-b", jar, Url(server, "/CertificateManagement/"));
        Assert.Contains($"Hello, {alice.Name}", again, StringComparison.Ordinal);
        var (_, refused) = await CurlAsync(dc, null, "-sS", "-i", Url(server, "/CertificateManagement/signin?handler=Windows"));
        Assert.Contains("401", refused.Split('\n')[0], StringComparison.Ordinal);
    }

    private static string Url(ServerProcess server, string path) => server.Address.Replace("127.0.0.1", "localhost", StringComparison.Ordinal) + path;

    private static async Task<(int Exit, string Output)> CurlAsync(SambaDomainController dc, string? cache, params string[] args)
    {
        var start = new ProcessStartInfo("curl") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        start.Environment["KRB5_CONFIG"] = dc.Krb5Conf;
        start.Environment["KRB5CCNAME"] = cache is null ? "FILE:/nonexistent/opencm-cc" : "FILE:" + cache;
        using var process = Process.Start(start) ?? throw new InvalidOperationException("curl did not start.");
        var output = await process.StandardOutput.ReadToEndAsync();
        var error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, output + error);
    }

    private static bool OnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Any(d => File.Exists(Path.Combine(d, program)));
}
