using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using OpenCM.Application;

namespace OpenCM.Storage;

/// <summary>Registers the SQL stores over whichever <see cref="StorageProvider"/> a provider registered.</summary>
public static class StorageServices
{
    /// <summary>The ports every SQL provider serves with the same statements; <paramref name="location"/> describes where the data lives.</summary>
    public static IServiceCollection AddOpenCmSqlStores(this IServiceCollection services, Func<IServiceProvider, string> location)
    {
        services.AddSingleton<ITransactions, SqlTransactions>();
        services.AddSingleton<IRequestStore, SqlRequestStore>();
        services.AddSingleton<IProfileStore, SqlProfileStore>();
        services.AddSingleton<ISmartcardStore, SqlSmartcardStore>();
        services.AddSingleton<ICertificateStore, SqlCertificateStore>();
        services.AddSingleton<ITemplateStore, SqlTemplateStore>();
        services.AddSingleton<IAuditLog, SqlAuditLog>();
        services.AddSingleton<ICaOutbox, SqlCaOutbox>();
        services.AddSingleton<SqlDirectory>();
        services.AddSingleton<IDirectory>(sp => sp.GetRequiredService<SqlDirectory>());
        services.AddSingleton<IStorageSchema>(sp => new SqlStorageSchema(sp.GetRequiredService<StorageProvider>(), location(sp), sp.GetRequiredService<TimeProvider>()));

        // Secrets and archived keys are sealed under the master key, wherever the host says it comes from.
        services.AddSingleton(sp => new SecretStore(sp.GetRequiredService<StorageProvider>(), sp.GetRequiredService<IMasterKeyProvider>().Load(), sp.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton<IKeySealer>(sp => new MasterKeySealer(sp.GetRequiredService<IMasterKeyProvider>().Load()));
        return services;
    }
}
