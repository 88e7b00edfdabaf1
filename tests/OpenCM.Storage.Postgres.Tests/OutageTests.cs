using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.Storage;
using OpenCM.Storage.Postgres;
using OpenCM.TestKit;

namespace OpenCM.Storage.Postgres.Tests;

/// <summary>
/// Issue #17's Unavailable gap: a store that opened its own connection and then had a statement
/// fail (a pooled connection the database dropped) threw the driver's exception untyped, which
/// the HTTP edge answered 500. Every store read goes through the provider now, which raises
/// <see cref="ErrorKind.Unavailable"/> (503) itself.
/// </summary>
public sealed class OutageTests
{
    [SkippableFact]
    public async Task StoreReads_DatabaseStoppedUnderPooledConnections_UnavailableThenRecoverByThemselves()
    {
        var pg = await PostgresServer.StartNewAsync();
        Prerequisite.SkipIfMissing(pg is null, PostgresServer.SkipReason);
        try
        {
            await ReadThroughAnOutageAsync(pg!);
        }
        finally
        {
            // This test's own cluster ends with it: a postmaster that pg_ctl restarted inherits the
            // test host's output pipe, and one left to the exit hook kept `dotnet test` waiting
            // under faketime.
            await pg!.StopAsync();
        }
    }

    private static async Task ReadThroughAnOutageAsync(PostgresServer pg)
    {
        await using var db = new PostgresStorage(await pg.CreateDatabaseAsync()) { AuditKey = Samples.AuditKey };
        await db.MigrateAsync(Samples.Clock());
        var reads = new (string Store, Func<Task> Read)[]
        {
            ("templates", () => new SqlTemplateStore(db).ListAsync()),
            ("certificates", () => new SqlCertificateStore(db).ListRevokedAsync(1)),
            ("smartcards", () => new SqlSmartcardStore(db).ForUserAsync(Guid.NewGuid())),
            ("profiles", () => new SqlProfileStore(db).CertificatesOfProfileAsync(Guid.NewGuid())),
            ("audit", () => new SqlAuditLog(db).ForSubjectAsync(Guid.NewGuid())),
            ("directory", () => new SqlDirectory(db).GroupsOfAsync(Guid.NewGuid())),
            ("outbox", () => new SqlCaOutbox(db).DueAsync(Samples.Now, 10)),
        };

        // 1. Every store reads once, so the pool holds open connections.
        await Task.WhenAll(reads.Select(r => r.Read()));

        // 2. The database goes away under them: each read is Unavailable, never the driver's error.
        await pg.StopAsync();
        foreach (var (store, read) in reads)
        {
            var failure = await Record.ExceptionAsync(read);
            Assert.True(failure is OpenCmException { Error.Kind: ErrorKind.Unavailable }, $"{store}: {failure?.GetType().Name}: {failure?.Message}");
        }

        // 3. It returns: the reads answer again without a restart of anything of OpenCM's.
        await pg.RestartAsync();
        foreach (var (store, read) in reads)
        {
            var failure = await Record.ExceptionAsync(read);
            Assert.True(failure is null || failure is OpenCmException { Error.Kind: ErrorKind.Unavailable }, $"{store}: {failure}");
        }

        foreach (var (_, read) in reads)
        {
            await read();
        }
    }
}
