using System.Data.Common;

namespace OpenCM.Storage;

/// <summary>
/// A provider's faster way to run statements on one connection that a single thread owns (the
/// SQLite group-commit writer: issue #25, decision 2). <see cref="Sql"/> offers it every statement
/// it runs on that connection; each method returns false for a statement or a value the runner
/// does not take, and the statement then runs through ADO.NET as before, so the stores' SQL text
/// and behaviour stay the same whichever path ran it. Failures are the provider's own exceptions
/// (the ones its ADO.NET driver throws), so that unavailability and constraint handling see no difference.
/// </summary>
public interface IStatementRunner : IDisposable
{
    /// <summary>Runs the statement to its end; <paramref name="rowsAffected"/> as ADO.NET's ExecuteNonQuery counts it.</summary>
    bool TryExecute(string sql, (string Name, object? Value)[] args, out int rowsAffected);

    /// <summary>The first column of the first row (null when there is none), as ADO.NET's ExecuteScalar gives it.</summary>
    bool TryScalar(string sql, (string Name, object? Value)[] args, out object? value);

    /// <summary>Maps the first row with <paramref name="map"/>; <paramref name="found"/> false when there is none.</summary>
    bool TryFirstRow<T>(string sql, (string Name, object? Value)[] args, Func<DbDataReader, T> map, out T? row, out bool found);
}
