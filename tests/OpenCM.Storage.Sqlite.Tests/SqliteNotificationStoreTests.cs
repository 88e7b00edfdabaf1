using OpenCM.Storage.Sqlite;
using OpenCM.TestKit;

namespace OpenCM.Storage.Sqlite.Tests;

/// <summary>The event outbox and delivery log contract on a real SQLite file.</summary>
public sealed class SqliteNotificationStoreTests : NotificationStoreContract, IDisposable
{
    private readonly TempDirectory _dir = new();

    protected override Task<StorageProvider> CreateAsync() => Task.FromResult<StorageProvider>(new SqliteStorage(_dir.File("opencm.db")));

    public void Dispose() => _dir.Dispose();
}
