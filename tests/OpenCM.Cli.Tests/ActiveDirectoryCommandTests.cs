using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text.Json;
using OpenCM.TestKit;

namespace OpenCM.Cli.Tests;

/// <summary>
/// The commands that read the directory, with Active Directory as it (issue #19): they take the
/// same Directory:Ldap:* settings as <c>opencm serve</c>, from --Section:Key switches or the
/// environment (Directory__Ldap__Url), against the real Samba AD DC of the fixture.
/// </summary>
public sealed class ActiveDirectoryCommandTests : IClassFixture<DomainControllerFixture>
{
    private const string Api = "/CertificateManagement/api/v1.0";
    private readonly DomainControllerFixture _fixture;

    public ActiveDirectoryCommandTests(DomainControllerFixture fixture) => _fixture = fixture;

    private SambaDomainController Dc()
    {
        Prerequisite.SkipIfMissing(_fixture.Dc is null, SambaDomainController.SkipReason);
        return _fixture.Dc!;
    }

    // The LDAP settings as configuration keys: switches (--Directory:Ldap:Url=…) or environment variables (Directory__Ldap__Url).
    private static Dictionary<string, string> Settings(SambaDomainController dc, string password = SambaDomainController.AdminPassword) => new(StringComparer.Ordinal)
    {
        ["Directory:Source"] = "ldap",
        ["Directory:Ldap:Url"] = SambaDomainController.Url,
        ["Directory:Ldap:BaseDn"] = SambaDomainController.BaseDn,
        ["Directory:Ldap:BindDn"] = SambaDomainController.AdminDn,
        ["Directory:Ldap:BindPassword"] = password,
        ["Directory:Ldap:CaFile"] = dc.CaFile,
    };

    private static string[] Switches(SambaDomainController dc) => [.. Settings(dc).Select(s => $"--{s.Key}={s.Value}")];

    private static async Task<ServerProcess> ServeAsync(SambaDomainController dc, TempDirectory data)
    {
        await dc.EnsureGroupAsync("CM Managers");
        await dc.EnsureGroupAsync("CM Approvers");
        return await ServerProcess.StartAsync(["--data", data.Path, .. Switches(dc)]);
    }

    [SkippableFact]
    public async Task Token_AdUserWithSwitches_ActsAsHerAgainstAServerOnTheSameDirectory()
    {
        var dc = Dc();
        using var data = new TempDirectory();
        await using var server = await ServeAsync(dc, data);
        var alice = await dc.CreateUserAsync(dc.UniqueName("tok"));

        var (exit, token, err) = await Cli.RunAsync(["token", "--data", data.Path, "--user", alice.Name, .. Switches(dc)]);
        Assert.True(exit == 0, err);

        using var me = await GetAsync(server, token.Trim(), "/me");
        Assert.Equal(alice.Uuid.ToString("D"), me.RootElement.GetProperty("Uuid").GetString());
        Assert.Equal(alice.Sid, me.RootElement.GetProperty("Sid").GetString());
    }

    [SkippableFact]
    public async Task TemplatesImport_GroupNameDescriptor_ResolvesToTheAdGroupsSid()
    {
        var dc = Dc();
        using var data = new TempDirectory();
        await using var server = await ServeAsync(dc, data);
        var approvers = await dc.CreateGroupAsync(dc.UniqueName("Tpl Approvers "));
        var manager = await dc.CreateUserAsync(dc.UniqueName("mgr"));
        await dc.AddMemberAsync(await dc.EnsureGroupAsync("CM Managers"), manager);
        var uuid = Guid.NewGuid();
        var file = data.File("ad-template.yaml");
        await File.WriteAllTextAsync(file, $$"""
            uuid: {{uuid:D}}
            name: AD Approved {{uuid:N}}
            description: Approved by an AD group.
            isSmartcardProfileTemplate: false
            isVirtualSmartcardProfileTemplate: false
            policies:
              Enroll:
                enabled: true
                approvalsNeeded: 1
                authorizedInitiator: "O:SYD:(A;;CR;;;{CM Managers})"
                authorizedApprover: "O:SYD:(A;;CR;;;{{{approvers.Name}}})"
            certificates:
              - commonName: ADApproved
                subject: "CN={name},O=OpenCM"
                keyAlgorithm: ECDSA_P256
                hashAlgorithm: SHA256
                keyUsages: [DigitalSignature]
                extendedKeyUsages: ["1.3.6.1.5.5.7.3.2"]
                validityDays: 30
            """);

        var (exit, output, err) = await Cli.RunAsync(["templates", "import", "--data", data.Path, file, .. Switches(dc)]);
        Assert.True(exit == 0, err);
        Assert.Contains(uuid.ToString("D"), output, StringComparison.Ordinal);

        // What the server answers for the policy names the AD group's SID (and the managers group's).
        var (_, token, tokenErr) = await Cli.RunAsync(["token", "--data", data.Path, "--user", manager.Name, .. Switches(dc)]);
        Assert.True(token.Length > 0, tokenErr);
        using var policy = await GetAsync(server, token.Trim(), $"/profiletemplates/{uuid:D}/policies/Enroll");
        Assert.Contains(approvers.Sid, policy.RootElement.GetProperty("AuthorizedApprover").GetString(), StringComparison.Ordinal);

        // A name AD does not have is refused, naming it, and nothing is imported.
        await File.WriteAllTextAsync(file, (await File.ReadAllTextAsync(file)).Replace(approvers.Name, "No Such Group", StringComparison.Ordinal));
        var (refused, _, why) = await Cli.RunAsync(["templates", "import", "--data", data.Path, file, .. Switches(dc)]);
        Assert.Equal(OpenCmCli.Failed, refused);
        Assert.Contains("'No Such Group' is not in the directory", why, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task AuditVerify_AdSettingsFromTheEnvironment_VerifiesTheChain()
    {
        var dc = Dc();
        using var data = new TempDirectory();
        await dc.EnsureGroupAsync("CM Managers");
        var (init, _, initErr) = await Cli.RunAsync(["init", "--data", data.Path, .. Switches(dc)]);
        Assert.True(init == 0, initErr);

        var (exit, output, err) = await OpencmProcessAsync(Settings(dc), "audit", "verify", "--data", data.Path);
        Assert.True(exit == 0, output + err);
        Assert.Contains("audit log intact", output, StringComparison.Ordinal);

        // The settings did reach it: the same command with the environment's password wrong fails on the bind.
        var (wrong, _, wrongErr) = await OpencmProcessAsync(Settings(dc, "Not-The-Passw0rd"), "audit", "verify", "--data", data.Path);
        Assert.Equal(OpenCmCli.Usage, wrong);
        Assert.Contains("refused the bind", wrongErr, StringComparison.Ordinal);
    }

    [SkippableTheory]
    [InlineData("add")]
    [InlineData("remove")]
    [InlineData("leave")]
    [InlineData("set-password")]
    public async Task Users_ChangeWithAnAdDirectory_ClearErrorNamingActiveDirectory(string change)
    {
        var dc = Dc();
        using var data = new TempDirectory();
        await dc.EnsureGroupAsync("CM Managers");
        var (init, _, initErr) = await Cli.RunAsync(["init", "--data", data.Path, .. Switches(dc)]);
        Assert.True(init == 0, initErr);
        var bob = await dc.CreateUserAsync(dc.UniqueName("usr"));

        string[] args = change switch
        {
            "add" => ["users", "add", "--data", data.Path, "--name", dc.UniqueName("new")],
            "remove" => ["users", "remove", "--data", data.Path, "--name", bob.Name],
            "leave" => ["users", "leave", "--data", data.Path, "--name", bob.Name, "--group", "Domain Users"],
            _ => ["users", "set-password", "--data", data.Path, "--name", bob.Name, "--password-stdin"],
        };
        var (exit, output, err) = await Cli.RunWithInputAsync("A-Portal-Passw0rd!\n", [.. args, .. Switches(dc)]);

        Assert.Equal(OpenCmCli.Failed, exit);
        Assert.Contains("Active Directory", err, StringComparison.Ordinal);
        Assert.Contains("not by OpenCM", err, StringComparison.Ordinal);
        Assert.Equal("", output);
    }

    // A wrong bind password: the command stops before doing anything, saying what to check, with
    // no stack trace and without the password it was given (issue #19).
    [SkippableTheory]
    [InlineData("token")]
    [InlineData("templates")]
    [InlineData("audit")]
    [InlineData("serve")]
    public async Task Command_WrongBindPassword_ClearMessageNonZeroExitNoPasswordNoStackTrace(string command)
    {
        var dc = Dc();
        using var data = new TempDirectory();
        await dc.EnsureGroupAsync("CM Managers");
        var (init, _, initErr) = await Cli.RunAsync(["init", "--data", data.Path, .. Switches(dc)]);
        Assert.True(init == 0, initErr);
        const string wrong = "Wr0ng-Bind-Secret-7731";
        string[] args = command switch
        {
            "token" => ["token", "--data", data.Path, "--user", "Administrator"],
            "templates" => ["templates", "import", "--data", data.Path, data.File("never-read.yaml")],
            "audit" => ["audit", "verify", "--data", data.Path],
            _ => ["serve", "--data", data.Path, "--urls", "http://127.0.0.1:0"],
        };

        var (exit, output, err) = await OpencmProcessAsync(Settings(dc, wrong), args);

        Assert.NotEqual(0, exit);
        Assert.Contains($"refused the bind as '{SambaDomainController.AdminDn}'", err, StringComparison.Ordinal);
        Assert.Contains("Directory:Ldap:BindDn and its password", err, StringComparison.Ordinal);
        Assert.DoesNotContain(wrong, output + err, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", output + err, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", output + err, StringComparison.Ordinal);
    }

    private static async Task<JsonDocument> GetAsync(ServerProcess server, string token, string path)
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, server.Address + Api + path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode} {body}\n{server.Output}");
        return JsonDocument.Parse(body);
    }

    // opencm as its own process, the settings in its environment as Directory__Ldap__Url etc.
    private static Task<(int Exit, string Out, string Err)> OpencmProcessAsync(IReadOnlyDictionary<string, string> environment, params string[] args) =>
        Cli.ProcessAsync(environment.ToDictionary(e => e.Key.Replace(":", "__", StringComparison.Ordinal), e => e.Value), args);
}
