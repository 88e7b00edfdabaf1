using OpenCM.Storage.Postgres;
using OpenCM.TestKit;

namespace OpenCM.Storage.Postgres.Tests;

/// <summary>The event outbox and delivery log contract on a real PostgreSQL, a fresh database per test.</summary>
public sealed class PostgresNotificationStoreTests : NotificationStoreContract
{
    protected override async Task<StorageProvider> CreateAsync()
    {
        var server = await PostgresServer.Shared;
        Prerequisite.SkipIfMissing(server is null, PostgresServer.SkipReason);
        return new PostgresStorage(await server!.CreateDatabaseAsync());
    }
}
