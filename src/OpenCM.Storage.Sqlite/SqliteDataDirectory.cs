using OpenCM.Storage;

namespace OpenCM.Storage.Sqlite;

/// <summary>
/// The embedded default's data directory (SPEC §10): <c>opencm.db</c> (SQLite, WAL) and, unless
/// the key comes from elsewhere, <c>master.key</c> (the key that protects secrets at rest, mode
/// 0600). Opening creates the directory (owner-only) and the database file; migrations run apart.
/// </summary>
public sealed class SqliteDataDirectory : IAsyncDisposable
{
    public const string DatabaseFile = "opencm.db";
    public const string MasterKeyFile = "master.key";

    private SqliteDataDirectory(string root, SqliteStorage storage, bool isNew)
    {
        Root = root;
        Storage = storage;
        IsNew = isNew;
    }

    public string Root { get; }

    public SqliteStorage Storage { get; }

    /// <summary>Where the directory's own master key file lives (used when no other key provider is configured).</summary>
    public string MasterKeyPath => Path.Combine(Root, MasterKeyFile);

    /// <summary>True when this open created the database.</summary>
    public bool IsNew { get; }

    /// <summary>Opens (creating if needed) the data directory at <paramref name="path"/>; the schema is not migrated.</summary>
    /// <remarks>
    /// Owner-only, whether new or found: the database holds users, requests, sealed keys and the
    /// audit log beside the master key. The directory is made 0700 and every file in it 0600; a
    /// new database file is created 0600 before SQLite opens it, and SQLite gives its -wal and
    /// -shm files the database's mode.
    /// </remarks>
    public static SqliteDataDirectory Open(string path)
    {
        var dbPath = Path.Combine(Path.GetFullPath(path), DatabaseFile);
        var isNew = !File.Exists(dbPath);
        var root = OwnerOnly.CreateDirectory(path);
        if (!OperatingSystem.IsWindows())
        {
            if (isNew)
            {
                using var created = new FileStream(dbPath, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = OwnerOnly.File });
            }

            foreach (var file in Directory.EnumerateFiles(root))
            {
                File.SetUnixFileMode(file, OwnerOnly.File);
            }
        }

        return new SqliteDataDirectory(root, new SqliteStorage(dbPath), isNew);
    }

    /// <summary>Opens the data directory and migrates its schema, for callers outside a host (tests, tools).</summary>
    public static async Task<SqliteDataDirectory> OpenAsync(string path, TimeProvider clock, CancellationToken ct = default)
    {
        var data = Open(path);
        try
        {
            await data.Storage.MigrateAsync(clock, ct).ConfigureAwait(false);
            return data;
        }
        catch
        {
            await data.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public ValueTask DisposeAsync() => Storage.DisposeAsync();
}
