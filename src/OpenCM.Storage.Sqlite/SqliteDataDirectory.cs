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
    public static SqliteDataDirectory Open(string path)
    {
        var root = Path.GetFullPath(path);
        if (!Directory.Exists(root))
        {
            // Owner-only: the database holds users, requests and the audit log beside the master key.
            if (OperatingSystem.IsWindows())
            {
                Directory.CreateDirectory(root);
            }
            else
            {
                Directory.CreateDirectory(root, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
        }

        var dbPath = Path.Combine(root, DatabaseFile);
        var isNew = !File.Exists(dbPath);
        return new SqliteDataDirectory(root, new SqliteStorage(dbPath), isNew);
    }

    /// <summary>Opens the data directory and migrates its schema, for callers outside a host (tests, tools).</summary>
    public static async Task<SqliteDataDirectory> OpenAsync(string path, CancellationToken ct = default)
    {
        var data = Open(path);
        try
        {
            await data.Storage.MigrateAsync(ct).ConfigureAwait(false);
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
