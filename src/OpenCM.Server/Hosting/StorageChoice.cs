namespace OpenCM.Server.Hosting;

/// <summary>What the host needs besides the providers themselves when it picks one (SPEC §10).</summary>
internal static class StorageChoice
{
    /// <summary>
    /// On PostgreSQL the data directory holds only the master key file: made owner-only, as
    /// SQLite's is. Every node needs a copy of the same key file, or <c>OpenCM:MasterKey</c>.
    /// </summary>
    public static string KeyFileBeside(string dataDirectory) =>
        Path.Combine(Storage.OwnerOnly.CreateDirectory(dataDirectory), Storage.Sqlite.SqliteDataDirectory.MasterKeyFile);
}
