using System.Globalization;
using OpenCM.Application;
using OpenCM.Storage;
using Xunit;

namespace OpenCM.TestKit;

/// <summary>
/// <c>opencm db copy</c> (<see cref="StorageCopy"/>) against the schema itself: the tables the
/// database's own catalogue lists, not a list kept beside the copy, so that a table a migration
/// adds cannot be left behind unnoticed (issue #17: <c>dataprotection_keys</c> was).
/// </summary>
public static class StorageCopyCheck
{
    /// <summary>The migrations' own bookkeeping: each side keeps its own (the providers' migrations differ).</summary>
    public const string Bookkeeping = "schema_migrations";

    /// <summary>
    /// Fills <paramref name="source"/> (a request, its audit event, a data-protection key), copies
    /// it into the empty <paramref name="target"/>, and checks every table <paramref name="catalogue"/>
    /// names (the SQL that lists a database's tables) on both sides.
    /// </summary>
    public static async Task CopyAsync_EveryTableOfTheSchema_SameRowsOnBothSides(StorageProvider source, StorageProvider target, string catalogue)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(target);
        await source.MigrateAsync(Samples.Clock());
        await target.MigrateAsync(Samples.Clock());
        var request = Samples.Request();
        await new SqlTransactions(source).RunAsync(async (uow, c) =>
        {
            await uow.Requests.InsertAsync(request, [Samples.UserSid(1000)], c);
            await uow.Audit.AppendAsync(Samples.Audit(request.Uuid), c);
            return await uow.Notices.EnqueueAsync(new Revocation(["01"], 1, Samples.Now), Samples.Now, c);
        });
        await source.WriteAsync(async (tx, c) =>
        {
            await using var cmd = tx.Connection!.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = "INSERT INTO dataprotection_keys (name, xml) VALUES ('key-1', 'sealed')";
            return await cmd.ExecuteNonQueryAsync(c);
        });

        var report = await StorageCopy.CopyAsync(source, target, Samples.Clock());

        var tables = (await NamesAsync(source, catalogue)).Where(t => t != Bookkeeping).Order(StringComparer.Ordinal).ToList();
        Assert.Contains("dataprotection_keys", tables);
        Assert.Equal(tables, report.Tables.Select(t => t.Table).Order(StringComparer.Ordinal));
        Assert.Equal(tables, (await NamesAsync(target, catalogue)).Where(t => t != Bookkeeping).Order(StringComparer.Ordinal));
        foreach (var table in tables)
        {
            Assert.Equal((table, await CountAsync(source, table)), (table, await CountAsync(target, table)));
        }

        Assert.Equal(1, await CountAsync(target, "dataprotection_keys"));
        Assert.True(report.AuditIntact);
        Assert.Equal(0, await target.PendingMigrationsAsync());

        // Identity columns continue after the copied rows (PostgreSQL's sequences are not data).
        var copied = await new SqlTransactions(source).RunAsync((uow, c) => uow.Notices.EnqueueAsync(new Revocation(["02"], 1, Samples.Now), Samples.Now, c));
        var next = await new SqlTransactions(target).RunAsync((uow, c) => uow.Notices.EnqueueAsync(new Revocation(["02"], 1, Samples.Now), Samples.Now, c));
        Assert.Equal(copied, next);
    }

    private static Task<List<string>> NamesAsync(StorageProvider db, string sql) => db.ReadAsync(async (conn, c) =>
    {
        var names = new List<string>();
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        await using var r = await cmd.ExecuteReaderAsync(c);
        while (await r.ReadAsync(c))
        {
            names.Add(r.GetString(0));
        }

        return names;
    });

    private static Task<long> CountAsync(StorageProvider db, string table) => db.ReadAsync(async (conn, c) =>
    {
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = $"SELECT COUNT(*) FROM {table}";
        return Convert.ToInt64(await cmd.ExecuteScalarAsync(c), CultureInfo.InvariantCulture);
    });
}
