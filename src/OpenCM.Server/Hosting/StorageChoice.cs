namespace OpenCM.Server.Hosting;

/// <summary>What the host needs besides the providers themselves when it picks one (SPEC §10).</summary>
internal static class StorageChoice
{
    private const UnixFileMode OwnerOnlyDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>
    /// On PostgreSQL the data directory holds only the master key file (and the data-protection
    /// keys): made owner-only, as SQLite's is. Every node needs a copy of the same key file, or
    /// <c>OpenCM:MasterKey</c>.
    /// </summary>
    public static string KeyFileBeside(string dataDirectory)
    {
        var root = Path.GetFullPath(dataDirectory);
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(root);
        }
        else
        {
            Directory.CreateDirectory(root, OwnerOnlyDirectory);
            File.SetUnixFileMode(root, OwnerOnlyDirectory);
        }

        return Path.Combine(root, Storage.Sqlite.SqliteDataDirectory.MasterKeyFile);
    }
}
