using System.Data.Common;
using OpenCM.Application;
using OpenCM.Domain;
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
        Prerequisite.SkipIfMissing(server is null, PostgresServer.SkipReason);
        return new PostgresStorage(await server!.CreateDatabaseAsync());
    }

    // The tables' owner (here the superuser the tests connect as) can disable the append-only triggers.
    protected override Task TamperAsync(string sql) => Db.WriteAsync(async (tx, c) =>
    {
        await using var cmd = tx.Connection!.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = $"ALTER TABLE audit_events DISABLE TRIGGER USER; {sql}; ALTER TABLE audit_events ENABLE TRIGGER USER";
        return await cmd.ExecuteNonQueryAsync(c);
    });

    [SkippableFact]
    public async Task AuditEvents_Truncate_RefusedEvenForTheOwner()
    {
        await new SqlTransactions(Db).RunAsync(async (uow, c) => { await uow.Audit.AppendAsync(Samples.Audit(Guid.NewGuid()), c); return 0; });
        var refused = await Assert.ThrowsAsync<Npgsql.PostgresException>(() => Db.WriteAsync(async (tx, c) =>
        {
            await using var cmd = tx.Connection!.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = "TRUNCATE audit_events";
            return await cmd.ExecuteNonQueryAsync(c);
        }));
        Assert.Contains("append-only", refused.MessageText, StringComparison.Ordinal);
        Assert.True((await AuditChain.VerifyAsync(new SqlAuditLog(Db), Samples.AuditKey)).IsIntact);
    }

    [SkippableFact]
    public async Task Templates_SavedOnTwoNodesAtOnce_TheLaterSaveIsAConflict()
    {
        // The test's own connection plays a second node: it saves version 2 and holds the row
        // until this node's save has read version 1 and waits on the row lock; then it commits.
        var store = new SqlTemplateStore(Db);
        var t = new ProfileTemplate { Uuid = Guid.NewGuid(), Name = "Two Nodes", Version = 1 };
        var transactions = new SqlTransactions(Db);
        Assert.True(await transactions.RunAsync((uow, c) => uow.Templates.TryStoreVersionAsync(t, 0, Samples.Now, c)));
        await using var otherNode = await Db.OpenReadAsync();
        await using var tx = await otherNode.BeginTransactionAsync();
        await ExecuteAsync(otherNode, tx, $"UPDATE templates SET version = 2, body = replace(body, '\"Description\":\"\"', '\"Description\":\"theirs\"') WHERE uuid = '{t.Uuid:D}'");

        // This node read version 1 and stores version 2 by compare-and-set on it: zero rows once the other commits.
        var mine = transactions.RunAsync((uow, c) => uow.Templates.TryStoreVersionAsync(t with { Description = "mine", Version = 2 }, 1, Samples.Now, c));
        await WaitForALockWaitAsync();
        await tx.CommitAsync();

        Assert.False(await mine);
        var found = await store.FindAsync(t.Uuid);
        Assert.Equal((2, "theirs"), (found!.Version, found.Description));
    }

    [SkippableFact]
    public async Task DbCopy_IntoAnEmptyDatabase_EveryTableOfTheSchemaCopied()
    {
        var server = await PostgresServer.Shared;
        await using var target = new PostgresStorage(await server!.CreateDatabaseAsync()) { AuditKey = Samples.AuditKey };
        await StorageCopyCheck.CopyAsync_EveryTableOfTheSchema_SameRowsOnBothSides(Db, target,
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'");
    }

    [SkippableFact]
    public async Task Templates_NameTakenOnAnotherNodeMeanwhile_WriteConflictNotAServerError()
    {
        // The other node inserts the name and holds it uncommitted; this node's insert of the same
        // name waits on the unique index, then meets the committed row: nothing is written.
        var transactions = new SqlTransactions(Db);
        await using var otherNode = await Db.OpenReadAsync();
        await using var tx = await otherNode.BeginTransactionAsync();
        var theirs = Guid.NewGuid();
        var body = $"{{\"Uuid\":\"{theirs:D}\",\"Name\":\"Raced\"}}";
        await ExecuteAsync(otherNode, tx, $"INSERT INTO templates (uuid, name, name_key, version, body, updated) VALUES ('{theirs:D}', 'Raced', 'RACED', 1, '{body}', 0)");

        var mine = transactions.TryRunAsync<bool?>(async (uow, c) => await uow.Templates.TryStoreVersionAsync(new ProfileTemplate { Uuid = Guid.NewGuid(), Name = "raced", Version = 1 }, 0, Samples.Now, c));
        await WaitForALockWaitAsync();
        await tx.CommitAsync();

        Assert.NotEqual(true, await mine);
        Assert.Equal(theirs, Assert.Single(await new SqlTemplateStore(Db).ListAsync()).Uuid);
    }

    private static async Task ExecuteAsync(DbConnection connection, DbTransaction? tx, string sql)
    {
        await using var cmd = connection.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = sql;
        await cmd.ExecuteNonQueryAsync();
    }

    private async Task WaitForALockWaitAsync()
    {
        await using var watcher = await Db.OpenReadAsync();
        for (var i = 0; i < 200; i++)
        {
            await using var cmd = watcher.CreateCommand();
            cmd.CommandText = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()";
            if (Convert.ToInt64(await cmd.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture) > 0)
            {
                return;
            }

            await Task.Delay(50);
        }

        Assert.Fail("The second save never waited on the template's row lock.");
    }
}
