using System.Data.Common;
using System.Globalization;
using OpenCM.Application;

namespace OpenCM.Storage;

/// <summary>Rows per table on each side of a copy.</summary>
public sealed record TableCount(string Table, long Source, long Target);

/// <summary>What a copy did, and what checking it found.</summary>
public sealed record CopyReport(IReadOnlyList<TableCount> Tables, long AuditEvents, bool AuditIntact);

/// <summary>
/// Copies one OpenCM database into another, empty one (issue #9: an embedded install moving to
/// PostgreSQL): every table the source's catalogue lists (the migrations' own bookkeeping aside),
/// row for row, in one transaction on the target, then checks that the counts match and that the
/// audit chain verifies there. Both sides are migrated to the current schema first, so their
/// tables and columns agree. Secrets stay sealed: the target needs the same master key.
/// </summary>
public static class StorageCopy
{
    // Each side's record of the migrations it ran: the providers' migrations differ (SQLite's
    // history is longer), and the target's own record is what says its schema is current.
    private const string Bookkeeping = "schema_migrations";

    // Tables a fresh schema already fills (the migrations' seed rows: counters, the audit head),
    // whose rows the source's replace; any other table holding rows means the target is in use.
    private static readonly string[] Seeded = ["counters", "audit_head"];

    public static async Task<CopyReport> CopyAsync(StorageProvider source, StorageProvider target, TimeProvider clock, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(target);

        // 1. Both schemas current, with the same tables; the target holds no OpenCM data yet. The
        //    source's chain keyed as a start of its server would (decision 0010), so that what is
        //    copied verifies under the key.
        await source.MigrateAsync(clock, ct).ConfigureAwait(false);
        await new SqlStorageSchema(source, source.Location, clock).KeyAuditChainAsync(ct).ConfigureAwait(false);
        await target.MigrateAsync(clock, ct).ConfigureAwait(false);
        var tables = (await source.TablesAsync(ct).ConfigureAwait(false)).Where(t => t != Bookkeeping).Order(StringComparer.Ordinal).ToList();
        var targetTables = (await target.TablesAsync(ct).ConfigureAwait(false)).Where(t => t != Bookkeeping).ToHashSet(StringComparer.Ordinal);
        if (tables.FirstOrDefault(t => !targetTables.Contains(t)) is { } missing)
        {
            throw new StorageCopyException($"The target's schema has no table {missing}; both databases must be OpenCM databases of the same release.");
        }

        foreach (var table in tables.Where(t => !Seeded.Contains(t)))
        {
            if (await CountAsync(target, table, ct).ConfigureAwait(false) > 0)
            {
                throw new StorageCopyException($"The target already holds OpenCM data (table {table}); copy into an empty database.");
            }
        }

        // 2. Every row of every table, the seed rows replaced, in one transaction on the target.
        await target.WriteAsync(async (tx, c) =>
        {
            foreach (var table in Seeded.Where(tables.Contains))
            {
                await tx.ExecuteAsync($"DELETE FROM {table}", c).ConfigureAwait(false);
            }

            foreach (var table in tables)
            {
                await CopyTableAsync(source, tx, table, c).ConfigureAwait(false);
            }

            await target.AfterCopyAsync(tx, c).ConfigureAwait(false);
            return 0;
        }, ct).ConfigureAwait(false);

        // 3. The same rows on both sides, and a chain that verifies where it now lives.
        var counts = new List<TableCount>(tables.Count);
        foreach (var table in tables)
        {
            counts.Add(new TableCount(table, await CountAsync(source, table, ct).ConfigureAwait(false), await CountAsync(target, table, ct).ConfigureAwait(false)));
        }

        // The links are keyed under the master key (decision 0010): the target must have the source's.
        var key = target.AuditKey ?? source.AuditKey ?? throw new InvalidOperationException("The audit chain's key is not set; the copy cannot verify the chain.");
        var chain = await AuditChain.VerifyAsync(new SqlAuditLog(target), key, ct).ConfigureAwait(false);
        return new CopyReport(counts, chain.Count, chain.IsIntact);
    }

    private static async Task CopyTableAsync(StorageProvider source, DbTransaction tx, string table, CancellationToken ct)
    {
        await using var conn = await source.OpenReadAsync(ct).ConfigureAwait(false);
        await using var cmd = conn.Command($"SELECT * FROM {table}");
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        var columns = Enumerable.Range(0, r.FieldCount).Select(r.GetName).ToArray();
        var insert = $"INSERT INTO {table} ({string.Join(", ", columns)}) VALUES ({string.Join(", ", columns.Select((_, i) => $"@p{i}"))})";
        while (await r.ReadAsync(ct).ConfigureAwait(false))
        {
            var args = new (string, object?)[columns.Length];
            for (var i = 0; i < columns.Length; i++)
            {
                args[i] = ($"@p{i}", r.IsDBNull(i) ? null : r.GetValue(i));
            }

            await tx.ExecuteAsync(insert, ct, args).ConfigureAwait(false);
        }
    }

    private static Task<long> CountAsync(StorageProvider db, string table, CancellationToken ct) =>
        db.ReadAsync(async (conn, c) =>
        {
            await using var cmd = conn.Command($"SELECT COUNT(*) FROM {table}");
            return Convert.ToInt64(await cmd.ExecuteScalarAsync(c).ConfigureAwait(false), CultureInfo.InvariantCulture);
        }, ct);
}

/// <summary>A copy refused before it wrote anything: the target is in use, or its schema is not the source's.</summary>
public sealed class StorageCopyException : Exception
{
    public StorageCopyException(string message)
        : base(message)
    {
    }

    public StorageCopyException()
    {
    }

    public StorageCopyException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
