using Npgsql;
using OpenCM.Application;
using OpenCM.Storage;
using OpenCM.Storage.Postgres;
using OpenCM.TestKit;

namespace OpenCM.Storage.Postgres.Tests;

/// <summary>
/// The deployment docs/security.md ("Database roles") describes: migrations run as the tables'
/// owner, and the server connects as a serving role that owns nothing and holds no TRUNCATE,
/// TRIGGER or DDL rights. The whole storage contract runs as that role, and what only an owner
/// could do to the audit log is refused to it (issue #18).
/// </summary>
public sealed class PostgresServingRoleTests : StorageContract
{
    private string _ownerConnection = "";

    protected override async Task<StorageProvider> CreateAsync()
    {
        var server = await PostgresServer.Shared;
        Prerequisite.SkipIfMissing(server is null, PostgresServer.SkipReason);
        _ownerConnection = await server!.CreateDatabaseAsync("serve");
        var database = new NpgsqlConnectionStringBuilder(_ownerConnection).Database!;
        var role = "opencm_serve_" + database[^12..];

        // 1. The owner migrates (opencm db migrate with the owner's connection).
        await using (var owner = new PostgresStorage(_ownerConnection) { AuditKey = Samples.AuditKey })
        {
            await owner.MigrateAsync(Samples.Clock());
        }

        // 2. The serving role, with the grants the docs give: rows only, no TRUNCATE, no TRIGGER, no CREATE.
        await OwnerAsync(SecurityDocs.ServingRoleGrants(role, database));

        return new PostgresStorage(new NpgsqlConnectionStringBuilder(_ownerConnection) { Username = role }.ToString());
    }

    // Tampering needs the owner: the serving role cannot disable the triggers (see below).
    protected override Task TamperAsync(string sql) =>
        OwnerAsync($"ALTER TABLE audit_events DISABLE TRIGGER USER; {sql}; ALTER TABLE audit_events ENABLE TRIGGER USER");

    private async Task OwnerAsync(string sql)
    {
        await using var conn = new NpgsqlConnection(_ownerConnection);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync();
    }

    [SkippableTheory]
    [InlineData("TRUNCATE audit_events")]
    [InlineData("ALTER TABLE audit_events DISABLE TRIGGER USER")]
    [InlineData("DROP TRIGGER audit_events_no_delete ON audit_events")]
    [InlineData("DELETE FROM audit_events")]
    [InlineData("UPDATE audit_events SET detail = 'forged'")]
    [InlineData("DROP TABLE audit_events")]
    [InlineData("CREATE TABLE mine (id INTEGER)")]
    [InlineData("CREATE TRIGGER t BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()")]
    public async Task ServingRole_AuditLogAttacks_Refused(string sql)
    {
        await new SqlTransactions(Db).RunAsync(async (uow, c) => { await uow.Audit.AppendAsync(Samples.Audit(Guid.NewGuid()), c); return 0; });
        await Assert.ThrowsAsync<PostgresException>(() => Db.WriteAsync(async (tx, c) =>
        {
            await using var cmd = tx.Connection!.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = sql;
            return await cmd.ExecuteNonQueryAsync(c);
        }));
        Assert.True((await AuditChain.VerifyAsync(new SqlAuditLog(Db), Samples.AuditKey)).IsIntact);
    }

    [SkippableFact]
    public async Task ServingRole_StartOnACurrentSchema_MigratesNothingThenAppendsKeyed()
    {
        Assert.Equal(0, await new SqlStorageSchema(Db, "test", Samples.Clock()).MigrateAsync());
        Assert.False(await new SqlStorageSchema(Db, "test", Samples.Clock()).KeyAuditChainAsync());
        Assert.Equal((true, 0L), ((await AuditChain.VerifyAsync(new SqlAuditLog(Db), Samples.AuditKey)).IsIntact, (await AuditChain.VerifyAsync(new SqlAuditLog(Db), Samples.AuditKey)).Count));
        await new SqlTransactions(Db).RunAsync(async (uow, c) => { await uow.Audit.AppendAsync(Samples.Audit(Guid.NewGuid()), c); return 0; });
        var result = await AuditChain.VerifyAsync(new SqlAuditLog(Db), Samples.AuditKey);
        Assert.Equal((true, 2L, (long?)1), (result.IsIntact, result.Count, result.KeyedFrom));
    }
}

/// <summary>The serving role's grants as docs/security.md gives them, with the role and database named.</summary>
internal static class SecurityDocs
{
    public static string ServingRoleGrants(string role, string database) => $"""
        REVOKE CREATE ON SCHEMA public FROM PUBLIC;
        CREATE ROLE {role} LOGIN;
        GRANT CONNECT ON DATABASE "{database}" TO {role};
        GRANT USAGE ON SCHEMA public TO {role};
        GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role};
        GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {role};
        ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role};
        ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {role};
        """;
}
