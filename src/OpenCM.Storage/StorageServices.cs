using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using OpenCM.Application;

namespace OpenCM.Storage;

/// <summary>Registers the SQL stores over whichever <see cref="StorageProvider"/> the host chose.</summary>
public static class StorageServices
{
    /// <summary>
    /// Registers a provider under its name (<c>sqlite</c>, <c>postgres</c>) as a keyed
    /// <see cref="StorageProvider"/>, and the stores over the one the host chose. A host that
    /// registers <see cref="StorageProvider"/> itself first chooses; otherwise the first provider
    /// registered serves. Nothing is opened until resolved, so a provider not chosen costs nothing.
    /// </summary>
    public static IServiceCollection AddOpenCmStorageProvider(this IServiceCollection services, string name, Func<IServiceProvider, StorageProvider> open)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(open);
        services.AddKeyedSingleton(name, (sp, _) =>
        {
            // The audit chain's key comes from the master key, wherever the host says that comes from.
            // Loaded when first needed, so that migrating alone reads (or creates) no key file.
            // The key's provider is made before the database is opened: whether it may create a key
            // depends on whether the database existed before this start (StorageChoice, issue #23.7).
            var keys = sp.GetService<IMasterKeyProvider>();
            var provider = open(sp);
            if (keys is not null)
            {
                provider.UseAuditKey(() => keys.Load().AuditChainKey());
            }

            return provider;
        });
        services.TryAddSingleton(sp => sp.GetRequiredKeyedService<StorageProvider>(name));
        return services.AddOpenCmSqlStores();
    }

    /// <summary>
    /// Puts the read cache (<see cref="CachedRequestStore"/>, decision 0016) in front of the
    /// request store when <see cref="ReadCacheOptions.Enabled"/>: a host that serves reads calls it
    /// (the server); the commands of <c>opencm</c> read the database directly.
    /// </summary>
    public static IServiceCollection AddOpenCmRequestReadCache(this IServiceCollection services, Func<IServiceProvider, ReadCacheOptions> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        services.TryAddSingleton(options);
        services.Replace(ServiceDescriptor.Singleton<IRequestStore>(sp =>
        {
            var settings = sp.GetRequiredService<ReadCacheOptions>();
            var db = sp.GetRequiredService<StorageProvider>();
            var sql = new SqlRequestStore(db);
            return settings.Enabled ? new CachedRequestStore(sql, db, settings) : sql;
        }));
        return services;
    }

    /// <summary>The ports every SQL provider serves with the same statements; registered once however many providers are.</summary>
    public static IServiceCollection AddOpenCmSqlStores(this IServiceCollection services)
    {
        services.TryAddSingleton<ITransactions, SqlTransactions>();
        services.TryAddSingleton<IRequestStore, SqlRequestStore>();
        services.TryAddSingleton<IProfileStore, SqlProfileStore>();
        services.TryAddSingleton<ISmartcardStore, SqlSmartcardStore>();
        services.TryAddSingleton<ICertificateStore, SqlCertificateStore>();
        services.TryAddSingleton<IAuthorityStore, SqlAuthorityStore>();
        services.TryAddSingleton<ITemplateStore, SqlTemplateStore>();
        services.TryAddSingleton<IAuditLog, SqlAuditLog>();
        services.TryAddSingleton<ICaOutbox, SqlCaOutbox>();
        services.TryAddSingleton<IReportStore, SqlReportStore>();
        services.TryAddSingleton<SqlNotificationOutbox>();
        services.TryAddSingleton<INotificationOutbox>(sp => sp.GetRequiredService<SqlNotificationOutbox>());
        services.TryAddSingleton<ICertificateFacts>(sp => sp.GetRequiredService<SqlNotificationOutbox>());
        services.TryAddSingleton<IOperationalCounts, SqlOperationalCounts>();
        services.TryAddSingleton<SqlDirectory>();
        services.TryAddSingleton<IDirectory>(sp => sp.GetRequiredService<SqlDirectory>());
        services.TryAddSingleton<IDirectoryAdministration>(sp => sp.GetRequiredService<SqlDirectory>());
        services.TryAddSingleton<IDataProtectionKeyStore, SqlDataProtectionKeys>();
        services.TryAddSingleton<IPortalSessions, SqlPortalSessions>();
        services.TryAddSingleton<IExternalAccountKeys, SqlExternalAccountKeys>();
        services.TryAddSingleton<IDeviceSubmissions, SqlDeviceSubmissions>();
        services.TryAddSingleton<IScepChallengeStore, SqlScepChallengeStore>();
        services.TryAddSingleton<IAcmeStore, SqlAcmeStore>();
        services.TryAddSingleton<IStorageSchema>(sp => new SqlStorageSchema(sp.GetRequiredService<StorageProvider>(), sp.GetRequiredService<StorageProvider>().Location, sp.GetRequiredService<TimeProvider>()));

        // Secrets and archived keys are sealed under the master key, wherever the host says it comes from.
        services.TryAddSingleton(sp => new SecretStore(sp.GetRequiredService<StorageProvider>(), sp.GetRequiredService<IMasterKeyProvider>().Load(), sp.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton<IKeySealer>(sp => new MasterKeySealer(sp.GetRequiredService<IMasterKeyProvider>().Load()));
        services.TryAddSingleton(sp => sp.GetRequiredService<StorageProvider>().AuditKey ?? sp.GetRequiredService<IMasterKeyProvider>().Load().AuditChainKey());
        return services;
    }
}
