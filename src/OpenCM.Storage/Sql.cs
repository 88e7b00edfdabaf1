using System.Data.Common;
using System.Globalization;

namespace OpenCM.Storage;

/// <summary>Small helpers that keep the SQL stores free of ADO.NET ceremony. Parameters are always bound, never spliced.</summary>
internal static class Sql
{
    public static DbCommand Command(this DbTransaction tx, string sql, params (string Name, object? Value)[] args)
    {
        var cmd = tx.Connection!.CreateCommand();
        cmd.Transaction = tx;
        return cmd.Fill(sql, args);
    }

    public static DbCommand Command(this DbConnection connection, string sql, params (string Name, object? Value)[] args) =>
        connection.CreateCommand().Fill(sql, args);

    public static async Task<int> ExecuteAsync(this DbTransaction tx, string sql, CancellationToken ct, params (string Name, object? Value)[] args)
    {
        await using var cmd = tx.Command(sql, args);
        return await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    public static async Task<T> ScalarAsync<T>(this DbTransaction tx, string sql, CancellationToken ct, params (string Name, object? Value)[] args)
    {
        await using var cmd = tx.Command(sql, args);
        var value = await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false);
        return (T)Convert.ChangeType(value!, typeof(T), CultureInfo.InvariantCulture);
    }

    public static string Text(Guid id) => id.ToString("D");

    public static long Ticks(DateTimeOffset time) => time.UtcTicks;

    public static DateTimeOffset Time(long ticks) => new(ticks, TimeSpan.Zero);

    public static Guid Id(this DbDataReader r, int i) => Guid.Parse(r.GetString(i));

    private static DbCommand Fill(this DbCommand cmd, string sql, (string Name, object? Value)[] args)
    {
        cmd.CommandText = sql;
        foreach (var (name, value) in args)
        {
            var p = cmd.CreateParameter();
            p.ParameterName = name;
            p.Value = value ?? DBNull.Value;
            cmd.Parameters.Add(p);
        }

        return cmd;
    }
}
