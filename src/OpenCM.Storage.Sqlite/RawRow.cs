using System.Collections;
using System.Data.Common;
using System.Globalization;
using SQLitePCL;

namespace OpenCM.Storage.Sqlite;

/// <summary>
/// The current row of a raw statement (<see cref="RawSqliteStatements"/>) as a
/// <see cref="DbDataReader"/>, read the way Microsoft.Data.Sqlite's reader reads it: a value's
/// type is its storage class (INTEGER long, REAL double, TEXT string, BLOB byte[], NULL DBNull),
/// and the typed getters convert as it does.
/// </summary>
internal sealed class RawRow : DbDataReader
{
    private readonly sqlite3_stmt _stmt;
    private bool _closed;

    public RawRow(sqlite3_stmt stmt) => _stmt = stmt;

    public override int FieldCount => raw.sqlite3_column_count(_stmt);

    public override int Depth => 0;

    public override bool HasRows => true;

    public override bool IsClosed => _closed;

    public override int RecordsAffected => -1;

    public override object this[int ordinal] => GetValue(ordinal);

    public override object this[string name] => GetValue(GetOrdinal(name));

    /// <summary>The column's value by its storage class, as SqliteDataReader.GetValue.</summary>
    public static object Value(sqlite3_stmt stmt, int ordinal) => raw.sqlite3_column_type(stmt, ordinal) switch
    {
        raw.SQLITE_INTEGER => raw.sqlite3_column_int64(stmt, ordinal),
        raw.SQLITE_FLOAT => raw.sqlite3_column_double(stmt, ordinal),
        raw.SQLITE_TEXT => raw.sqlite3_column_text(stmt, ordinal).utf8_to_string(),
        raw.SQLITE_BLOB => raw.sqlite3_column_blob(stmt, ordinal).ToArray(),
        _ => DBNull.Value,
    };

    public override object GetValue(int ordinal) => Value(_stmt, Checked(ordinal));

    public override bool IsDBNull(int ordinal) => raw.sqlite3_column_type(_stmt, Checked(ordinal)) == raw.SQLITE_NULL;

    public override long GetInt64(int ordinal) => raw.sqlite3_column_int64(_stmt, NotNull(ordinal));

    public override int GetInt32(int ordinal) => checked((int)GetInt64(ordinal));

    public override short GetInt16(int ordinal) => checked((short)GetInt64(ordinal));

    public override byte GetByte(int ordinal) => checked((byte)GetInt64(ordinal));

    public override bool GetBoolean(int ordinal) => GetInt64(ordinal) != 0;

    public override double GetDouble(int ordinal) => raw.sqlite3_column_double(_stmt, NotNull(ordinal));

    public override float GetFloat(int ordinal) => (float)GetDouble(ordinal);

    public override decimal GetDecimal(int ordinal) => raw.sqlite3_column_type(_stmt, NotNull(ordinal)) switch
    {
        raw.SQLITE_INTEGER => GetInt64(ordinal),
        raw.SQLITE_FLOAT => (decimal)GetDouble(ordinal),
        _ => decimal.Parse(GetString(ordinal), NumberStyles.Number | NumberStyles.AllowExponent, CultureInfo.InvariantCulture),
    };

    public override string GetString(int ordinal) => raw.sqlite3_column_text(_stmt, NotNull(ordinal)).utf8_to_string();

    public override char GetChar(int ordinal) => raw.sqlite3_column_type(_stmt, NotNull(ordinal)) == raw.SQLITE_TEXT ? GetString(ordinal)[0] : checked((char)GetInt64(ordinal));

    public override Guid GetGuid(int ordinal) => raw.sqlite3_column_type(_stmt, NotNull(ordinal)) == raw.SQLITE_BLOB
        ? new Guid(raw.sqlite3_column_blob(_stmt, ordinal))
        : Guid.Parse(GetString(ordinal));

    public override DateTime GetDateTime(int ordinal) => raw.sqlite3_column_type(_stmt, NotNull(ordinal)) == raw.SQLITE_TEXT
        ? DateTime.Parse(GetString(ordinal), CultureInfo.InvariantCulture)
        : throw new NotSupportedException("A date in the writer's raw path is only read from text; this store keeps ticks.");

    public override long GetBytes(int ordinal, long dataOffset, byte[]? buffer, int bufferOffset, int length)
    {
        var blob = raw.sqlite3_column_blob(_stmt, NotNull(ordinal));
        if (buffer is null)
        {
            return blob.Length;
        }

        var start = (int)Math.Min(dataOffset, blob.Length);
        var count = Math.Min(length, blob.Length - start);
        blob.Slice(start, count).CopyTo(buffer.AsSpan(bufferOffset));
        return count;
    }

    public override long GetChars(int ordinal, long dataOffset, char[]? buffer, int bufferOffset, int length)
    {
        var text = GetString(ordinal);
        if (buffer is null)
        {
            return text.Length;
        }

        var start = (int)Math.Min(dataOffset, text.Length);
        var count = Math.Min(length, text.Length - start);
        text.AsSpan(start, count).CopyTo(buffer.AsSpan(bufferOffset));
        return count;
    }

    public override string GetName(int ordinal) => raw.sqlite3_column_name(_stmt, Checked(ordinal)).utf8_to_string();

    public override int GetOrdinal(string name)
    {
        for (var i = 0; i < FieldCount; i++)
        {
            if (string.Equals(GetName(i), name, StringComparison.OrdinalIgnoreCase))
            {
                return i;
            }
        }

        throw new ArgumentOutOfRangeException(nameof(name), name, "No column of that name.");
    }

    public override string GetDataTypeName(int ordinal) => raw.sqlite3_column_decltype(_stmt, Checked(ordinal)).utf8_to_string() ?? GetFieldType(ordinal).Name;

    public override Type GetFieldType(int ordinal) => raw.sqlite3_column_type(_stmt, Checked(ordinal)) switch
    {
        raw.SQLITE_INTEGER => typeof(long),
        raw.SQLITE_FLOAT => typeof(double),
        raw.SQLITE_BLOB => typeof(byte[]),
        _ => typeof(string),
    };

    public override int GetValues(object[] values)
    {
        ArgumentNullException.ThrowIfNull(values);
        var n = Math.Min(values.Length, FieldCount);
        for (var i = 0; i < n; i++)
        {
            values[i] = GetValue(i);
        }

        return n;
    }

    // Further rows of the same statement; the caller that owns the statement resets it afterwards.
    public override bool Read() => !_closed && raw.sqlite3_step(_stmt) == raw.SQLITE_ROW;

    public override bool NextResult() => false;

    public override IEnumerator GetEnumerator() => new DbEnumerator(this, closeReader: false);

    public override void Close() => _closed = true;

    private int Checked(int ordinal)
    {
        ObjectDisposedException.ThrowIf(_closed, this);
        return ordinal >= 0 && ordinal < FieldCount ? ordinal : throw new ArgumentOutOfRangeException(nameof(ordinal), ordinal, "No such column.");
    }

    // As Microsoft.Data.Sqlite: a typed getter on NULL fails rather than read 0 or "".
    private int NotNull(int ordinal) => raw.sqlite3_column_type(_stmt, Checked(ordinal)) == raw.SQLITE_NULL
        ? throw new InvalidOperationException($"The data is NULL at ordinal {ordinal}. This method can't be called on NULL values. Check using IsDBNull before calling.")
        : ordinal;
}
