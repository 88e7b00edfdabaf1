using Microsoft.Extensions.Configuration;
using System.CommandLine;
using OpenCM.Composition;

namespace OpenCM.Cli;

/// <summary><c>opencm serve</c> and <c>opencm init</c>.</summary>
internal static class ServeCommands
{
    public static Option<string> DataOption() => new("--data")
    {
        Description = "The data directory (SQLite database, master key).",
        DefaultValueFactory = _ => DataOptions.DefaultDirectory,
    };

    public static Command Serve(CliIo io)
    {
        var store = new StoreOptions();
        var urls = new Option<string?>("--urls") { Description = "Addresses to listen on, e.g. http://127.0.0.1:5000." };
        var command = new Command("serve", "Run the server; the first start initializes the data directory (or the PostgreSQL database).")
            { store.Data, store.Database, store.Connection, urls };

        // Its own help: System.CommandLine's would describe the configuration keys that may follow
        // as "arguments passed to the application", with an unbalanced usage line (issue #23.8).
        command.Options.Add(new System.CommandLine.Help.HelpOption { Action = new ServeHelp(command, io) });

        // Configuration keys may follow as --Section:Key=value (e.g. --RateLimits:Enabled=false),
        // as for every command that takes StoreOptions (StoreOptions.From reads them).
        command.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            // Everything is checked here, before the server starts: a mistyped option or database
            // name is reported by opencm and leaves nothing behind.
            var chosen = store.From(parse);
            var args = new List<string>(chosen.Overrides);
            args.AddRange(chosen.ServerArguments);
            if (parse.GetValue(urls) is { } u)
            {
                args.AddRange(["--urls", u]);
            }

            return await ServerLauncher.RunAsync(args, chosen.ServerEnvironment, ct);
        }));
        return command;
    }

    public static Command Migrate(CliIo io)
    {
        var store = new StoreOptions();
        var command = new Command("migrate", "Bring the database's schema up to date, and nothing else (several nodes may run it at once).")
            { store.Data, store.Database, store.Connection };
        command.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            await using var app = Local.Build(store.From(parse));
            var schema = app.Services.GetRequiredService<Application.IStorageSchema>();
            var applied = await StorageFailures.MigrateAsync(schema, ct);
            await io.Out.WriteLineAsync($"{schema.Location}: {applied} migration(s) applied; schema current");
            return OpenCmCli.Ok;
        }));
        return command;
    }

    public static Command Init(CliIo io)
    {
        var store = new StoreOptions();
        var command = new Command("init", "Initialize a data directory (or a PostgreSQL database) without serving.") { store.Data, store.Database, store.Connection };
        command.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            await using var app = await Local.OpenAsync(store.From(parse), ct, initializes: true);
            var init = await Bootstrapper.InitializeAsync(app.Services, ct);
            await io.Out.WriteLineAsync($"Initialized {init.DataDirectory}: admin {(init.CreatedAdmin ? "created" : "exists")}, {init.ImportedTemplates.Count} sample templates imported.");
            foreach (var note in init.Notes ?? [])
            {
                await io.Out.WriteLineAsync("Note: " + note);
            }

            await io.Out.WriteLineAsync($"CA: {init.CaSubject} (SHA-1 {init.CaThumbprint})");
            return OpenCmCli.Ok;
        }));
        return command;
    }
}

/// <summary>
/// OpenCM's components over a data directory, for commands that work on it directly: the same
/// composition as the server (<see cref="OpenCmComposition.AddOpenCmCore"/>), without HTTP, and
/// configuration from the environment (<c>OpenCM__MasterKey</c>) and <c>--data</c>.
/// </summary>
internal sealed class Local : IAsyncDisposable
{
    private readonly ServiceProvider _services;

    private Local(ServiceProvider services) => _services = services;

    public IServiceProvider Services => _services;

    /// <summary>
    /// Opens (creating if needed) the data directory or database and migrates its schema.
    /// <paramref name="initializes"/>: only <c>opencm init</c> may also create a missing master key (issue #23.7).
    /// </summary>
    public static async Task<Local> OpenAsync(StoreChoice store, CancellationToken ct, bool initializes = false)
    {
        var local = Build(store, initializes);
        try
        {
            await OpenCmComposition.StartAsync(local.Services, ct);
            return local;
        }
        catch
        {
            await local.DisposeAsync();
            throw;
        }
    }

    /// <summary>The components over the store, nothing started: for commands that must look before they migrate.</summary>
    public static Local Build(StoreChoice store, bool initializes = false)
    {
        ArgumentNullException.ThrowIfNull(store);
        var configuration = new ConfigurationBuilder()
            .AddEnvironmentVariables()
            .AddCommandLine([.. store.Arguments], OpenCmComposition.SwitchMappings)
            .Build();
        var services = new ServiceCollection().AddSingleton<IConfiguration>(configuration).AddOpenCmCore();
        if (initializes)
        {
            services.AllowMasterKeyCreation();
        }

        return new Local(services.BuildServiceProvider());
    }

    /// <summary>Like <see cref="OpenAsync"/>, but a mistyped --data (or an empty database) fails instead of creating an empty installation.</summary>
    public static async Task<Local> OpenExistingAsync(StoreChoice store, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(store);
        if (!store.IsPostgres)
        {
            if (!StorageChoice.HasSqliteDatabase(store.DataDirectory))
            {
                throw new CliException($"no OpenCM data directory at '{Path.GetFullPath(store.DataDirectory)}' (run 'opencm init --data {store.DataDirectory}' or 'opencm serve' first)");
            }

            return await OpenAsync(store, ct);
        }

        // PostgreSQL: the database must hold an OpenCM schema already (init, migrate or serve made it).
        await using (var probe = Build(store))
        {
            var status = await probe.Services.GetRequiredService<Application.IStorageSchema>().CheckAsync(ct);
            if (!status.IsReachable)
            {
                throw new CliException("no OpenCM database at the --connection given (run 'opencm migrate' or 'opencm init' with it first, and check the connection)");
            }
        }

        return await OpenAsync(store, ct);
    }

    public ValueTask DisposeAsync() => _services.DisposeAsync();
}

/// <summary>The storage options every data command takes: <c>--data</c>, <c>--database</c>, <c>--connection</c>.</summary>
internal sealed class StoreOptions
{
    public Option<string> Data { get; } = ServeCommands.DataOption();

    public Option<string?> Database { get; } = new("--database") { Description = "sqlite (default: the data directory's database) or postgres; defaults to $OpenCM__Database." };

    public Option<string?> Connection { get; } = new("--connection") { Description = "With --database postgres: the connection string, e.g. \"Host=db;Database=opencm;Username=opencm\"; defaults to $OpenCM__ConnectionString, which keeps its password out of process listings." };

    /// <summary>
    /// The options as given, with the configuration keys that followed them (--Directory:Ldap:Url=…):
    /// every command that reads the data directory (or the directory behind it) takes the same
    /// settings as serve, from --Section:Key switches over the environment (issue #19).
    /// <paramref name="argumentTokens"/>: such keys a command's variadic argument took in.
    /// </summary>
    public StoreChoice From(ParseResult parse, IEnumerable<string>? argumentTokens = null)
    {
        ArgumentNullException.ThrowIfNull(parse);
        return new(parse.GetValue(Data)!, parse.GetValue(Database), parse.GetValue(Connection))
        {
            Overrides = ConfigurationOverrides([.. argumentTokens ?? [], .. parse.UnmatchedTokens]),
        };
    }

    /// <summary>Lets <paramref name="command"/> take configuration keys after its options (read by <see cref="From"/>).</summary>
    public static void AcceptConfigurationKeys(Command command)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (command.Options.Any(o => o.Name == "--data"))
        {
            command.TreatUnmatchedTokensAsErrors = false;
        }

        foreach (var sub in command.Subcommands)
        {
            AcceptConfigurationKeys(sub);
        }
    }

    // Unmatched arguments: only configuration keys (a name with a colon), as "--A:B=v" or "--A:B v";
    // anything else unknown is a mistake to report, not an option to ignore.
    internal static List<string> ConfigurationOverrides(IReadOnlyList<string> tokens)
    {
        var overrides = new List<string>();
        for (var i = 0; i < tokens.Count; i++)
        {
            var token = tokens[i];
            var name = token.StartsWith("--", StringComparison.Ordinal) ? token[2..].Split('=', 2)[0] : "";
            if (!name.Contains(':', StringComparison.Ordinal))
            {
                throw new CliException($"unknown option '{token}' (configuration keys are written --Section:Key=value; see 'opencm <command> --help')");
            }

            overrides.Add(token);
            if (!token.Contains('=', StringComparison.Ordinal))
            {
                if (i + 1 >= tokens.Count)
                {
                    throw new CliException($"'{token}' needs a value (--Section:Key=value)");
                }

                overrides.Add(tokens[++i]);
            }
        }

        return overrides;
    }
}

/// <summary>Where a command's data lives, as the options gave it.</summary>
internal sealed record StoreChoice(string DataDirectory, string? Database, string? Connection)
{
    /// <summary>Configuration keys given as --Section:Key=value switches (tokens as given, e.g. "--Directory:Source=ldap").</summary>
    public IReadOnlyList<string> Overrides { get; init; } = [];

    /// <summary>Whether the data lives in PostgreSQL: the composition's one reading of the name (an unknown name is refused).</summary>
    public bool IsPostgres => StorageChoice.Provider(Database) == Storage.Postgres.PostgresServices.Name;

    /// <summary>The same choice as configuration switches (OpenCmComposition.SwitchMappings); the connection string travels in memory only.</summary>
    public IEnumerable<string> Arguments => [.. Overrides, .. ServerArguments, .. Connection is { } c ? new[] { "--connection", c } : []];

    /// <summary>The choice as the server process's arguments: all but the connection string, which it gets in its environment.</summary>
    public IEnumerable<string> ServerArguments =>
    [
        "--data", Path.GetFullPath(DataDirectory),
        .. Database is { } d ? new[] { "--database", StorageChoice.Provider(d) } : [],
    ];

    /// <summary>
    /// The connection string for the server process, in its environment rather than on its
    /// command line, where every user of the machine could read it in the process list.
    /// </summary>
    public IReadOnlyDictionary<string, string> ServerEnvironment =>
        Connection is { } c ? new Dictionary<string, string>(StringComparer.Ordinal) { ["OpenCM__ConnectionString"] = c } : new Dictionary<string, string>(StringComparer.Ordinal);
}
