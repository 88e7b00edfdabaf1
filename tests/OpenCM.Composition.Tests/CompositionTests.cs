using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenCM.Application;
using OpenCM.Security.Sddl;
using OpenCM.Storage;
using OpenCM.Storage.Postgres;
using OpenCM.Storage.Sqlite;
using OpenCM.TestKit;

namespace OpenCM.Composition.Tests;

public sealed class CompositionTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(null, SqliteServices.Name)]
    [InlineData("", SqliteServices.Name)]
    [InlineData("sqlite", SqliteServices.Name)]
    [InlineData("SQLite", SqliteServices.Name)]
    [InlineData("postgres", PostgresServices.Name)]
    [InlineData("PostgreSQL", PostgresServices.Name)]
    public void Provider_KnownName_ChoosesItsProvider(string? database, string provider) =>
        Assert.Equal(provider, StorageChoice.Provider(database));

    [Theory]
    [InlineData("oracle")]
    [InlineData("sqlserver")]
    [InlineData("postgres:Host=x")]
    public void Provider_UnknownName_RefusedNamingBoth(string database)
    {
        var e = Assert.Throws<ConfigurationRefusedException>(() => StorageChoice.Provider(database));
        Assert.Contains("'sqlite' or 'postgres'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Core_NoDatabaseNamed_TheSqliteProviderRegistrationServesTheDataDirectory()
    {
        await using var services = Compose(("OpenCM:DataDirectory", _dir.File("data")));
        var provider = services.GetRequiredService<StorageProvider>();
        Assert.Same(services.GetRequiredKeyedService<StorageProvider>(SqliteServices.Name), provider);
        Assert.Equal(Path.Combine(_dir.File("data"), SqliteDataDirectory.DatabaseFile), provider.Location);
        Assert.Equal(provider.Location, services.GetRequiredService<IStorageSchema>().Location);
    }

    [Fact]
    public async Task Core_PostgresNamed_ThePostgresProviderRegistrationServesWithoutOpeningSqlite()
    {
        await using var services = Compose(("OpenCM:DataDirectory", _dir.File("data")), ("OpenCM:Database", "postgresql"),
            ("OpenCM:ConnectionString", "Host=db.example;Port=5433;Database=cm;Username=u;Password=secret"));
        var provider = services.GetRequiredService<StorageProvider>();
        Assert.IsType<PostgresStorage>(provider);
        Assert.Equal("postgres://db.example:5433/cm", provider.Location);
        Assert.False(File.Exists(Path.Combine(_dir.File("data"), SqliteDataDirectory.DatabaseFile)));
    }

    [Fact]
    public async Task Core_PostgresWithoutConnection_RefusedNamingTheSetting()
    {
        await using var services = Compose(("OpenCM:Database", "postgres"));
        var e = Assert.Throws<ConfigurationRefusedException>(() => services.GetRequiredService<StorageProvider>());
        Assert.Contains("connection string", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Core_FirstStart_BootstrapsOverThePortsAndASecondStartReuses()
    {
        await using var services = Compose(("OpenCM:DataDirectory", _dir.File("data")));
        var first = await Bootstrapper.InitializeAsync(services);
        var second = await Bootstrapper.InitializeAsync(services);
        Assert.True(first.CreatedAdmin);
        Assert.NotEmpty(first.ImportedTemplates);
        Assert.Equal((false, 0, first.CaThumbprint), (second.CreatedAdmin, second.ImportedTemplates.Count, second.CaThumbprint));
        var admin = await services.GetRequiredService<IDirectory>().FindByNameAsync(Bootstrapper.AdminUser);
        Assert.Equal(admin, await services.GetRequiredService<IDirectory>().FindBySidAsync(admin!.Sid));
    }

    // Issue #19: AD holds only the groups its administrators made. A first start against one
    // without "CM Approvers" imports the samples that do not name it and says why the others
    // were left out, rather than failing to start.
    [Fact]
    public async Task Bootstrap_ReadOnlyDirectoryWithoutTheApproversGroup_StartsAndNamesTheSamplesLeftOut()
    {
        var directory = new GroupsOnlyDirectory("CM Managers");
        await using var services = Compose(s => s.AddSingleton(DirectorySource.Ldap).AddSingleton<IDirectory>(directory), ("OpenCM:DataDirectory", _dir.File("data")));

        var init = await Bootstrapper.InitializeAsync(services);

        Assert.False(init.CreatedAdmin);
        Assert.NotEmpty(init.ImportedTemplates);
        Assert.DoesNotContain("Approved User Certificate", init.ImportedTemplates);
        Assert.Contains(init.Notes ?? [], n => n.Contains("no group 'CM Approvers'", StringComparison.Ordinal));
        Assert.Contains(init.Notes ?? [], n => n.Contains("approved-user-certificate.yaml was not imported", StringComparison.Ordinal)
            && n.Contains("'CM Approvers' is not in the directory", StringComparison.Ordinal));
    }

    private static ServiceProvider Compose(params (string Key, string Value)[] settings) => Compose(_ => { }, settings);

    private static ServiceProvider Compose(Action<IServiceCollection> replace, params (string Key, string Value)[] settings)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value)))
            .Build();
        // Composed as the hosts that initialize an installation are (the server, opencm init): they may create the master key.
        var services = new ServiceCollection().AddSingleton<IConfiguration>(configuration).AddOpenCmCore().AllowMasterKeyCreation();
        replace(services);
        return services.BuildServiceProvider();
    }

    /// <summary>A read-only directory (as AD is to OpenCM) holding the named groups and nobody else.</summary>
    private sealed class GroupsOnlyDirectory(params string[] groups) : IDirectory
    {
        private static readonly Sid DomainSid = Sid.Parse("S-1-5-21-1-2-3");
        private readonly List<Principal> _groups = [.. groups.Select((g, i) => new Principal(Guid.NewGuid(), g, Sid.Parse($"S-1-5-21-1-2-3-{1100 + i}"), PrincipalKind.Group))];

        public Task<Principal?> FindAsync(Guid uuid, CancellationToken ct = default) => Task.FromResult(_groups.FirstOrDefault(g => g.Uuid == uuid));

        public Task<Principal?> FindByNameAsync(string name, CancellationToken ct = default) =>
            Task.FromResult(_groups.FirstOrDefault(g => string.Equals(g.Name, name, StringComparison.OrdinalIgnoreCase)));

        public Task<Principal?> FindBySidAsync(Sid sid, CancellationToken ct = default) => Task.FromResult(_groups.FirstOrDefault(g => g.Sid == sid));

        public Task<IReadOnlyList<Principal>> GroupsOfAsync(Guid userUuid, CancellationToken ct = default) => Task.FromResult<IReadOnlyList<Principal>>([]);

        public Task<IReadOnlyList<Principal>> UsersNamedByAsync(Sid sid, int max, CancellationToken ct = default) => Task.FromResult<IReadOnlyList<Principal>>([]);

        public Task<Sid> DomainSidAsync(CancellationToken ct = default) => Task.FromResult(DomainSid);
    }
}
