using System.CommandLine;
using OpenCM.Composition;
using OpenCM.Storage;
using OpenCM.Storage.Sqlite;
using Spectre.Console;

namespace OpenCM.Cli;

/// <summary><c>opencm db copy</c>: an embedded install moves to PostgreSQL (issue #9.3).</summary>
internal static class DatabaseCommands
{
    public static Command Db(CliIo io)
    {
        var db = new Command("db", "Move data between databases.");
        var from = new Option<string>("--from") { Description = "The source: sqlite:DIR (a data directory).", Required = true };
        var to = new Option<string>("--to") { Description = "The target: postgres:CONNECTION, an empty database.", Required = true };
        var copy = new Command("copy", "Copy every table into an empty database, then check the counts and the audit chain there.") { from, to };
        copy.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            await using var source = Open(parse.GetValue(from)!, "--from");
            await using var target = Open(parse.GetValue(to)!, "--to");
            await ReachableAsync(source, "--from", ct);
            await ReachableAsync(target, "--to", ct);

            // The audit chain is keyed under the master key (decision 0010): the source's, as serve loads it.
            source.AuditKey = target.AuditKey = MasterKeyOf(parse.GetValue(from)!).AuditChainKey();
            CopyReport report;
            try
            {
                report = await StorageCopy.CopyAsync(source, target, TimeProvider.System, ct);
            }
            catch (StorageCopyException e)
            {
                throw new CliException(e.Message);
            }

            await io.WriteTableAsync(
                ["Table", "Source rows", "Target rows"],
                [.. report.Tables.Select(t => new[] { t.Table, t.Source.ToString(System.Globalization.CultureInfo.InvariantCulture), t.Target.ToString(System.Globalization.CultureInfo.InvariantCulture) })]);
            var mismatched = report.Tables.Where(t => t.Source != t.Target).Select(t => t.Table).ToList();
            if (mismatched.Count > 0 || !report.AuditIntact)
            {
                await io.Err.WriteLineAsync($"error: the copy does not match (tables: {string.Join(", ", mismatched)}; audit chain intact: {report.AuditIntact})");
                return OpenCmCli.Failed;
            }

            await io.Out.WriteLineAsync($"copied; counts match; audit chain intact ({report.AuditEvents} events).");
            await io.Out.WriteLineAsync("Secrets stay sealed under the source's master key: give every node that key (a copy of its master.key, or OpenCM:MasterKey).");
            return OpenCmCli.Ok;
        }));
        db.Subcommands.Add(copy);
        return db;
    }

    // OpenCM__MasterKey when given (a secret manager), else the source data directory's key file, as serve would load it.
    private static MasterKey MasterKeyOf(string source)
    {
        if (Environment.GetEnvironmentVariable("OpenCM__MasterKey") is { Length: > 0 } configured)
        {
            return new ConfiguredMasterKeyProvider(configured).Load();
        }

        var colon = source.IndexOf(':', StringComparison.Ordinal);
        var dir = source[(colon + 1)..];
        return File.Exists(Path.Combine(Path.GetFullPath(dir), SqliteDataDirectory.MasterKeyFile))
            ? new FileMasterKeyProvider(Path.Combine(Path.GetFullPath(dir), SqliteDataDirectory.MasterKeyFile), mayCreate: false).Load()
            : throw new CliException("the master key is needed to verify the audit chain: give OpenCM__MasterKey, or copy from a data directory that holds master.key");
    }

    // A database that does not answer (or refuses the sign-in) is named in one line, with what to check, before anything is read (issue #23.9).
    private static async Task ReachableAsync(StorageProvider provider, string option, CancellationToken ct)
    {
        try
        {
            await provider.TablesAsync(ct);
        }
        catch (Exception e) when (StorageFailures.Describe(provider.Location, e, $"the connection string of {option}") is { } line)
        {
            throw new CliException($"{option}: {line}");
        }
    }

    // sqlite:DIR or postgres:CONNECTION, the provider named as OpenCM:Database names it; the connection string is never printed back.
    private static StorageProvider Open(string spec, string option)
    {
        var colon = spec.IndexOf(':', StringComparison.Ordinal);
        var (kind, rest) = colon < 0 ? (spec, "") : (spec[..colon], spec[(colon + 1)..]);
        if (kind.Length == 0 || rest.Length == 0)
        {
            throw new CliException($"{option} is sqlite:DIR or postgres:CONNECTION");
        }

        string provider;
        try
        {
            provider = StorageChoice.Provider(kind);
        }
        catch (InvalidOperationException)
        {
            throw new CliException($"{option} is sqlite:DIR or postgres:CONNECTION");
        }

        if (provider == SqliteServices.Name && !StorageChoice.HasSqliteDatabase(rest))
        {
            throw new CliException($"{option}: no OpenCM data directory at '{Path.GetFullPath(rest)}'");
        }

        return StorageChoice.Open(provider, rest);
    }
}
