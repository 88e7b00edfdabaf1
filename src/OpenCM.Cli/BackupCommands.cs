using System.CommandLine;
using System.Globalization;
using OpenCM.Application;
using OpenCM.Composition;
using OpenCM.Storage;
using OpenCM.Storage.Sqlite;
using Spectre.Console;

namespace OpenCM.Cli;

/// <summary>
/// <c>opencm backup</c> and <c>opencm restore</c> (issue #21.4; docs/operations.md "Backup and
/// restore"): an online copy of the embedded database while the server runs, and its restore
/// into a new data directory, checked (audit chain, counts) before anyone serves it. The master
/// key is a secret kept apart from the backup (restore takes it with --master-key).
/// </summary>
internal static class BackupCommands
{
    /// <summary>Where the PostgreSQL operator is sent: OpenCM does not copy a server it does not own.</summary>
    public const string PostgresPointer =
        "opencm backup copies the embedded SQLite database; back up PostgreSQL with pg_dump, or continuous archiving (WAL) for point-in-time recovery, and keep the master key apart (docs/operations.md, \"Backup and restore\")";

    public static Command Backup(CliIo io)
    {
        var store = new StoreOptions();
        var output = new Option<string>("--out") { Description = "The backup file to write; it must not exist.", Required = true };
        var command = new Command("backup", "Copy the embedded database while the server runs (a consistent snapshot; writers are not stopped).") { store.Data, store.Database, store.Connection, output };
        command.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            var chosen = store.From(parse);
            string directory;
            await using (var app = Local.Build(chosen))
            {
                // The composition's reading of the settings (--database, OpenCM:Database, OpenCM__Database) decides.
                var data = app.Services.GetRequiredService<DataOptions>();
                if (data.IsPostgres)
                {
                    throw new CliException(PostgresPointer);
                }

                directory = data.DataDirectory;
            }

            var target = Path.GetFullPath(parse.GetValue(output)!);
            var counts = await Guard(() => SqliteBackup.BackupAsync(directory, target, ct));
            await io.Out.WriteLineAsync($"backup written: {target} ({new FileInfo(target).Length.ToString(CultureInfo.InvariantCulture)} bytes, schema {counts.SchemaVersion.ToString(CultureInfo.InvariantCulture)})");
            await CountsAsync(io, counts);
            var keyFile = Path.Combine(Path.GetFullPath(directory), SqliteDataDirectory.MasterKeyFile);
            await io.Out.WriteLineAsync(File.Exists(keyFile)
                ? $"The master key is not in the backup: keep a copy of {keyFile} apart, as a secret; restore needs it (--master-key)."
                : "The master key is not in the backup: keep OpenCM:MasterKey apart, as a secret; restore needs it (OpenCM__MasterKey).");
            return OpenCmCli.Ok;
        }));
        return command;
    }

    public static Command Restore(CliIo io)
    {
        var from = new Option<string>("--from") { Description = "The backup file (from 'opencm backup').", Required = true };
        var data = new Option<string>("--data") { Description = "The data directory to restore into: new or empty.", Required = true };
        var key = new Option<string?>("--master-key") { Description = "A copy of the master.key of the installation the backup is of (or give OpenCM__MasterKey)." };
        var command = new Command("restore", "Restore a backup into a new data directory, then check its audit chain and print its counts.") { from, data, key };
        command.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            var root = Path.GetFullPath(parse.GetValue(data)!);
            var backup = Path.GetFullPath(parse.GetValue(from)!);

            // Everything is checked before anything is written: the options, the target, the key, the backup.
            var store = new StoreChoice(root, null, null) { Overrides = StoreOptions.ConfigurationOverrides([.. parse.UnmatchedTokens]) };
            Guard(() => SqliteBackup.RefuseNonEmpty(root));
            var keyText = await Guard(() => Task.FromResult(MasterKeyText(parse.GetValue(key))));
            if (!File.Exists(backup))
            {
                throw new CliException($"no backup file '{backup}'");
            }

            var existed = Directory.Exists(root);
            BackupCounts restored;
            AuditVerification chain;
            try
            {
                restored = await Guard(() => SqliteBackup.RestoreDatabaseAsync(backup, root, ct));
                if (keyText is not null)
                {
                    // Beside the database before anything opens the directory, which would otherwise make a new key.
                    await Guard(async () =>
                    {
                        await using var file = new FileStream(Path.Combine(root, SqliteDataDirectory.MasterKeyFile), OperatingSystem.IsWindows()
                            ? new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write }
                            : new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = OwnerOnly.File });
                        await using var writer = new StreamWriter(file);
                        await writer.WriteAsync(keyText);
                        return 0;
                    });
                }

                // Opened as serve would open it (a backup of an older release is migrated here), then checked.
                await using var app = await Local.OpenExistingAsync(store, ct);
                chain = await AuditChain.VerifyAsync(app.Services.GetRequiredService<IAuditLog>(), app.Services.GetRequiredService<AuditChainKey>(), ct);
            }
            catch
            {
                // Failed before the check (another master key, a file-system error): nothing half-restored is left to serve.
                Remove(root, existed);
                throw;
            }

            var counts = await SqliteBackup.CountsAsync(Path.Combine(root, SqliteDataDirectory.DatabaseFile), ct);
            await io.Out.WriteLineAsync($"restored {backup} into {root} (schema {restored.SchemaVersion.ToString(CultureInfo.InvariantCulture)}, now {counts.SchemaVersion.ToString(CultureInfo.InvariantCulture)})");
            await CountsAsync(io, counts);
            if (!chain.IsIntact)
            {
                // Left in place for inspection; nobody should serve it.
                await io.Err.WriteLineAsync($"error: the restored audit chain is broken at event {chain.FirstBad}: {chain.Reason} (a master key other than the backup's breaks it at its first keyed event); do not serve {root}");
                return OpenCmCli.Failed;
            }

            await io.Out.WriteLineAsync($"audit chain intact: {chain.Count.ToString(CultureInfo.InvariantCulture)} events verified");
            return OpenCmCli.Ok;
        }));
        return command;
    }

    // The master key as the restored directory will hold it: from --master-key, or none when OpenCM__MasterKey gives it.
    private static string? MasterKeyText(string? path)
    {
        if (path is null)
        {
            return Environment.GetEnvironmentVariable("OpenCM__MasterKey") is { Length: > 0 }
                ? null
                : throw new CliException("restore needs the master key of the installation the backup is of: --master-key FILE (a copy of its master.key), or OpenCM__MasterKey");
        }

        var full = Path.GetFullPath(path);
        if (!File.Exists(full))
        {
            throw new CliException($"no master key file '{full}'");
        }

        var text = new FileInfo(full).Length <= 1024 ? File.ReadAllText(full).Trim() : "";
        try
        {
            _ = MasterKey.FromBase64(text);
        }
        catch (Exception e) when (e is FormatException or MasterKeyException)
        {
            // Never the file's contents: it may be a secret of another kind.
            throw new CliException($"'{full}' is not a master key file (32 bytes, base64, as master.key holds)");
        }

        return text;
    }

    private static Task CountsAsync(CliIo io, BackupCounts counts) =>
        io.WriteTableAsync(
            ["Requests", "Profiles", "Certificates", "Cards", "Audit events"],
            [[Number(counts.Requests), Number(counts.Profiles), Number(counts.Certificates), Number(counts.Smartcards), Number(counts.AuditEvents)]]);

    private static string Number(long n) => n.ToString(CultureInfo.InvariantCulture);

    // Refusals and file-system failures (a directory not writable, a full disk) as the one-line error they are.
    private static async Task<T> Guard<T>(Func<Task<T>> work)
    {
        try
        {
            return await work();
        }
        catch (BackupException e)
        {
            throw new CliException(e.Message);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException(e.Message);
        }
    }

    private static void Guard(Action work) => Guard<int>(() =>
    {
        work();
        return Task.FromResult(0);
    }).GetAwaiter().GetResult();

    // What a failed restore wrote into the directory it found empty (or made).
    private static void Remove(string root, bool existed)
    {
        foreach (var name in new[] { SqliteDataDirectory.DatabaseFile, SqliteDataDirectory.DatabaseFile + "-wal", SqliteDataDirectory.DatabaseFile + "-shm", SqliteDataDirectory.MasterKeyFile })
        {
            File.Delete(Path.Combine(root, name));
        }

        if (!existed && Directory.Exists(root) && !Directory.EnumerateFileSystemEntries(root).Any())
        {
            Directory.Delete(root);
        }
    }
}
