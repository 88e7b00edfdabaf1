using System.CommandLine;
using OpenCM.Cards;
using OpenCM.Domain;
using Spectre.Console;

namespace OpenCM.Cli;

/// <summary>The <c>opencm</c> command (SPEC §11).</summary>
public static class OpenCmCli
{
    // Exit codes, the same for every command (issue #23.2; docs/cli.md).

    /// <summary>0: done.</summary>
    public const int Ok = 0;

    /// <summary>1: the server (or, for a local command, the same rules the server applies) refused: a 4xx.</summary>
    public const int Refused = 1;

    /// <summary>2: a usage error or a local failure (an option, a file, the data directory, a card reader).</summary>
    public const int Usage = 2;

    /// <summary>3: the server could not be reached, or it failed (a 5xx).</summary>
    public const int Unavailable = 3;

    /// <summary>A command's own "not done" that is none of the above (a check that found problems): 1, as a refusal.</summary>
    public const int Failed = Refused;

    public static Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken ct = default) =>
        RunAsync(args, Console.In, output, error, ct);

    /// <summary>Runs a command with <paramref name="input"/> as its standard input (a password given with --password-stdin).</summary>
    public static Task<int> RunAsync(string[] args, TextReader input, TextWriter output, TextWriter error, CancellationToken ct = default) =>
        RunAsync(args, input, output, error, TimeProvider.System, ct);

    /// <summary>Runs a command whose time is <paramref name="clock"/> (tests pin it; <c>opencm doctor</c> reads it).</summary>
    internal static Task<int> RunAsync(string[] args, TextReader input, TextWriter output, TextWriter error, TimeProvider clock, CancellationToken ct = default) =>
        RunAsync(args, new CliIo(output, error, input) { Clock = clock }, ct);

    /// <summary>Runs a command with <paramref name="readers"/> as the computer's smart card readers (tests give emulated cards).</summary>
    internal static Task<int> RunAsync(string[] args, TextReader input, TextWriter output, TextWriter error, ICardReaders readers, CancellationToken ct = default) =>
        RunAsync(args, new CliIo(output, error, input) { CardReaders = () => readers }, ct);

    private static async Task<int> RunAsync(string[] args, CliIo io, CancellationToken ct)
    {
        var (output, error) = (io.Out, io.Err);
        var root = new RootCommand("OpenCM: certificate and smart card management server speaking the MIM CM REST API v1.0.");
        root.Subcommands.Add(ServeCommands.Serve(io));
        root.Subcommands.Add(ServeCommands.Init(io));
        root.Subcommands.Add(ServeCommands.Migrate(io));
        root.Subcommands.Add(DatabaseCommands.Db(io));
        root.Subcommands.Add(DirectoryCommands.Users(io));
        root.Subcommands.Add(DirectoryCommands.Token(io));
        root.Subcommands.Add(DirectoryCommands.Templates(io));
        root.Subcommands.Add(DirectoryCommands.Audit(io));
        root.Subcommands.Add(NotificationCommands.Notifications(io));
        root.Subcommands.Add(CaCommands.Ca(io));
        root.Subcommands.Add(RequestCommands.Requests(io));
        root.Subcommands.Add(EnrollCommand.Create(io));
        root.Subcommands.Add(CertificateCommands.Certificates(io));
        root.Subcommands.Add(CertificateCommands.Revoke(io));
        root.Subcommands.Add(CertificateCommands.Renew(io));
        root.Subcommands.Add(CertificateCommands.Sign(io));
        root.Subcommands.Add(CardCommands.Card(io));
        root.Subcommands.Add(VersionCommand.Create(io));
        VersionCommand.Apply(root, io);
        root.Subcommands.Add(DoctorCommand.Create(io));
        root.Subcommands.Add(ReportCommands.Report(io));
        root.Subcommands.Add(BackupCommands.Backup(io));
        root.Subcommands.Add(BackupCommands.Restore(io));
        root.Subcommands.Add(AcmeCommands.Acme(io));
        StoreOptions.AcceptConfigurationKeys(root);
        ServerConnection.Attach(root);
        var parsed = root.Parse(args);
        ServerConnection.Run(parsed);
        var exit = await parsed.InvokeAsync(new InvocationConfiguration { Output = output, Error = error }, ct);

        // A command line System.CommandLine could not parse (an unknown option, a missing argument) is a usage error: 2, not its default 1.
        return parsed.Errors.Count > 0 ? Usage : exit;
    }
}

/// <summary>Where a command writes: plain text for scripts, tables through Spectre.Console, errors to stderr.</summary>
internal sealed class CliIo
{
    public CliIo(TextWriter output, TextWriter error, TextReader? input = null)
    {
        Out = output;
        Err = error;
        In = input ?? System.Console.In;
        IsTerminal = ReferenceEquals(output, System.Console.Out) && !System.Console.IsOutputRedirected;
        Console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = IsTerminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = IsTerminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = IsTerminal ? InteractionSupport.Detect : InteractionSupport.No,
        });
    }

    /// <summary>Whether stdout is a terminal: tables get borders there, and plain aligned columns in a pipe or file (<see cref="OutputWriter"/>).</summary>
    public bool IsTerminal { get; }

    public TextWriter Out { get; }

    public TextWriter Err { get; }

    public TextReader In { get; }

    /// <summary>The time commands read (the system's; tests pin it).</summary>
    public TimeProvider Clock { get; init; } = TimeProvider.System;

    /// <summary>The smart card readers of this computer (<see cref="Cli.CardReaders.Create"/>; tests give emulated cards), opened when a card command runs.</summary>
    public Func<ICardReaders> CardReaders { get; init; } = Cli.CardReaders.Create;

    /// <summary>A password from standard input (its first line), so that it never shows in a process listing or shell history.</summary>
    public async Task<string> ReadPasswordAsync() =>
        await In.ReadLineAsync() is { Length: > 0 } line ? line : throw new CliException("--password-stdin: no password on standard input");

    public IAnsiConsole Console { get; }

    /// <summary>
    /// Runs a command body, turning known failures into one <c>error:</c> line on stderr and the
    /// exit code of their kind (issue #23.2): a refusal 1, a usage or local failure 2, a server
    /// out of reach or failing 3.
    /// </summary>
    public async Task<int> GuardAsync(Func<Task<int>> body)
    {
        try
        {
            return await body();
        }
        catch (OpenCmException ex)
        {
            // A local command refused by the rules the server applies (an unknown user, a template in use): what a 4xx is to a remote one.
            await Err.WriteLineAsync(ex.Error.Field is null ? $"error: {ex.Error.Detail}" : $"error: {ex.Error.Field}: {ex.Error.Detail}");
            return OpenCmCli.Refused;
        }
        catch (CliException ex)
        {
            await Err.WriteLineAsync($"error: {ex.Message}");
            return ex.ExitCode;
        }
        catch (OpenCM.Client.OpenCmApiException ex)
        {
            await Err.WriteLineAsync($"error: {ex.Message}");
            return ex.Status >= 500 ? OpenCmCli.Unavailable : OpenCmCli.Refused;
        }
        catch (CardException ex)
        {
            // A card or reader refusal: one line that says which (no reader, no card, card removed, …), no stack trace.
            await Err.WriteLineAsync($"error: {CardCommands.Describe(ex)}");
            return OpenCmCli.Usage;
        }
        catch (DirectoryNotFoundException ex)
        {
            await Err.WriteLineAsync($"error: {ex.Message}");
            return OpenCmCli.Usage;
        }
        catch (HttpRequestException ex)
        {
            // The TLS reason or a server that is not OpenCM's, in one line (issue #23.5).
            await Err.WriteLineAsync($"error: {ServerConnection.Describe(ex)}");
            return OpenCmCli.Unavailable;
        }
        catch (TaskCanceledException ex) when (ex.InnerException is TimeoutException)
        {
            // HttpClient's timeout: the server took too long to answer.
            await Err.WriteLineAsync($"error: the server did not answer in time: {ex.InnerException.Message}");
            return OpenCmCli.Unavailable;
        }
        catch (OpenCM.Storage.MasterKeyMissingException ex)
        {
            // Only init and the server's first start create a master key (issue #23.7): say which file is missing and what makes it.
            var directory = Path.GetDirectoryName(ex.Path);
            await Err.WriteLineAsync($"error: {ex.Message}: 'opencm init --data {directory}' or the first 'opencm serve --data {directory}' creates it for a new installation; "
                + "a database that has secrets needs its own key back (restore master.key from your backup, or give OpenCM:MasterKey)");
        }
        catch (OpenCM.Storage.MasterKeyException ex)
        {
            // A node given another master key than the database's secrets were sealed under.
            await Err.WriteLineAsync($"error: {ex.Message} Every node needs the same master key: OpenCM:MasterKey, or a copy of the first node's master.key.");
        }
        catch (OpenCM.Composition.ConfigurationRefusedException ex)
        {
            // Storage configuration the host refused (an unknown OpenCM:Database, postgres without a connection string).
            await Err.WriteLineAsync($"error: {ex.Message}");
        }

        // What remains is local: the master key or the storage configuration.
        return OpenCmCli.Usage;
    }
}

/// <summary>A failure to report to the user as it is: a usage or local error (exit code 2) unless made by <see cref="Refused"/>.</summary>
public sealed class CliException : Exception
{
    /// <summary>
    /// A local command refused by what the store holds (no such user, not a member, no such template):
    /// exit code 1, what the server's 4xx is to a remote command (issue #23.2).
    /// </summary>
    public static CliException Refused(string message) => new(message) { ExitCode = OpenCmCli.Refused };

    /// <summary>The exit code this failure ends the command with.</summary>
    public int ExitCode { get; private init; } = OpenCmCli.Usage;

    public CliException(string message)
        : base(message)
    {
    }

    public CliException()
    {
    }

    public CliException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
