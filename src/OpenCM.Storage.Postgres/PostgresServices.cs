using Microsoft.Extensions.DependencyInjection;
using OpenCM.Storage;

namespace OpenCM.Storage.Postgres;

/// <summary>PostgreSQL for one or several nodes (SPEC §10).</summary>
public static class PostgresServices
{
    /// <summary>The name <c>OpenCM:Database</c> gives this provider.</summary>
    public const string Name = "postgres";

    /// <summary>
    /// Registers PostgreSQL at the connection string <paramref name="connectionString"/> names,
    /// and the SQL stores over it. The host registers the master key (every node needs the same
    /// one); the schema is migrated by <c>IStorageSchema.MigrateAsync</c> at start-up.
    /// </summary>
    public static IServiceCollection AddOpenCmPostgres(this IServiceCollection services, Func<IServiceProvider, string> connectionString)
    {
        ArgumentNullException.ThrowIfNull(connectionString);
        services.AddSingleton(sp => new PostgresStorage(connectionString(sp)));
        return services.AddOpenCmStorageProvider(Name, sp => sp.GetRequiredService<PostgresStorage>());
    }
}
