using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenCM.Application;
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

    private static ServiceProvider Compose(params (string Key, string Value)[] settings)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value)))
            .Build();
        return new ServiceCollection().AddSingleton<IConfiguration>(configuration).AddOpenCmCore().BuildServiceProvider();
    }
}
