using System.Buffers.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using OpenCM.Application;
using OpenCM.TestKit;

namespace OpenCM.Cli.Tests;

/// <summary><c>opencm acme eab</c> (issue #24.4): an External Account Binding key for a user and an ACME template, printed once.</summary>
public sealed class AcmeEabCommandTests : IDisposable
{
    private const string AcmeTemplate = "9b6f8a0e-24a4-4c0e-9d1e-ac3e00000001";

    // A software template that ACME may use: what matters here is its protocols line.
    private static readonly string TemplateYaml = $$"""
        uuid: {{AcmeTemplate}}
        name: TLS Acme Test
        protocols: [acme]
        isSmartcardProfileTemplate: false
        isVirtualSmartcardProfileTemplate: false
        policies:
          Enroll:
            enabled: true
            selfServiceEnabled: true
            approvalsNeeded: 0
            authorizedInitiator: "O:SYD:(A;;CR;;;WD)"
        certificates:
          - commonName: TLS Server
            subject: "CN={requested}"
            keyAlgorithm: RSA
            keySize: 2048
            hashAlgorithm: SHA256
            keyUsages: [DigitalSignature]
            extendedKeyUsages: ["1.3.6.1.5.5.7.3.1"]
            validityDays: 30
            requestedNames:
              dns: [localhost, "*.test"]
        """;

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Data => _dir.File("data");

    private async Task InitAsync()
    {
        Assert.Equal(0, (await Cli.RunAsync("init", "--data", Data)).Exit);
        Assert.Equal(0, (await Cli.RunAsync("users", "add", "--data", Data, "--name", "alice")).Exit);
        File.WriteAllText(_dir.File("acme.yaml"), TemplateYaml);
        var imported = await Cli.RunAsync("templates", "import", "--data", Data, _dir.File("acme.yaml"));
        Assert.True(imported.Exit == 0, imported.Err);
    }

    [Fact]
    public async Task AcmeEab_UserAndAcmeTemplate_PrintsAKidAndHmacTheStoreBindsOnce()
    {
        await InitAsync();

        var (exit, output, err) = await Cli.RunAsync("acme", "eab", "--data", Data, "--user", "alice", "--template", "tls-acme-test");

        Assert.True(exit == 0, err);
        var fields = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split("  ", 2, StringSplitOptions.TrimEntries)).ToDictionary(p => p[0], p => p[1]);
        Assert.Matches("^[A-Za-z0-9_-]{22}$", fields["kid"]);
        Assert.Matches("^[A-Za-z0-9_-]{43}$", fields["hmac"]); // 32 bytes, base64url without padding: as lego's --hmac and certbot's --eab-hmac-key take it
        Assert.Equal(("alice", "tls-acme-test"), (fields["user"], fields["template"]));

        await using var app = await Local.OpenExistingAsync(new StoreChoice(Data, null, null), CancellationToken.None);
        var keys = app.Services.GetRequiredService<IExternalAccountKeys>();
        var alice = await app.Services.GetRequiredService<IDirectory>().FindByNameAsync("alice");
        var key = await keys.FindUsableAsync(fields["kid"], CancellationToken.None);
        Assert.NotNull(key);
        Assert.Equal((alice!.Uuid, Guid.Parse(AcmeTemplate)), (key!.UserUuid, key.ProfileTemplateUuid));
        Assert.Equal(Base64Url.DecodeFromChars(fields["hmac"]), key.HmacKey);
        Assert.Equal(TimeSpan.FromDays(7), key.Expires - key.Created);
        Assert.True(await keys.TryBindAsync(key.KeyId, "account-thumbprint", CancellationToken.None));
        Assert.False(await keys.TryBindAsync(key.KeyId, "another-account", CancellationToken.None));
    }

    [Fact]
    public async Task AcmeEab_JsonWithValidFor_KidHmacAndExpiryAuditedWithoutTheHmac()
    {
        await InitAsync();

        var (exit, output, err) = await Cli.RunAsync("acme", "eab", "--data", Data, "--user", "alice", "--template", "TLS Acme Test", "--valid-for", "12h", "--format", "json");

        Assert.True(exit == 0, err);
        var json = JsonDocument.Parse(output).RootElement;
        var (kid, hmac) = (json.GetProperty("kid").GetString()!, json.GetProperty("hmac").GetString()!);
        Assert.Equal(32, Base64Url.DecodeFromChars(hmac).Length);
        Assert.Equal("tls-acme-test", json.GetProperty("template").GetString());
        var expires = json.GetProperty("expires").GetDateTimeOffset();
        Assert.InRange(expires - DateTimeOffset.UtcNow, TimeSpan.FromHours(11), TimeSpan.FromHours(12));

        var audit = (await Cli.RunAsync("audit", "export", "--data", Data)).Out;
        var issued = audit.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement)
            .Single(e => e.GetProperty("kind").GetString() == "AcmeEabKeyIssued");
        Assert.Contains("kid=" + kid, issued.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain(hmac, audit, StringComparison.Ordinal);
        Assert.DoesNotContain(hmac, err, StringComparison.Ordinal);
    }

    // The sample template the ACME clients' tests use (samples/templates/tls-server.yaml, imported by init).
    [Fact]
    public async Task AcmeEab_TlsServerSample_Issued()
    {
        await InitAsync();

        var (exit, output, err) = await Cli.RunAsync("acme", "eab", "--data", Data, "--user", "alice", "--template", "tls-server", "--format", "json");

        Assert.True(exit == 0, err);
        Assert.Equal("tls-server", JsonDocument.Parse(output).RootElement.GetProperty("template").GetString());
    }

    [Theory]
    [InlineData("nobody", "tls-acme-test", "7d", 1, "no user named 'nobody'")]
    [InlineData("alice", "no-such-template", "7d", 1, "no template labelled 'no-such-template'")]
    [InlineData("alice", "user-certificate", "7d", 1, "does not allow acme")]
    [InlineData("alice", "tls-acme-test", "0d", 2, "--valid-for")]
    [InlineData("alice", "tls-acme-test", "400d", 2, "--valid-for")]
    [InlineData("alice", "tls-acme-test", "7w", 2, "--valid-for")]
    [InlineData("alice", "tls-acme-test", "-1h", 2, "--valid-for")]
    [InlineData("alice", "tls-acme-test", "d", 2, "--valid-for")]
    public async Task AcmeEab_Refused_OneErrorLineItsExitCodeAndNoKey(string user, string template, string validFor, int exit, string says)
    {
        await InitAsync();

        var run = await Cli.RunAsync("acme", "eab", "--data", Data, "--user", user, "--template", template, "--valid-for", validFor);

        Assert.True(run.Exit == exit, $"exit {run.Exit}: {run.Err}");
        var lines = run.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1 && lines[0].StartsWith("error: ", StringComparison.Ordinal), run.Err);
        Assert.Contains(says, run.Err, StringComparison.Ordinal);
        Assert.Equal("", run.Out);
        Assert.DoesNotContain("AcmeEabKeyIssued", (await Cli.RunAsync("audit", "export", "--data", Data)).Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AcmeEab_NoDataDirectory_UsageErrorNothingCreated()
    {
        var run = await Cli.RunAsync("acme", "eab", "--data", Data, "--user", "alice", "--template", "tls-acme-test");

        Assert.Equal(2, run.Exit);
        Assert.False(Directory.Exists(Data));
    }
}
