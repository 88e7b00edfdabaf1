using System.Data.Common;
using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.Storage;

namespace OpenCM.Composition;

/// <summary>
/// A database that cannot be used at start, said in one line that names it and what to check
/// (issue #23.9): the server's start, <c>opencm migrate</c>, every command that opens the data,
/// and <c>opencm db copy</c>'s target. Never a password: <see cref="StorageProvider.Location"/>
/// carries none, and the driver's messages name a host and a user at most.
/// </summary>
public static class StorageFailures
{
    /// <summary>Migrates the schema (<see cref="IStorageSchema.MigrateAsync"/>), the failures an operator fixes refused as <see cref="ConfigurationRefusedException"/>.</summary>
    public static async Task<int> MigrateAsync(IStorageSchema schema, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(schema);
        try
        {
            return await schema.MigrateAsync(ct).ConfigureAwait(false);
        }
        catch (Exception e) when (Describe(schema.Location, e) is { } line)
        {
            throw new ConfigurationRefusedException(line, e);
        }
    }

    /// <summary>
    /// One line for a failure to reach or use the database at <paramref name="location"/>, or null
    /// when <paramref name="failure"/> is none of those (a bug, whose stack trace is wanted).
    /// </summary>
    /// <param name="location">Where the data lives (<see cref="StorageProvider.Location"/>).</param>
    /// <param name="failure">What the start caught.</param>
    /// <param name="connection">Where the connection string was given, for the advice.</param>
    public static string? Describe(string location, Exception failure, string connection = "the connection string (OpenCM:ConnectionString, --connection)") => failure switch
    {
        SchemaNewerException newer => newer.Message,
        OpenCmException { Error.Kind: ErrorKind.Unavailable } => $"the database at {location} cannot be reached ({Cause(failure)}): " + (IsPostgres(location)
            ? $"check that it runs, and the host, port and database of {connection}"
            : "check the file and its permissions, and that no other program holds it locked"),
        DbException db when IsRefusedSignIn(db) => $"the database at {location} refused the connection ({db.Message}): "
            + $"check the user, password and database of {connection}",
        _ => null,
    };

    // PostgresStorage.Location: postgres://host:port/database.
    private static bool IsPostgres(string location) => location.StartsWith("postgres://", StringComparison.Ordinal);

    // SQLSTATE class 28 (invalid authorization) and 3D000 (no such database): the sign-in, not the work.
    private static bool IsRefusedSignIn(DbException e) =>
        e.SqlState is { Length: 5 } state && (state.StartsWith("28", StringComparison.Ordinal) || state == "3D000");

    // What the driver said, outermost and innermost (e.g. "Failed to connect to 127.0.0.1:5432: Connection refused").
    private static string Cause(Exception failure)
    {
        var first = failure.InnerException ?? failure;
        var last = first;
        while (last.InnerException is not null)
        {
            last = last.InnerException;
        }

        return ReferenceEquals(first, last) || first.Message.Contains(last.Message, StringComparison.Ordinal)
            ? first.Message.TrimEnd('.')
            : $"{first.Message.TrimEnd('.')}: {last.Message.TrimEnd('.')}";
    }
}
