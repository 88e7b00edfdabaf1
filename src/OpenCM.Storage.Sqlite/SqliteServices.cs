using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using OpenCM.Storage;

namespace OpenCM.Storage.Sqlite;

/// <summary>The embedded default: SQLite in a data directory (SPEC §10).</summary>
public static class SqliteServices
{
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
        services.AddSingleton<StorageProvider>(sp => sp.GetRequiredService<SqliteDataDirectory>().Storage);
        services.TryAddSingleton<IMasterKeyProvider>(sp => new FileMasterKeyProvider(sp.GetRequiredService<SqliteDataDirectory>().MasterKeyPath));
        return services.AddOpenCmSqlStores(sp => sp.GetRequiredService<SqliteDataDirectory>().Storage.DatabasePath);
    }
}
