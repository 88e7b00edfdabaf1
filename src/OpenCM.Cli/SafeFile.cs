using System.CommandLine;

namespace OpenCM.Cli;

/// <summary>
/// Files a command writes (issue #23.6): an existing file is never replaced without
/// <c>--force</c>, and the content appears whole or not at all (written beside it, then renamed
/// over), so an interrupted run leaves no half-written PFX or request behind.
/// </summary>
internal static class SafeFile
{
    public static Option<bool> ForceOption() => new("--force") { Description = "Replace the output file when it exists (without it an existing file is refused)." };

    /// <summary>Refuses an existing <paramref name="path"/> without --force: checked before anything is done on the server.</summary>
    public static void EnsureWritable(string path, bool force)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!force && (File.Exists(path) || Directory.Exists(path)))
        {
            throw new CliException($"{path} exists: pass --force to replace it");
        }

        if (Directory.Exists(path))
        {
            throw new CliException($"{path} is a directory");
        }

        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is { Length: > 0 } && !Directory.Exists(directory))
        {
            throw new CliException($"{path}: the directory {directory} does not exist");
        }
    }

    public static Task WriteAsync(string path, string text, bool force, bool ownerOnly, CancellationToken ct) =>
        WriteAsync(path, System.Text.Encoding.UTF8.GetBytes(text), force, ownerOnly, ct);

    /// <summary>
    /// Writes <paramref name="content"/> to a new file beside <paramref name="path"/> (owner-only
    /// when <paramref name="ownerOnly"/>: it holds keys) and renames it over; without
    /// <paramref name="force"/> a file that appeared meanwhile is not replaced either.
    /// </summary>
    public static async Task WriteAsync(string path, byte[] content, bool force, bool ownerOnly, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(content);
        var full = Path.GetFullPath(path);
        var temporary = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = ownerOnly ? UnixFileMode.UserRead | UnixFileMode.UserWrite : UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
        }

        try
        {
            await using (var stream = new FileStream(temporary, options))
            {
                await stream.WriteAsync(content, ct);
                await stream.FlushAsync(ct);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temporary, full, overwrite: force);
        }
        catch (IOException) when (!force && File.Exists(full))
        {
            throw new CliException($"{path} exists: pass --force to replace it");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"{path} could not be written: {ex.Message}");
        }
        finally
        {
            if (File.Exists(temporary))
            {
                File.Delete(temporary);
            }
        }
    }
}
