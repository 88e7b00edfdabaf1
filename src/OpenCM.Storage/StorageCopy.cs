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
/// PostgreSQL): every table, row for row, in one transaction on the target, then checks that the
/// counts match and that the audit chain verifies there. Both sides are migrated to the current
/// schema first, so their columns agree. Secrets stay sealed: the target needs the same master key.
/// </summary>
public static class StorageCopy
{
    // Parents before children; the order does not matter to the schema (no foreign keys) but reads well.
    private static readonly string[] Tables =
    [
        "settings", "counters", "secrets", "principals", "memberships", "templates", "requests", "request_readers",
        "audit_events", "certificates", "profiles", "archived_keys", "smartcards",
    ];

    // Tables a fresh schema already fills (the migrations' seed rows), replaced by the source's.
    private static readonly string[] Seeded = ["counters"];

    public static async Task<CopyReport> CopyAsync(StorageProvider source, StorageProvider target, TimeProvider clock, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(target);

        // 1. Both schemas current; the target holds no OpenCM data yet.
        await source.MigrateAsync(clock, ct).ConfigureAwait(false);
        await target.MigrateAsync(clock, ct).ConfigureAwait(false);
        foreach (var table in new[] { "principals", "requests", "secrets", "templates", "audit_events" })
        {
            if (await CountAsync(target, table, ct).ConfigureAwait(false) > 0)
            {
                throw new InvalidOperationException($"The target already holds OpenCM data (table {table}); copy into an empty database.");
            }
        }

        // 2. Every row of every table, and the audit head, in one transaction on the target.
        await target.WriteAsync(async (tx, c) =>
        {
            foreach (var table in Seeded)
            {
                await tx.ExecuteAsync($"DELETE FROM {table}", c).ConfigureAwait(false);
            }

            foreach (var table in Tables)
            {
                await CopyTableAsync(source, tx, table, c).ConfigureAwait(false);
            }

            var head = await source.ReadAsync((conn, rc) => conn.FirstRowAsync("SELECT seq, hash FROM audit_head WHERE id = 1",
                r => (Seq: Convert.ToInt64(r.GetValue(0), CultureInfo.InvariantCulture), Hash: r.GetString(1)), rc), c).ConfigureAwait(false);
            await tx.ExecuteAsync("UPDATE audit_head SET seq = @s, hash = @h WHERE id = 1", c, ("@s", head.Seq), ("@h", head.Hash)).ConfigureAwait(false);
            await target.AfterCopyAsync(tx, c).ConfigureAwait(false);
            return 0;
        }, ct).ConfigureAwait(false);

        // 3. The same rows on both sides, and a chain that verifies where it now lives.
        var counts = new List<TableCount>(Tables.Length);
        foreach (var table in Tables)
        {
            counts.Add(new TableCount(table, await CountAsync(source, table, ct).ConfigureAwait(false), await CountAsync(target, table, ct).ConfigureAwait(false)));
        }

        var chain = await AuditChain.VerifyAsync(new SqlAuditLog(target), ct).ConfigureAwait(false);
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
