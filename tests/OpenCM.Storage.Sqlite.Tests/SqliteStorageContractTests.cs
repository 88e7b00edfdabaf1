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

    // Whoever can write the file can drop the append-only triggers.
    protected override Task TamperAsync(string sql) => Db.WriteAsync(async (tx, c) =>
    {
        await using var cmd = tx.Connection!.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "DROP TRIGGER IF EXISTS audit_events_no_update; DROP TRIGGER IF EXISTS audit_events_no_delete; " + sql;
        return await cmd.ExecuteNonQueryAsync(c);
    });

    public void Dispose() => _dir.Dispose();
}

public sealed class SqliteSpecificTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task DbCopy_IntoAnEmptyDatabase_EveryTableOfTheSchemaCopied()
    {
        await using var source = new SqliteStorage(_dir.File("source.db")) { AuditKey = Samples.AuditKey };
        await using var target = new SqliteStorage(_dir.File("target.db")) { AuditKey = Samples.AuditKey };
        await StorageCopyCheck.CopyAsync_EveryTableOfTheSchema_SameRowsOnBothSides(source, target,
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'");
    }

    [Fact]
    public async Task Open_NewDatabase_UsesWalAndFullSync()
    {
        await using var db = new SqliteStorage(_dir.File("opencm.db")) { AuditKey = Samples.AuditKey };
        await db.MigrateAsync(Samples.Clock());
        await using var conn = await db.OpenReadAsync();
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "PRAGMA journal_mode";
        Assert.Equal("wal", (string)(await cmd.ExecuteScalarAsync())!);
    }

    [Fact]
    public async Task OpenDataDirectory_New_OwnerOnlyWithKeyFile()
    {
        var root = _dir.File("data");
        await using (var data = await SqliteDataDirectory.OpenAsync(root, Samples.Clock()))
        {
            Assert.True(data.IsNew);
            new FileMasterKeyProvider(data.MasterKeyPath, mayCreate: true).Load();
        }

        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(root));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(root, SqliteDataDirectory.MasterKeyFile)));
        }

        await using var again = await SqliteDataDirectory.OpenAsync(root, Samples.Clock());
        Assert.False(again.IsNew);
    }

    [Fact]
    public async Task OpenDataDirectory_FoundWorldReadable_MadeOwnerOnlyFilesIncluded()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        // An installation made by an older version or by hand: 0755 directory, 0644 files.
        var root = _dir.File("old");
        await (await SqliteDataDirectory.OpenAsync(root, Samples.Clock())).DisposeAsync();
        File.SetUnixFileMode(root, (UnixFileMode)0b111_101_101);
        foreach (var file in Directory.EnumerateFiles(root))
        {
            File.SetUnixFileMode(file, (UnixFileMode)0b110_100_100);
        }

        await using var data = await SqliteDataDirectory.OpenAsync(root, Samples.Clock());
        data.Storage.AuditKey = Samples.AuditKey;
        await new SqlTransactions(data.Storage).RunAsync(async (uow, c) =>
        {
            var r = Samples.Request();
            await uow.Requests.InsertAsync(r, [], c);
            await uow.Audit.AppendAsync(Samples.Audit(r.Uuid), c);
            return 0;
        });
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(root));
        Assert.NotEmpty(Directory.EnumerateFiles(root, "*-wal"));
        foreach (var file in Directory.EnumerateFiles(root))
        {
            Assert.Equal((file, UnixFileMode.UserRead | UnixFileMode.UserWrite), (file, File.GetUnixFileMode(file)));
        }
    }

    [Fact]
    public async Task AuditEvents_UpdateOrDelete_RefusedByDatabase()
    {
        await using var db = new SqliteStorage(_dir.File("opencm.db")) { AuditKey = Samples.AuditKey };
        await db.MigrateAsync(Samples.Clock());
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
        await using (var db = new SqliteStorage(path) { AuditKey = Samples.AuditKey })
        {
            await db.MigrateAsync(Samples.Clock());
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

        await using var reopened = new SqliteStorage(path) { AuditKey = Samples.AuditKey };
        var result = await AuditChain.VerifyAsync(new SqlAuditLog(reopened), Samples.AuditKey);
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
        await using var db = new SqliteStorage(_dir.File("opencm.db")) { AuditKey = Samples.AuditKey };
        var status = await new SqlStorageSchema(db, _dir.File("opencm.db"), Samples.Clock()).CheckAsync();
        Assert.Equal((false, "database unreachable or not initialized"), (status.IsReady, status.Detail));
        await new SqlStorageSchema(db, "x", Samples.Clock()).MigrateAsync();
        Assert.True((await new SqlStorageSchema(db, "x", Samples.Clock()).CheckAsync()).IsReady);
    }
}

public sealed class SqliteUpgradeTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static string Script(string name)
    {
        using var stream = typeof(SqliteStorage).Assembly.GetManifestResourceStream($"OpenCM.Storage.Sqlite.Migrations.{name}.sql")!;
        return new StreamReader(stream).ReadToEnd();
    }

    [Fact]
    public async Task Migrate_FromSchema3WithCertificates_KeepsEveryRowAndAllowsReservations()
    {
        // 1. A database as the previous release left it: migrations 1-3, one issued certificate, revoked.
        var path = _dir.File("opencm.db");
        var profile = Guid.NewGuid();
        await using (var raw = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            await raw.OpenAsync();
            await using var cmd = raw.CreateCommand();
            cmd.CommandText = "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied BIGINT NOT NULL);" +
                Script("0001_initial") + Script("0002_certificates") + Script("0003_profiles") +
                "INSERT INTO schema_migrations VALUES (1, '0001_initial', 0), (2, '0002_certificates', 0), (3, '0003_profiles', 0);" +
                $"INSERT INTO certificates VALUES ('0A0B', '{Guid.NewGuid():D}', '{profile:D}', '{Guid.NewGuid():D}', 'T', x'3003020101', 'TP', 1, 2, 3, 5, 5);" +
                $"INSERT INTO profiles (uuid, template, template_version, user_uuid, parent_uuid, status, request_uuid, created, version) " +
                $"VALUES ('{profile:D}', '{Guid.NewGuid():D}', 1, '{Guid.NewGuid():D}', '{Guid.Empty:D}', 2, '{Guid.NewGuid():D}', 0, 1);";
            await cmd.ExecuteNonQueryAsync();
        }

        // 2. This release migrates it (0004 reserved serials, 0005 smart cards, 0006 proposed PINs,
        //    0007 card profiles, 0008 passwords, 0009 data-protection keys, 0010 CA notices outbox,
        //    0011 certificate plans, and every one since, e.g. 0013 card key generations, 0014
        //    requests by originator, 0012 keyed audit chain,
        //    0016 portal sessions): the software profile stays one, on no card.
        await using var db = new SqliteStorage(path) { AuditKey = Samples.AuditKey };
        var pending = await db.PendingMigrationsAsync();
        Assert.True(pending >= 12, $"{pending} migrations after schema 3");
        Assert.Equal(pending, await db.MigrateAsync(Samples.Clock()));
        Assert.Equal(0, await db.PendingMigrationsAsync());
        Assert.Equal((OpenCM.Domain.ProfileStatus.Active, Guid.Empty), ((await new SqlProfileStore(db).FindAsync(profile))!.Status, (await new SqlProfileStore(db).FindAsync(profile))!.SmartcardUuid));

        var certificate = Assert.Single(await new SqlProfileStore(db).CertificatesOfProfileAsync(profile));
        Assert.Equal(("0A0B", "TP", CertificateStatus.Revoked), (certificate.SerialHex, certificate.Certificate.Thumbprint, certificate.Status));
        Assert.Equal([new byte[] { 0x30, 0x03, 0x02, 0x01, 0x01 }], [certificate.Certificate.Der]);
        Assert.Contains(await new SqlCertificateStore(db).ListRevokedAsync(1), r => r.SerialHex == "0A0B" && r.Reason == 5);
        await new SqlTransactions(db).RunAsync(async (uow, c) =>
        {
            await uow.Certificates.ReserveAsync(new CertificateReservation("0C0D", Guid.NewGuid(), profile, Guid.NewGuid(), "T", "0E0F"), c);
            return 0;
        });
        Assert.True((await new SqlStorageSchema(db, path, Samples.Clock()).CheckAsync()).IsReady);
    }
}
