using System.Data.Common;
using System.Diagnostics;
using Microsoft.Data.Sqlite;
using OpenCM.Storage;
using SQLitePCL;

namespace OpenCM.Storage.Sqlite;

/// <summary>
/// The SQLite writer's statements on raw SQLitePCL (issue #25, decision 2): each SQL text is
/// prepared once per connection, its parameter names are resolved to positions once (SQLite finds
/// a name by a linear scan, and Microsoft.Data.Sqlite re-binds by name on every execution, about
/// a third of the writer's CPU in docs/benchmarks.md), and each execution binds by position,
/// steps, resets and clears. Values are stored as Microsoft.Data.Sqlite stores them, so that the
/// pooled Microsoft.Data.Sqlite readers read back the same; failures are the
/// <see cref="SqliteException"/> Microsoft.Data.Sqlite would throw (same codes), so that
/// <see cref="SqliteStorage.IsUnavailable"/> and the stores' error handling see no difference.
/// What it does not take (several statements in one text, a value type without a fixed mapping
/// here, SQL that does not prepare) it declines, and <see cref="Sql"/> runs it through
/// Microsoft.Data.Sqlite as before.
/// </summary>
/// <remarks>
/// One thread at a time (the group-commit writer's loop, or a bulk loader's own connection), inside
/// a transaction that Microsoft.Data.Sqlite began on the same connection (BEGIN IMMEDIATE), or in
/// autocommit. Dispose finalizes every statement; dispose it before the connection.
/// </remarks>
public sealed class RawSqliteStatements : IStatementRunner
{
    // sqlite3_prepare_v3's SQLITE_PREPARE_PERSISTENT: the statement is kept and reused for long.
    private const uint PreparePersistent = 0x01;

    // Microsoft.Data.Sqlite waits this long between retries of a statement that met a lock.
    private const int BusyRetryMilliseconds = 150;

    private readonly SqliteConnection _connection;
    private readonly Dictionary<string, Statement?> _statements = new(StringComparer.Ordinal);
    private bool _disposed;

    /// <param name="connection">An open connection that this runner's owner alone uses.</param>
    public RawSqliteStatements(SqliteConnection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        _connection = connection;
    }

    /// <summary>How many statements are prepared and kept.</summary>
    public int PreparedCount => _statements.Values.Count(s => s is not null);

    /// <summary>
    /// Runs one statement to its end and returns the rows it changed (-1 for a statement that
    /// changes none, as ExecuteNonQuery); for a bulk load, call it many times inside one transaction.
    /// A statement this runner declines runs through Microsoft.Data.Sqlite on the same connection.
    /// </summary>
    public int Execute(string sql, params (string Name, object? Value)[] args)
    {
        if (TryExecute(sql, args, out var rows))
        {
            return rows;
        }

        using var cmd = _connection.CreateCommand();
        cmd.CommandText = sql;
        foreach (var (name, value) in args)
        {
            cmd.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        return cmd.ExecuteNonQuery();
    }

    public bool TryExecute(string sql, (string Name, object? Value)[] args, out int rowsAffected)
    {
        rowsAffected = -1;
        if (Bind(sql, args) is not { } s)
        {
            return false;
        }

        try
        {
            var rc = FirstStep(s);
            while (rc == raw.SQLITE_ROW)
            {
                rc = raw.sqlite3_step(s.Handle);
            }

            Check(rc);
            if (s.CountsChanges)
            {
                rowsAffected = raw.sqlite3_changes(Db);
            }

            return true;
        }
        finally
        {
            Release(s);
        }
    }

    public bool TryScalar(string sql, (string Name, object? Value)[] args, out object? value)
    {
        value = null;
        if (Bind(sql, args) is not { } s)
        {
            return false;
        }

        try
        {
            var rc = FirstStep(s);
            Check(rc);
            if (rc == raw.SQLITE_ROW)
            {
                value = RawRow.Value(s.Handle, 0);
            }

            return true;
        }
        finally
        {
            Release(s);
        }
    }

    public bool TryFirstRow<T>(string sql, (string Name, object? Value)[] args, Func<DbDataReader, T> map, out T? row, out bool found)
    {
        ArgumentNullException.ThrowIfNull(map);
        row = default;
        found = false;
        if (Bind(sql, args) is not { } s)
        {
            return false;
        }

        try
        {
            var rc = FirstStep(s);
            Check(rc);
            if (rc == raw.SQLITE_ROW)
            {
                using var reader = new RawRow(s.Handle);
                row = map(reader);
                found = true;
            }

            return true;
        }
        finally
        {
            Release(s);
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (var s in _statements.Values)
        {
            s?.Handle.Dispose(); // sqlite3_finalize
        }

        _statements.Clear();
    }

    private sqlite3 Db => _connection.Handle ?? throw new InvalidOperationException("The writer's connection is not open.");

    // The statement with every parameter bound, or null when this runner declines the SQL or a value.
    private Statement? Bind(string sql, (string Name, object? Value)[] args)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_statements.TryGetValue(sql, out var s))
        {
            s = Prepare(sql);
            _statements[sql] = s;
        }

        if (s is null)
        {
            return null;
        }

        var argOf = s.ArgumentsFor(args);
        if (argOf is null)
        {
            return null; // a parameter without a value: Microsoft.Data.Sqlite says which
        }

        for (var i = 0; i < argOf.Length; i++)
        {
            var rc = BindValue(s.Handle, i + 1, args[argOf[i]].Value);
            if (rc is null)
            {
                raw.sqlite3_clear_bindings(s.Handle);
                return null;
            }

            Check(rc.Value);
        }

        return s;
    }

    private Statement? Prepare(string sql)
    {
        var rc = raw.sqlite3_prepare_v3(Db, sql, PreparePersistent, out var stmt, out var tail);
        if (rc != raw.SQLITE_OK || stmt is null || stmt.IsInvalid || !string.IsNullOrWhiteSpace(tail))
        {
            // Several statements, an empty text, or SQL that fails to prepare: Microsoft.Data.Sqlite
            // runs it as before (and raises the same error, if it is one).
            stmt?.Dispose();
            return null;
        }

        var count = raw.sqlite3_bind_parameter_count(stmt);
        var names = new string[count];
        for (var i = 0; i < count; i++)
        {
            names[i] = raw.sqlite3_bind_parameter_name(stmt, i + 1).utf8_to_string() ?? string.Empty;
        }

        // As Microsoft.Data.Sqlite counts ExecuteNonQuery's rows: sqlite3_changes after a statement
        // without result columns (whatever it is), and after one with them only if it writes (RETURNING).
        var countsChanges = raw.sqlite3_column_count(stmt) == 0 || raw.sqlite3_stmt_readonly(stmt) == 0;
        return new Statement(stmt, names, countsChanges);
    }

    // Microsoft.Data.Sqlite's SqliteValueBinder, for the types whose storage it fixes without
    // options: null for a type this runner leaves to it (dates, decimals, chars, Guids, unsigned 64-bit, NaN).
    private static int? BindValue(sqlite3_stmt stmt, int index, object? value) => value switch
    {
        null or DBNull => raw.sqlite3_bind_null(stmt, index),
        string text => raw.sqlite3_bind_text(stmt, index, text),
        long number => raw.sqlite3_bind_int64(stmt, index, number),
        int number => raw.sqlite3_bind_int64(stmt, index, number),
        bool flag => raw.sqlite3_bind_int64(stmt, index, flag ? 1 : 0),
        byte[] bytes => raw.sqlite3_bind_blob(stmt, index, bytes),
        double real when !double.IsNaN(real) => raw.sqlite3_bind_double(stmt, index, real),
        float real when !float.IsNaN(real) => raw.sqlite3_bind_double(stmt, index, real),
        short number => raw.sqlite3_bind_int64(stmt, index, number),
        byte number => raw.sqlite3_bind_int64(stmt, index, number),
        sbyte number => raw.sqlite3_bind_int64(stmt, index, number),
        ushort number => raw.sqlite3_bind_int64(stmt, index, number),
        uint number => raw.sqlite3_bind_int64(stmt, index, number),
        Enum e when Enum.GetUnderlyingType(e.GetType()) != typeof(ulong) => raw.sqlite3_bind_int64(stmt, index, Convert.ToInt64(e, System.Globalization.CultureInfo.InvariantCulture)),
        _ => null,
    };

    // As Microsoft.Data.Sqlite: a statement that meets a lock (beyond busy_timeout) is tried
    // again every 150 ms until the command timeout (the connection string's Default Timeout).
    private int FirstStep(Statement s)
    {
        var rc = raw.sqlite3_step(s.Handle);
        if (!IsBusy(rc))
        {
            return rc;
        }

        var timeout = _connection.DefaultTimeout;
        var timer = Stopwatch.StartNew();
        while (IsBusy(rc) && (timeout == 0 || timer.ElapsedMilliseconds < timeout * 1000L))
        {
            raw.sqlite3_reset(s.Handle);
            Thread.Sleep(BusyRetryMilliseconds);
            rc = raw.sqlite3_step(s.Handle);
        }

        return rc;
    }

    private static bool IsBusy(int rc) => rc is raw.SQLITE_BUSY or raw.SQLITE_LOCKED or raw.SQLITE_LOCKED_SHAREDCACHE;

    private void Check(int rc)
    {
        if (rc is not (raw.SQLITE_OK or raw.SQLITE_ROW or raw.SQLITE_DONE))
        {
            SqliteException.ThrowExceptionForRC(rc, Db);
        }
    }

    // Reset (its error, if any, was raised from the step already) and drop the bound values.
    private static void Release(Statement s)
    {
        raw.sqlite3_reset(s.Handle);
        raw.sqlite3_clear_bindings(s.Handle);
    }

    private sealed class Statement(sqlite3_stmt handle, string[] names, bool countsChanges)
    {
        private string[]? _argNames;
        private int[] _argOf = [];

        public sqlite3_stmt Handle { get; } = handle;

        public bool CountsChanges { get; } = countsChanges;

        // For each parameter position, the index of its value in args; resolved once per shape of
        // args (the same call site passes the same literal names, so the check is by reference).
        public int[]? ArgumentsFor((string Name, object? Value)[] args)
        {
            if (_argNames is not null && args.Length == _argNames.Length)
            {
                var same = true;
                for (var i = 0; i < args.Length && same; i++)
                {
                    same = ReferenceEquals(args[i].Name, _argNames[i]) || string.Equals(args[i].Name, _argNames[i], StringComparison.Ordinal);
                }

                if (same)
                {
                    return _argOf;
                }
            }

            var argOf = new int[names.Length];
            for (var p = 0; p < names.Length; p++)
            {
                argOf[p] = -1;
                for (var a = 0; a < args.Length; a++)
                {
                    // Microsoft.Data.Sqlite binds a name given without its prefix too; the last value of a name wins.
                    if (Matches(names[p], args[a].Name))
                    {
                        argOf[p] = a;
                    }
                }

                if (argOf[p] < 0)
                {
                    return null;
                }
            }

            _argNames = [.. args.Select(a => a.Name)];
            _argOf = argOf;
            return argOf;
        }

        private static bool Matches(string parameter, string name) =>
            string.Equals(parameter, name, StringComparison.Ordinal)
            || (name.Length > 0 && name[0] is not ('@' or '$' or ':') && parameter.Length == name.Length + 1 && parameter.AsSpan(1).SequenceEqual(name));
    }
}
