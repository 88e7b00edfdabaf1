using OpenCM.Storage;
using OpenCM.Storage.Postgres;
using OpenCM.TestKit;

namespace OpenCM.Storage.Postgres.Tests;

/// <summary>The storage contract on a real PostgreSQL, a fresh database per test.</summary>
public sealed class PostgresStorageContractTests : StorageContract
{
    protected override async Task<StorageProvider> CreateAsync()
    {
        var server = await PostgresServer.Shared;
        Skip.If(server is null, PostgresServer.SkipReason);
        return new PostgresStorage(await server!.CreateDatabaseAsync());
    }
}
