using Microsoft.Data.Sqlite;
using OpenCM.TestKit;
using SQLitePCL;

namespace OpenCM.Storage.Sqlite.Tests;

/// <summary>
/// The SQLite writer's raw statements (issue #25, decision 2) against what Microsoft.Data.Sqlite
/// does with the same SQL and values on the same file: stored the same, read back the same,
/// failing with the same exceptions.
/// </summary>
public sealed class RawSqliteStatementsTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly string _connectionString;

    public RawSqliteStatementsTests()
    {
        _connectionString = new SqliteConnectionStringBuilder { DataSource = _dir.File("raw.db"), Pooling = false, DefaultTimeout = 1 }.ToString();
        using var conn = Open();
        Ado(conn, "PRAGMA journal_mode=WAL; CREATE TABLE t (k TEXT PRIMARY KEY, v); CREATE TABLE u (name TEXT NOT NULL UNIQUE)");
    }

    public void Dispose() => _dir.Dispose();

    private enum Colour
    {
        Red = 3,
    }

    public static TheoryData<string, object?> Values => new()
    {
        { "text", "héllo, wörld" },
        { "empty text", string.Empty },
        { "long", long.MaxValue },
        { "negative int", -5 },
        { "true", true },
        { "false", false },
        { "blob", new byte[] { 0, 1, 2, 255 } },
        { "empty blob", Array.Empty<byte>() },
        { "double", 1.5 },
        { "null", null },
        { "DBNull", DBNull.Value },
        { "enum", Colour.Red },
        { "short", (short)-7 },
        { "float", 2.25f },
    };

    [Theory]
    [MemberData(nameof(Values))]
    public void Execute_EveryBoundType_StoredAndReadBackAsMicrosoftDataSqliteDoes(string label, object? value)
    {
        using var conn = Open();
        using (var runner = new RawSqliteStatements(conn))
        {
            Assert.True(runner.TryExecute("INSERT INTO t (k, v) VALUES ($k, $v)", [("$k", "raw"), ("$v", value)], out var rows), label);
            Assert.Equal(1, rows);
        }

        using (var cmd = conn.CreateCommand())
        {
            cmd.CommandText = "INSERT INTO t (k, v) VALUES ($k, $v)";
            cmd.Parameters.AddWithValue("$k", "ado");
            cmd.Parameters.AddWithValue("$v", value ?? DBNull.Value);
            cmd.ExecuteNonQuery();
        }

        // Read through a Microsoft.Data.Sqlite connection of its own, as the pooled readers do.
        using var reader = Open();
        Assert.Equal(Stored(reader, "ado"), Stored(reader, "raw"));

        // And through the raw row, the way the writer's own reads see it.
        using var again = new RawSqliteStatements(conn);
        Assert.True(again.TryFirstRow("SELECT v FROM t WHERE k = $k", [("$k", "ado")], r => r.GetValue(0), out var raw, out var found));
        Assert.True(found);
        Assert.Equal(Stored(reader, "ado").Value, Comparable(raw!));
    }

    [Theory]
    [InlineData("INSERT INTO t (k, v) VALUES ('c', 1)")]
    [InlineData("INSERT INTO t (k, v) VALUES ('d', 1) RETURNING k")]
    [InlineData("UPDATE t SET v = 2 WHERE k = 'a'")]
    [InlineData("UPDATE t SET v = 2 WHERE k = 'none'")]
    [InlineData("DELETE FROM t WHERE k = 'a'")]
    [InlineData("SELECT COUNT(*) FROM t")]
    [InlineData("INSERT INTO t (k, v) VALUES ('b', 1) ON CONFLICT DO NOTHING")]
    public void Execute_RowsAffected_AsExecuteNonQuery(string sql)
    {
        using var conn = Open();
        Ado(conn, "DELETE FROM t; INSERT INTO t (k, v) VALUES ('a', 0), ('b', 0)");
        int expected;
        using (var tx = conn.BeginTransaction())
        {
            using var cmd = conn.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = sql;
            expected = cmd.ExecuteNonQuery();
            tx.Rollback();
        }

        using var runner = new RawSqliteStatements(conn);
        Assert.True(runner.TryExecute(sql, [], out var rows));
        Assert.Equal(expected, rows);
    }

    [Fact]
    public void Execute_SavepointStatements_RowsAffectedAsExecuteNonQuery()
    {
        using var conn = Open();
        using var tx = conn.BeginTransaction();
        using var cmd = conn.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "SAVEPOINT w";
        var expected = cmd.ExecuteNonQuery();
        using var runner = new RawSqliteStatements(conn);
        Assert.True(runner.TryExecute("RELEASE SAVEPOINT w", [], out _));
        Assert.True(runner.TryExecute("SAVEPOINT w", [], out var rows));
        Assert.Equal(expected, rows);
    }

    [Fact]
    public void Execute_UniqueViolation_SameSqliteExceptionAsMicrosoftDataSqlite()
    {
        using var conn = Open();
        Ado(conn, "INSERT INTO u (name) VALUES ('taken')");
        using var cmd = conn.CreateCommand();
        cmd.CommandText = "INSERT INTO u (name) VALUES ($n)";
        cmd.Parameters.AddWithValue("$n", "taken");
        var ado = Assert.Throws<SqliteException>(() => cmd.ExecuteNonQuery());

        using var runner = new RawSqliteStatements(conn);
        var raw = Assert.Throws<SqliteException>(() => runner.TryExecute("INSERT INTO u (name) VALUES ($n)", [("$n", "taken")], out _));
        Assert.Equal((ado.SqliteErrorCode, ado.SqliteExtendedErrorCode, ado.Message), (raw.SqliteErrorCode, raw.SqliteExtendedErrorCode, raw.Message));

        // The statement was reset: the next execution runs.
        Assert.True(runner.TryExecute("INSERT INTO u (name) VALUES ($n)", [("$n", "free")], out var rows));
        Assert.Equal(1, rows);
    }

    [Fact]
    public void Execute_RollbackToSavepoint_OnlyTheSavepointsWritesUndone()
    {
        using var conn = Open();
        using var runner = new RawSqliteStatements(conn);
        using (var tx = conn.BeginTransaction(System.Data.IsolationLevel.Serializable))
        {
            runner.Execute("INSERT INTO t (k, v) VALUES ($k, 1)", ("$k", "kept"));
            runner.Execute("SAVEPOINT w");
            runner.Execute("INSERT INTO t (k, v) VALUES ($k, 1)", ("$k", "undone"));
            runner.Execute("ROLLBACK TO SAVEPOINT w");
            runner.Execute("RELEASE SAVEPOINT w");
            tx.Commit();
        }

        using var reader = Open();
        Assert.Equal(new[] { "kept" }, Keys(reader));
    }

    [Fact]
    public async Task Execute_WriteLockHeldByAnotherConnection_WaitsThenSqliteBusyTheProviderCallsUnavailable()
    {
        using var holder = Open();
        using var tx = holder.BeginTransaction(System.Data.IsolationLevel.Serializable); // BEGIN IMMEDIATE
        using var conn = Open();
        Ado(conn, "PRAGMA busy_timeout=200");
        using var runner = new RawSqliteStatements(conn);

        var started = System.Diagnostics.Stopwatch.StartNew();
        var e = Assert.Throws<SqliteException>(() => runner.TryExecute("INSERT INTO t (k, v) VALUES ($k, 1)", [("$k", "late")], out _));
        Assert.Equal(raw.SQLITE_BUSY, e.SqliteErrorCode);
        Assert.True(started.ElapsedMilliseconds >= 1000, "waited out the command timeout (Default Timeout=1) as Microsoft.Data.Sqlite does");

        await using var storage = new SqliteStorage(_dir.File("other.db"));
        Assert.True(storage.IsUnavailable(e));
    }

    [Fact]
    public void Dispose_PreparedStatements_Finalized()
    {
        using var conn = Open();
        conn.Handle!.enable_sqlite3_next_stmt(true);
        var runner = new RawSqliteStatements(conn);
        runner.Execute("INSERT INTO t (k, v) VALUES ($k, 1)", ("$k", "a"));
        Assert.True(runner.TryScalar("SELECT COUNT(*) FROM t", [], out var count));
        Assert.Equal(1L, count);
        Assert.Equal(2, runner.PreparedCount);
        Assert.NotNull(raw.sqlite3_next_stmt(conn.Handle, null));

        runner.Dispose();

        Assert.Null(raw.sqlite3_next_stmt(conn.Handle, null));
        Assert.Throws<ObjectDisposedException>(() => runner.TryExecute("SELECT 1", [], out _));
    }

    [Fact]
    public void Execute_SameStatementAgain_PreparedOnce()
    {
        using var conn = Open();
        using var runner = new RawSqliteStatements(conn);
        using (var tx = conn.BeginTransaction())
        {
            for (var i = 0; i < 1000; i++)
            {
                runner.Execute("INSERT INTO t (k, v) VALUES ($k, $v)", ("$k", $"k{i}"), ("$v", i));
            }

            tx.Commit();
        }

        // Names in another order, or without their prefix, bind the same.
        runner.Execute("INSERT INTO t (k, v) VALUES ($k, $v)", ("$v", -1), ("k", "last"));
        Assert.Equal(1, runner.PreparedCount);
        using var reader = Open();
        Assert.Equal(-1L, Stored(reader, "last").Value);
        Assert.Equal(999L, Stored(reader, "k999").Value);
    }

    [Theory]
    [InlineData("INSERT INTO t (k, v) VALUES ('a', 1); INSERT INTO t (k, v) VALUES ('b', 2)", "several statements")]
    [InlineData("INSERT INTO t (k, v) VALUES ($k, $v)", "a parameter without a value")]
    [InlineData("INSERT INTO t (k, v) VALUES ($k, $when)", "a date")]
    [InlineData("INSERT INTO t (k, v) VALUES ($k, $id)", "a Guid (Microsoft.Data.Sqlite's own text form)")]
    [InlineData("INSERT INTO nowhere (k) VALUES ($k)", "SQL that does not prepare")]
    public void TryExecute_WhatMicrosoftDataSqliteDecides_Declined(string sql, string why)
    {
        using var conn = Open();
        using var runner = new RawSqliteStatements(conn);
        Assert.False(runner.TryExecute(sql, [("$k", "x"), ("$when", DateTimeOffset.UnixEpoch), ("$id", Guid.Empty)], out _), why);
        using var reader = Open();
        Assert.Empty(Keys(reader));
    }

    private SqliteConnection Open()
    {
        var conn = new SqliteConnection(_connectionString);
        conn.Open();
        return conn;
    }

    private static void Ado(SqliteConnection conn, string sql)
    {
        using var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    private static (string Type, object Value) Stored(SqliteConnection conn, string key)
    {
        using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT typeof(v), v FROM t WHERE k = $k";
        cmd.Parameters.AddWithValue("$k", key);
        using var r = cmd.ExecuteReader();
        Assert.True(r.Read());
        return (r.GetString(0), Comparable(r.GetValue(1)));
    }

    private static object Comparable(object value) => value is byte[] bytes ? Convert.ToHexString(bytes) : value;

    private static List<string> Keys(SqliteConnection conn)
    {
        using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT k FROM t ORDER BY k";
        using var r = cmd.ExecuteReader();
        var keys = new List<string>();
        while (r.Read())
        {
            keys.Add(r.GetString(0));
        }

        return keys;
    }
}
