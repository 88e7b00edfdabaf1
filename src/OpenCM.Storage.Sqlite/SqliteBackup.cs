using Microsoft.Data.Sqlite;
using OpenCM.Storage;

namespace OpenCM.Storage.Sqlite;

/// <summary>A backup or restore refused or failed, in words for the operator (never a path to a secret's contents).</summary>
public sealed class BackupException : Exception
{
    public BackupException(string message)
        : base(message)
    {
    }

    public BackupException()
    {
    }

    public BackupException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>The rows of the tables an operator checks after a backup or a restore.</summary>
public sealed record BackupCounts(long Requests, long Profiles, long Certificates, long Smartcards, long AuditEvents, long SchemaVersion);

/// <summary>
/// Online backup and restore of the embedded database (issue #21.4; docs/operations.md, "Backup and restore"). A backup is
/// SQLite's <c>VACUUM INTO</c> on a connection of its own: one read transaction, so it copies the
/// database as of the moment it began (every write acknowledged before is in it, none after), and
/// in WAL mode writers go on committing meanwhile; only the checkpoint waits for it to end. The
/// copy is written owner-only under a temporary name, checked (<c>PRAGMA quick_check</c>), synced
/// and then renamed to its name, which must not exist: a backup never overwrites a file, and a
/// crash never leaves a half-written one under the name asked for. The master key is not copied:
/// it is a secret, backed up apart (docs/operations.md).
/// </summary>
public static class SqliteBackup
{
    /// <summary>Copies the data directory's database to <paramref name="outFile"/>, which must not exist; the copy's counts.</summary>
    public static async Task<BackupCounts> BackupAsync(string dataDirectory, string outFile, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(dataDirectory);
        ArgumentException.ThrowIfNullOrEmpty(outFile);
        var source = Path.Combine(Path.GetFullPath(dataDirectory), SqliteDataDirectory.DatabaseFile);
        if (!File.Exists(source))
        {
            throw new BackupException($"no OpenCM data directory at '{Path.GetFullPath(dataDirectory)}'");
        }

        var target = Path.GetFullPath(outFile);
        if (File.Exists(target) || Directory.Exists(target))
        {
            throw new BackupException($"'{target}' exists: a backup never overwrites a file; name a new one");
        }

        var folder = Path.GetDirectoryName(target)!;
        if (!Directory.Exists(folder))
        {
            throw new BackupException($"no directory '{folder}' to write the backup in");
        }

        var partial = Path.Combine(folder, $".{Path.GetFileName(target)}.{Guid.NewGuid():N}.partial");
        try
        {
            // An empty file made owner-only before SQLite writes into it (VACUUM INTO accepts an empty file):
            // the copy holds password hashes, sealed keys and the audit log, as the database does.
            await using (new FileStream(partial, OperatingSystem.IsWindows()
                ? new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write }
                : new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = OwnerOnly.File }))
            {
            }

            await using (var conn = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = source, Mode = SqliteOpenMode.ReadWrite, Pooling = false, DefaultTimeout = 30 }.ToString()))
            {
                await conn.OpenAsync(ct).ConfigureAwait(false);
                await using var cmd = conn.CreateCommand();
                cmd.CommandText = "PRAGMA busy_timeout=30000; VACUUM INTO @path";
                cmd.Parameters.AddWithValue("@path", partial);
                await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            var counts = await CheckAsync(partial, ct).ConfigureAwait(false);

            // On disk before it takes its name.
            await using (var written = new FileStream(partial, FileMode.Open, FileAccess.ReadWrite))
            {
                written.Flush(flushToDisk: true);
            }

            try
            {
                File.Move(partial, target, overwrite: false);
            }
            catch (IOException e)
            {
                throw new BackupException($"'{target}' appeared while the backup was written: a backup never overwrites a file", e);
            }

            return counts;
        }
        catch (SqliteException e)
        {
            throw new BackupException($"the backup failed: {e.Message}", e);
        }
        finally
        {
            File.Delete(partial);
        }
    }

    /// <summary>
    /// Copies the backup <paramref name="backupFile"/> into <paramref name="dataDirectory"/> as its
    /// database, after checking it is an OpenCM database; the directory must be absent or empty.
    /// The master key is the caller's to put beside it before anything opens the directory.
    /// </summary>
    public static async Task<BackupCounts> RestoreDatabaseAsync(string backupFile, string dataDirectory, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(backupFile);
        ArgumentException.ThrowIfNullOrEmpty(dataDirectory);
        var source = Path.GetFullPath(backupFile);
        if (!File.Exists(source))
        {
            throw new BackupException($"no backup file '{source}'");
        }

        var root = Path.GetFullPath(dataDirectory);
        RefuseNonEmpty(root);
        BackupCounts counts;
        try
        {
            counts = await CheckAsync(source, ct).ConfigureAwait(false);
        }
        catch (SqliteException e)
        {
            throw new BackupException($"'{source}' is not an OpenCM backup ({e.Message})", e);
        }

        OwnerOnly.CreateDirectory(root);
        var database = Path.Combine(root, SqliteDataDirectory.DatabaseFile);
        var partial = database + ".partial";
        try
        {
            await using (var from = new FileStream(source, FileMode.Open, FileAccess.Read, FileShare.Read))
            await using (var to = new FileStream(partial, OperatingSystem.IsWindows()
                ? new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write }
                : new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = OwnerOnly.File }))
            {
                await from.CopyToAsync(to, ct).ConfigureAwait(false);
                to.Flush(flushToDisk: true);
            }

            File.Move(partial, database, overwrite: false);
        }
        finally
        {
            File.Delete(partial);
        }

        return counts;
    }

    /// <summary>Refuses a target that holds anything: a restore never mixes with, or replaces, an installation.</summary>
    public static void RefuseNonEmpty(string dataDirectory)
    {
        var root = Path.GetFullPath(dataDirectory);
        if (File.Exists(root) || (Directory.Exists(root) && Directory.EnumerateFileSystemEntries(root).Any()))
        {
            throw new BackupException($"'{root}' is not empty: restore into a new or empty directory (a restore never replaces an installation)");
        }
    }

    /// <summary>The counts an operator compares after a backup or restore, read from the database file at <paramref name="databaseFile"/>.</summary>
    public static async Task<BackupCounts> CountsAsync(string databaseFile, CancellationToken ct = default)
    {
        await using var conn = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = databaseFile, Mode = SqliteOpenMode.ReadOnly, Pooling = false, DefaultTimeout = 30 }.ToString());
        await conn.OpenAsync(ct).ConfigureAwait(false);
        return await CountsAsync(conn, ct).ConfigureAwait(false);
    }

    // Integrity (quick_check: pages and indexes, without cross-checking every row) and the counts of the copy.
    private static async Task<BackupCounts> CheckAsync(string file, CancellationToken ct)
    {
        await using var conn = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = file, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        await conn.OpenAsync(ct).ConfigureAwait(false);
        await using (var check = conn.CreateCommand())
        {
            check.CommandText = "PRAGMA quick_check";
            if (await check.ExecuteScalarAsync(ct).ConfigureAwait(false) is not "ok")
            {
                throw new BackupException($"'{file}' fails SQLite's integrity check");
            }
        }

        await using (var schema = conn.CreateCommand())
        {
            schema.CommandText = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('schema_migrations', 'audit_events', 'requests')";
            if (Convert.ToInt64(await schema.ExecuteScalarAsync(ct).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture) != 3)
            {
                throw new BackupException($"'{file}' is an SQLite database, but not an OpenCM one");
            }
        }

        return await CountsAsync(conn, ct).ConfigureAwait(false);
    }

    private static async Task<BackupCounts> CountsAsync(SqliteConnection conn, CancellationToken ct)
    {
        // One statement, so that the counts are of one snapshot.
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT (SELECT COUNT(*) FROM requests), (SELECT COUNT(*) FROM profiles), (SELECT COUNT(*) FROM certificates), " +
                          "(SELECT COUNT(*) FROM smartcards), (SELECT COUNT(*) FROM audit_events), (SELECT COALESCE(MAX(version), 0) FROM schema_migrations)";
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        await r.ReadAsync(ct).ConfigureAwait(false);
        return new BackupCounts(r.GetInt64(0), r.GetInt64(1), r.GetInt64(2), r.GetInt64(3), r.GetInt64(4), r.GetInt64(5));
    }
}
