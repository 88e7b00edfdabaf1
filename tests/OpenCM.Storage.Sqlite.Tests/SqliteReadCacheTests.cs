using OpenCM.Storage;
using OpenCM.Storage.Sqlite;
using OpenCM.TestKit;

namespace OpenCM.Storage.Sqlite.Tests;

/// <summary>The read cache over a SQLite file; "another process" is a second <see cref="SqliteStorage"/> on the same file, as the CLI beside a server.</summary>
public sealed class SqliteReadCacheTests : ReadCacheContract, IDisposable
{
    private readonly TempDirectory _dir = new();

    protected override bool SignalIsSynchronous => true;

    protected override Task<StorageProvider> CreateAsync() => Task.FromResult<StorageProvider>(new SqliteStorage(_dir.File("opencm.db")));

    protected override Task<StorageProvider> OpenSecondAsync() => Task.FromResult<StorageProvider>(new SqliteStorage(_dir.File("opencm.db")));

    public void Dispose() => _dir.Dispose();
}
