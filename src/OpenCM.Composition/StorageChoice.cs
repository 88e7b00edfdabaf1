using Microsoft.Extensions.DependencyInjection;
using OpenCM.Storage;
using OpenCM.Storage.Postgres;
using OpenCM.Storage.Sqlite;

namespace OpenCM.Composition;

/// <summary>Storage settings (configuration section <c>OpenCM</c>).</summary>
public sealed class DataOptions
{
    /// <summary>The configuration section it is bound from (docs/configuration.md lists its keys).</summary>
    public const string Section = "OpenCM";

    public const string DefaultDirectory = "opencm-data";

    /// <summary>The data directory: the SQLite database, and the master key file unless <see cref="MasterKey"/> is given.</summary>
    public string DataDirectory { get; set; } = DefaultDirectory;

    /// <summary>Base64 master key from a secret manager; otherwise DataDirectory/master.key. Every node of a cluster needs the same.</summary>
    public string? MasterKey { get; set; }

    /// <summary><c>sqlite</c> (the embedded default) or <c>postgres</c> (SPEC §10).</summary>
    public string Database { get; set; } = SqliteServices.Name;

    /// <summary>For <c>postgres</c>: the Npgsql connection string.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>The provider <see cref="Database"/> names (<see cref="StorageChoice.Provider"/>); anything but the two names is refused.</summary>
    public string Provider => StorageChoice.Provider(Database);

    /// <summary>Whether the data lives in PostgreSQL rather than in the data directory.</summary>
    public bool IsPostgres => Provider == PostgresServices.Name;
}

/// <summary>
/// The one place a storage provider is chosen (SPEC §10): the server, <c>opencm</c>'s commands
/// over a data directory and <c>opencm db copy</c> all read a database name through
/// <see cref="Provider"/>, and the providers register themselves under those names.
/// </summary>
public static class StorageChoice
{
    /// <summary>
    /// The provider a database name chooses: none (the embedded default) or <c>sqlite</c> is
    /// SQLite; <c>postgres</c> or <c>postgresql</c> is PostgreSQL; anything else is refused.
    /// </summary>
    public static string Provider(string? database) => database?.Trim().ToLowerInvariant() switch
    {
        null or "" or SqliteServices.Name => SqliteServices.Name,
        PostgresServices.Name or "postgresql" => PostgresServices.Name,
        _ => throw new ConfigurationRefusedException($"OpenCM:Database is '{database}'; it is 'sqlite' or 'postgres'."),
    };

    /// <summary>
    /// Both providers, registered by themselves and opened only if chosen; the one chosen by
    /// <see cref="DataOptions.Database"/> serves. The master key comes from configuration when
    /// given (a secret manager), else from the data directory's key file, whichever the database.
    /// </summary>
    public static IServiceCollection AddOpenCmStorage(this IServiceCollection services)
    {
        services.AddSingleton<IMasterKeyProvider>(sp => sp.GetRequiredService<DataOptions>() is { MasterKey: { Length: > 0 } configured }
            ? new ConfiguredMasterKeyProvider(configured)
            : sp.GetService<MasterKeyCreation>() is not null && !HoldsEmbeddedDatabase(sp.GetRequiredService<DataOptions>())
                ? new FileMasterKeyProvider(KeyFileIn(sp.GetRequiredService<DataOptions>().DataDirectory), mayCreate: true)
                : new FileMasterKeyProvider(Path.Combine(Path.GetFullPath(sp.GetRequiredService<DataOptions>().DataDirectory), SqliteDataDirectory.MasterKeyFile), mayCreate: false));
        services.AddSingleton(sp => sp.GetRequiredKeyedService<StorageProvider>(sp.GetRequiredService<DataOptions>().Provider));
        services.AddOpenCmSqlite(sp => sp.GetRequiredService<DataOptions>().DataDirectory);
        services.AddOpenCmPostgres(sp => sp.GetRequiredService<DataOptions>().ConnectionString is { Length: > 0 } c
            ? c
            : throw new ConfigurationRefusedException("OpenCM:Database is postgres: give the connection string (--connection or OpenCM:ConnectionString)."));
        return services;
    }

    /// <summary>
    /// Lets this process create the master key file when it is missing: only hosts that initialize
    /// an installation call it (<c>opencm init</c>, the server, whose first start initializes).
    /// Without it a missing key file is refused (<see cref="MasterKeyMissingException"/>) and
    /// nothing is written, not even the data directory (issue #23.7).
    /// </summary>
    public static IServiceCollection AllowMasterKeyCreation(this IServiceCollection services) =>
        services.AddSingleton<MasterKeyCreation>();

    /// <summary>
    /// A provider outside a host, for tools that move data between two (<c>opencm db copy</c>):
    /// <paramref name="location"/> is the data directory or the connection string. The caller disposes it.
    /// </summary>
    public static StorageProvider Open(string database, string location) => Provider(database) switch
    {
        SqliteServices.Name => SqliteDataDirectory.Open(location).Storage,
        _ => new PostgresStorage(location),
    };

    /// <summary>Whether <paramref name="dataDirectory"/> holds an embedded database already.</summary>
    public static bool HasSqliteDatabase(string dataDirectory) =>
        File.Exists(Path.Combine(Path.GetFullPath(dataDirectory), SqliteDataDirectory.DatabaseFile));

    /// <summary>
    /// The master key file in the data directory, which is made owner-only (on PostgreSQL it holds
    /// only this file). Every node of a cluster needs a copy of the same key file, or <c>OpenCM:MasterKey</c>.
    /// </summary>
    // An embedded installation already initialized: its database's secrets are sealed under the
    // key that is missing, so a fresh key would only end in "the master key does not match" and
    // leave a wrong master.key behind. Even a host that may create keys refuses there (issue #23.7).
    private static bool HoldsEmbeddedDatabase(DataOptions options) =>
        !options.IsPostgres
        && File.Exists(Path.Combine(Path.GetFullPath(options.DataDirectory), SqliteDataDirectory.DatabaseFile));

    public static string KeyFileIn(string dataDirectory) =>
        Path.Combine(OwnerOnly.CreateDirectory(dataDirectory), SqliteDataDirectory.MasterKeyFile);
}

/// <summary>
/// Settings OpenCM refuses to start with (an unknown <c>OpenCM:Database</c>, PostgreSQL without a
/// connection string): its message says what to set, so the CLI shows it as it is. Still an
/// <see cref="InvalidOperationException"/> for hosts that report those at start.
/// </summary>
public sealed class ConfigurationRefusedException : InvalidOperationException
{
    public ConfigurationRefusedException()
    {
    }

    public ConfigurationRefusedException(string message)
        : base(message)
    {
    }

    public ConfigurationRefusedException(string message, Exception inner)
        : base(message, inner)
    {
    }
}

/// <summary>The marker <see cref="StorageChoice.AllowMasterKeyCreation"/> registers.</summary>
public sealed class MasterKeyCreation;
