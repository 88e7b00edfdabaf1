using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using OpenCM.Storage;

namespace OpenCM.Storage.Sqlite;

/// <summary>The embedded default: SQLite in a data directory (SPEC §10).</summary>
public static class SqliteServices
{
    /// <summary>The name <c>OpenCM:Database</c> gives this provider.</summary>
    public const string Name = "sqlite";

    /// <summary>
    /// Registers SQLite in the data directory <paramref name="dataDirectory"/> names, and the SQL
    /// stores over it. The master key defaults to the directory's key file; a host that registers
    /// its own <see cref="IMasterKeyProvider"/> first keeps it. Opening creates the directory and
    /// the database file; the schema is migrated by <c>IStorageSchema.MigrateAsync</c> at start-up.
    /// </summary>
    public static IServiceCollection AddOpenCmSqlite(this IServiceCollection services, Func<IServiceProvider, string> dataDirectory)
    {
        ArgumentNullException.ThrowIfNull(dataDirectory);
        services.AddSingleton(sp => SqliteDataDirectory.Open(dataDirectory(sp)));
        services.TryAddSingleton<IMasterKeyProvider>(sp => new FileMasterKeyProvider(sp.GetRequiredService<SqliteDataDirectory>().MasterKeyPath, mayCreate: true));
        return services.AddOpenCmStorageProvider(Name, sp => sp.GetRequiredService<SqliteDataDirectory>().Storage);
    }
}
