namespace OpenCM.Storage;

/// <summary>Directories and files only their owner may read: where the database and the master key live.</summary>
public static class OwnerOnly
{
    public const UnixFileMode Directory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    public const UnixFileMode File = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Creates <paramref name="path"/> if needed and makes it 0700 (whether new or found); the full path.</summary>
    public static string CreateDirectory(string path)
    {
        var root = Path.GetFullPath(path);
        if (OperatingSystem.IsWindows())
        {
            System.IO.Directory.CreateDirectory(root);
        }
        else
        {
            System.IO.Directory.CreateDirectory(root, Directory);
            System.IO.File.SetUnixFileMode(root, Directory);
        }

        return root;
    }
}
