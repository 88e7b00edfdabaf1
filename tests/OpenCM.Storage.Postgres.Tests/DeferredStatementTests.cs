using System.Data.Common;
using OpenCM.Application;
using OpenCM.Security.Sddl;
using OpenCM.Storage;
using OpenCM.Storage.Postgres;
using OpenCM.TestKit;

namespace OpenCM.Storage.Postgres.Tests;

/// <summary>
/// On PostgreSQL the statements of a write whose outcome nobody reads (reader rows, audit and
/// outbox inserts) go with a later statement of the same group-commit batch (issue #25). A held
/// statement that fails there must still fail only its own write.
/// </summary>
public sealed class DeferredStatementTests
{
    [SkippableFact]
    public async Task Writes_OneHeldStatementFailsAmongABatch_OnlyThatWriteFailsAndTheChainVerifies()
    {
        var server = await PostgresServer.Shared;
        Prerequisite.SkipIfMissing(server is null, PostgresServer.SkipReason);
        await using var db = new PostgresStorage(await server!.CreateDatabaseAsync()) { AuditKey = Samples.AuditKey };
        await db.MigrateAsync(Samples.Clock());
        var transactions = new SqlTransactions(db);
        var reader = Sid.Parse("S-1-5-21-1-2-3-1001");

        // Twenty creations queued at once, so that the writer takes several in one batch. The
        // seventh names its reader twice: its second reader row breaks the primary key, in a
        // statement held back and sent with whatever the writer runs next.
        var requests = Enumerable.Range(0, 20).Select(_ => Samples.Request()).ToArray();
        var writes = requests.Select((r, i) => transactions.RunAsync(async (uow, c) =>
        {
            await uow.Requests.InsertAsync(r, i == 7 ? [reader, reader] : [reader], c);
            await uow.Audit.AppendAsync(Samples.Audit(r.Uuid), c);
            return i;
        })).ToArray();

        await Assert.ThrowsAnyAsync<DbException>(() => writes[7]);
        var store = new SqlRequestStore(db);
        for (var i = 0; i < writes.Length; i++)
        {
            if (i != 7)
            {
                Assert.Equal(i, await writes[i]);
            }

            Assert.Equal(i != 7, await store.FindAsync(requests[i].Uuid) is not null);
        }

        var audit = await AuditChain.VerifyAsync(new SqlAuditLog(db), Samples.AuditKey);
        Assert.True(audit.IsIntact);
    }
}
