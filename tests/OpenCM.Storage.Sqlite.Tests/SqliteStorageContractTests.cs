using Microsoft.Data.Sqlite;
using OpenCM.Application;
using OpenCM.Storage;
using OpenCM.Storage.Sqlite;
using OpenCM.TestKit;

namespace OpenCM.Storage.Sqlite.Tests;

/// <summary>The storage contract on a real SQLite file.</summary>
public sealed class SqliteStorageContractTests : StorageContract, IDisposable
{
    private readonly TempDirectory _dir = new();

    protected override Task<StorageProvider> CreateAsync() => Task.FromResult<StorageProvider>(new SqliteStorage(_dir.File("opencm.db")));

    public void Dispose() => _dir.Dispose();
}

public sealed class SqliteSpecificTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Open_NewDatabase_UsesWalAndFullSync()
    {
        await using var db = new SqliteStorage(_dir.File("opencm.db"));
        await db.MigrateAsync();
        await using var conn = await db.OpenReadAsync();
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "PRAGMA journal_mode";
        Assert.Equal("wal", (string)(await cmd.ExecuteScalarAsync())!);
    }

    [Fact]
    public async Task OpenDataDirectory_New_OwnerOnlyWithKeyFile()
    {
        var root = _dir.File("data");
        await using (var data = await SqliteDataDirectory.OpenAsync(root))
        {
            Assert.True(data.IsNew);
            new FileMasterKeyProvider(data.MasterKeyPath).Load();
        }

        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(root));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(root, SqliteDataDirectory.MasterKeyFile)));
        }

        await using var again = await SqliteDataDirectory.OpenAsync(root);
        Assert.False(again.IsNew);
    }

    [Fact]
    public async Task AuditEvents_UpdateOrDelete_RefusedByDatabase()
    {
        await using var db = new SqliteStorage(_dir.File("opencm.db"));
        await db.MigrateAsync();
        var r = Samples.Request();
        await new SqlTransactions(db).RunAsync(async (uow, c) => { await uow.Requests.InsertAsync(r, [], c); await uow.Audit.AppendAsync(Samples.Audit(r.Uuid), c); return 0; });
        await Assert.ThrowsAsync<SqliteException>(() => db.WriteAsync(async (tx, c) =>
        {
            await using var cmd = tx.Connection!.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = "DELETE FROM audit_events";
            return await cmd.ExecuteNonQueryAsync(c);
        }));
    }

    [Fact]
    public async Task Verify_TamperedEvent_NamesFirstBadEvent()
    {
        var path = _dir.File("opencm.db");
        await using (var db = new SqliteStorage(path))
        {
            await db.MigrateAsync();
            for (var i = 0; i < 4; i++)
            {
                var r = Samples.Request();
                await new SqlTransactions(db).RunAsync(async (uow, c) => { await uow.Requests.InsertAsync(r, [], c); await uow.Audit.AppendAsync(Samples.Audit(r.Uuid), c); return 0; });
            }
        }

        // An attacker with file access drops the guard and edits event 3.
        await using (var raw = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            await raw.OpenAsync();
            await using var cmd = raw.CreateCommand();
            cmd.CommandText = "DROP TRIGGER audit_events_no_update; UPDATE audit_events SET detail = 'forged' WHERE seq = 3";
            await cmd.ExecuteNonQueryAsync();
        }

        await using var reopened = new SqliteStorage(path);
        var result = await AuditChain.VerifyAsync(new SqlAuditLog(reopened));
        Assert.Equal(3, result.FirstBad);
    }
}

public sealed class SqliteSchemaTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Schema_NewDatabaseNotMigrated_NotReadyWithoutInternals()
    {
        await using var db = new SqliteStorage(_dir.File("opencm.db"));
        var status = await new SqlStorageSchema(db, _dir.File("opencm.db")).CheckAsync();
        Assert.Equal((false, "database unreachable or not initialized"), (status.IsReady, status.Detail));
        await new SqlStorageSchema(db, "x").MigrateAsync();
        Assert.True((await new SqlStorageSchema(db, "x").CheckAsync()).IsReady);
    }
}
