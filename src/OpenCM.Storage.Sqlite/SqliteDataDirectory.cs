using OpenCM.Storage;

namespace OpenCM.Storage.Sqlite;

/// <summary>
/// The embedded default's data directory (SPEC §10): <c>opencm.db</c> (SQLite, WAL) and
/// <c>master.key</c> (the key that protects secrets at rest, mode 0600). Opening it creates what
/// is missing and runs pending migrations.
/// </summary>
public sealed class SqliteDataDirectory : IAsyncDisposable
{
    public const string DatabaseFile = "opencm.db";
    public const string MasterKeyFile = "master.key";

    private SqliteDataDirectory(string root, SqliteStorage storage, MasterKey masterKey, bool isNew)
    {
        Root = root;
        Storage = storage;
        MasterKey = masterKey;
        IsNew = isNew;
    }

    public string Root { get; }

    public SqliteStorage Storage { get; }

    public MasterKey MasterKey { get; }

    /// <summary>True when this open created the database.</summary>
    public bool IsNew { get; }

    /// <summary>Opens (creating if needed) the data directory at <paramref name="path"/>.</summary>
    /// <param name="masterKeyBase64">A master key from configuration; otherwise the key file is used.</param>
    public static async Task<SqliteDataDirectory> OpenAsync(string path, string? masterKeyBase64 = null, CancellationToken ct = default)
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
        var key = string.IsNullOrEmpty(masterKeyBase64)
            ? MasterKey.LoadOrCreate(Path.Combine(root, MasterKeyFile))
            : MasterKey.FromBase64(masterKeyBase64);
        var storage = new SqliteStorage(dbPath);
        try
        {
            await storage.MigrateAsync(ct).ConfigureAwait(false);
        }
        catch
        {
            await storage.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return new SqliteDataDirectory(root, storage, key, isNew);
    }

    public ValueTask DisposeAsync() => Storage.DisposeAsync();
}
