using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenCM.Application;
using OpenCM.Cards;
using OpenCM.Client;
using OpenCM.Contracts;
using OpenCM.Domain;
using OpenCM.Server.Auth;
using OpenCM.Smartcards;
using OpenCM.Server.Hosting;

namespace OpenCM.Server.Tests;

/// <summary>Every line any logger writes, with its category and level.</summary>
public sealed class CapturingLoggerProvider : ILoggerProvider
{
    public ConcurrentQueue<(string Category, LogLevel Level, string Text)> Lines { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Capture(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Capture(CapturingLoggerProvider owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner.Lines.Enqueue((category, logLevel, formatter(state, exception) + (exception is null ? "" : "\n" + exception)));
    }
}

public sealed class CapturedLogsFixture : ServerFixture
{
    public CapturingLoggerProvider Logs { get; } = new();

    protected override void ConfigureServices(IServiceCollection services) => services.AddSingleton<ILoggerProvider>(Logs);
}

/// <summary>Issue #7.9: quiet, secret-free logs.</summary>
public sealed class LogTests : IClassFixture<CapturedLogsFixture>
{
    private readonly CapturedLogsFixture _server;

    public LogTests(CapturedLogsFixture server) => _server = server;

    [Fact]
    public async Task CardSecrets_KeysResponsesAndProposedPin_NeverInLogsOrAudit()
    {
        // A card template whose server proposes the PIN, and a card bound to a request.
        var template = Guid.NewGuid();
        await _server.Services.GetRequiredService<TemplateService>().ImportAsync($$"""
            uuid: {{template}}
            name: Logged card {{template:N}}
            isVirtualSmartcardProfileTemplate: true
            policies:
              Enroll: { enabled: true, selfServiceEnabled: true }
            smartcard:
              userPinOption: ServerProposed
            """, "logged.yaml", Guid.Empty, "test");
        var user = await _server.UserAsync("secrets");
        using var client = new OpenCmClient(_server.CreateClient(), await _server.TokenAsync(user));
        var request = await client.CreateRequestAsync(new CreateRequestBody(WireRequestType.Enroll, template, [], Comment: ""));
        using var device = EmulatedCard.CreateVirtual(AdminKeys.FromHex(SmartcardConfiguration.BaseCspDefaultAdminKeyHex));
        _server.Logs.Lines.Clear();
        var card = await client.AssignSmartcardAsync(request, device.CardId, device.Atr);

        // Every secret the card routes hand out.
        var key = await client.DiversifiedKeyAsync(request, card, device.CardId);
        var response = await client.AuthenticationResponseAsync(request, card, device.CardId, device.GetChallenge(), diversified: true);
        var pin = await client.ProposedPinAsync(request, card);
        string[] secrets = [Convert.ToBase64String(key), Convert.ToHexString(key), Convert.ToBase64String(response), Convert.ToHexString(response), pin];

        var logged = string.Join("\n", _server.Logs.Lines.Select(l => l.Text));
        var audited = string.Join("\n", (await _server.Services.GetRequiredService<IAuditLog>().ForSubjectAsync(request)).Select(a => a.Event.Detail));
        Assert.All(secrets, secret =>
        {
            Assert.DoesNotContain(secret, logged, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain(secret, audited, StringComparison.OrdinalIgnoreCase);
        });

        // What was handed out, to whom, for which card, is on record.
        Assert.Contains($"card={card:D}", audited, StringComparison.Ordinal);
    }

    [Fact]
    public async Task InvalidTokenFlood_AtMostOneCompactLineAndNoTokenOrQueryCredential()
    {
        var client = _server.CreateClient();
        _server.Logs.Lines.Clear();
        for (var i = 0; i < 200; i++)
        {
            var request = new HttpRequestMessage(HttpMethod.Get, $"{ServerFixture.Api}/me?access_token=query-secret-{i}");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", $"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.forged-secret-{i}");
            Assert.Equal(HttpStatusCode.Unauthorized, (await client.SendAsync(request)).StatusCode);
        }

        var lines = _server.Logs.Lines.ToList();
        Assert.DoesNotContain(lines, l => l.Text.Contains("secret", StringComparison.Ordinal));
        var refused = lines.Where(l => l.Category == typeof(RefusedTokenLog).FullName).ToList();
        Assert.Single(refused);
        Assert.True(lines.Count(l => l.Level >= LogLevel.Information) <= 2, string.Join("\n", lines.Select(l => $"{l.Category} {l.Level}: {l.Text.Split('\n')[0]}")));
    }

    [Fact]
    public async Task DataProtection_KeysInTheDatabaseSealedUnderTheMasterKey()
    {
        // Something that uses data protection (the portal's cookies, antiforgery) makes a key.
        var protector = _server.Services.GetRequiredService<Microsoft.AspNetCore.DataProtection.IDataProtectionProvider>().CreateProtector("test");
        Assert.Equal("hello"u8.ToArray(), protector.Unprotect(protector.Protect("hello"u8.ToArray())));

        // In the database (every node reads the same ring), sealed; nothing in the data directory.
        await using var conn = await _server.Services.GetRequiredService<OpenCM.Storage.StorageProvider>().OpenReadAsync();
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT xml FROM dataprotection_keys";
        var xml = (string)(await cmd.ExecuteScalarAsync())!;
        Assert.False(Directory.Exists(Path.Combine(_server.Services.GetRequiredService<DataOptions>().DataDirectory, "dataprotection-keys")));
        Assert.Contains("sealedByMasterKey", xml, StringComparison.Ordinal);
        Assert.DoesNotContain("<masterKey", xml, StringComparison.Ordinal);
        Assert.DoesNotContain(_server.Logs.Lines, l => l.Text.Contains("not be encrypted", StringComparison.Ordinal) || l.Text.Contains("unencrypted", StringComparison.Ordinal));
    }

    [Fact]
    public void RefusedTokenLog_OneLineASecondCountingTheRest()
    {
        var logs = new CapturingLoggerProvider();
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(TestKit.Samples.Now);
        var log = new RefusedTokenLog(new LoggerFactory([logs]).CreateLogger<RefusedTokenLog>(), clock);
        for (var i = 0; i < 1000; i++)
        {
            log.Refused("SecurityTokenSignatureKeyNotFoundException", "c");
        }

        clock.Advance(TimeSpan.FromSeconds(1));
        log.Refused("SecurityTokenExpiredException", "c");
        var lines = logs.Lines.Select(l => l.Text).ToList();
        Assert.Equal(2, lines.Count);
        Assert.Contains("999 more refusals", lines[1], StringComparison.Ordinal);
    }

    [Fact]
    public void AppFolderSettings_LowestPriority_WorkingDirectoryAndCommandLineOverride()
    {
        using var dir = new TestKit.TempDirectory();
        File.WriteAllText(dir.File("appsettings.json"), """{"Logging":{"LogLevel":{"Default":"Warning"}},"Only":"app folder","Both":"app folder"}""");
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Both"] = "command line" });
        OpenCmServices.AddAppFolderSettings(configuration, dir.Path);
        var built = configuration.Build();
        Assert.Equal(("app folder", "command line", "Warning"), (built["Only"], built["Both"], built["Logging:LogLevel:Default"]));
    }

    [Fact]
    public async Task Build_DefaultHost_NoSettingsFileIsWatched()
    {
        // The watcher would cover the working directory's tree, the default data directory with it, and wake for every WAL write.
        using var dir = new TestKit.TempDirectory();
        await using var app = OpenCM.Server.Hosting.OpenCmServer.Build(["--data", dir.Path, "--urls", "http://127.0.0.1:0"]);
        var files = ((IConfigurationRoot)app.Configuration).Providers.OfType<Microsoft.Extensions.Configuration.FileConfigurationProvider>().ToList();
        Assert.NotEmpty(files);
        Assert.All(files, f => Assert.False(f.Source.ReloadOnChange, f.Source.Path));
    }
}
