using Microsoft.Extensions.Configuration;
using System.CommandLine;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using OpenCM.Server.Hosting;

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

        // Configuration keys may follow as --Section:Key=value (e.g. --RateLimits:Enabled=false);
        // anything else unknown is a mistake to report, not an option to ignore.
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            var args = new List<string>(ConfigurationOverrides(parse.UnmatchedTokens));
            args.AddRange(store.From(parse).Arguments);
            if (parse.GetValue(urls) is { } u)
            {
                args.AddRange(["--urls", u]);
            }

            await using var app = OpenCmServer.Build([.. args]);
            await OpenCmServer.RunAsync(app, async (started, init) =>
            {
                var addresses = started.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
                await io.Out.WriteLineAsync($"OpenCM is serving {string.Join(", ", addresses)} (data: {init.DataDirectory})");
                if (init.CreatedAdmin || init.ImportedTemplates.Count > 0)
                {
                    await io.Out.WriteLineAsync($"First start: created the administrator '{Bootstrapper.AdminUser}' and imported {init.ImportedTemplates.Count} sample templates ({string.Join(", ", init.ImportedTemplates)}).");
                }

                await io.Out.WriteLineAsync($"CA: {init.CaSubject} (SHA-1 {init.CaThumbprint})");
                var portal = started.Services.GetRequiredService<ApiOptions>().PathBase.TrimEnd('/') + "/";
                await io.Out.WriteLineAsync($"Portal: {addresses.FirstOrDefault()}{portal} (sign in as a directory user with a password: opencm users set-password --name NAME --password-stdin)");
                var where = store.From(parse).IsPostgres ? "--database postgres --connection \"…\"" : $"--data {init.DataDirectory}";
                await io.Out.WriteLineAsync($"Get a token: opencm token {where} --user {Bootstrapper.AdminUser}");
                await io.Out.WriteLineAsync("  (from a source checkout: dotnet run --project src/OpenCM.Cli -- token ...)");
            }, ct);
            return OpenCmCli.Ok;
        }));
        return command;
    }

    // Unmatched serve arguments: only configuration keys (a name with a colon), as "--A:B=v" or "--A:B v".
    private static List<string> ConfigurationOverrides(IReadOnlyList<string> tokens)
    {
        var overrides = new List<string>();
        for (var i = 0; i < tokens.Count; i++)
        {
            var token = tokens[i];
            var name = token.StartsWith("--", StringComparison.Ordinal) ? token[2..].Split('=', 2)[0] : "";
            if (!name.Contains(':', StringComparison.Ordinal))
            {
                throw new CliException($"unknown option '{token}' (configuration keys are written --Section:Key=value; see 'opencm serve --help')");
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

    public static Command Migrate(CliIo io)
    {
        var store = new StoreOptions();
        var command = new Command("migrate", "Bring the database's schema up to date, and nothing else (several nodes may run it at once).")
            { store.Data, store.Database, store.Connection };
        command.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            await using var app = Local.Build(store.From(parse));
            var schema = app.Services.GetRequiredService<Application.IStorageSchema>();
            var applied = await schema.MigrateAsync(ct);
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
            await using var app = await Local.OpenAsync(store.From(parse), ct);
            var init = await Bootstrapper.InitializeAsync(app.Services, ct);
            await io.Out.WriteLineAsync($"Initialized {init.DataDirectory}: admin {(init.CreatedAdmin ? "created" : "exists")}, {init.ImportedTemplates.Count} sample templates imported.");
            await io.Out.WriteLineAsync($"CA: {init.CaSubject} (SHA-1 {init.CaThumbprint})");
            return OpenCmCli.Ok;
        }));
        return command;
    }
}

/// <summary>
/// OpenCM's components over a data directory, for commands that work on it directly: the same
/// registrations as the server (<see cref="OpenCmServices.AddOpenCmCore"/>), without HTTP, and
/// configuration from the environment (<c>OpenCM__MasterKey</c>) and <c>--data</c>.
/// </summary>
internal sealed class Local : IAsyncDisposable
{
    private readonly ServiceProvider _services;

    private Local(ServiceProvider services) => _services = services;

    public IServiceProvider Services => _services;

    /// <summary>Opens (creating if needed) the data directory or database and migrates its schema.</summary>
    public static async Task<Local> OpenAsync(StoreChoice store, CancellationToken ct)
    {
        var local = Build(store);
        try
        {
            await OpenCmServices.StartAsync(local.Services, ct);
            return local;
        }
        catch
        {
            await local.DisposeAsync();
            throw;
        }
    }

    /// <summary>The components over the store, nothing started: for commands that must look before they migrate.</summary>
    public static Local Build(StoreChoice store)
    {
        ArgumentNullException.ThrowIfNull(store);
        var configuration = new ConfigurationBuilder()
            .AddEnvironmentVariables()
            .AddCommandLine([.. store.Arguments], OpenCmServices.SwitchMappings)
            .Build();
        return new Local(new ServiceCollection().AddSingleton<IConfiguration>(configuration).AddOpenCmCore().BuildServiceProvider());
    }

    /// <summary>Like <see cref="OpenAsync"/>, but a mistyped --data (or an empty database) fails instead of creating an empty installation.</summary>
    public static async Task<Local> OpenExistingAsync(StoreChoice store, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(store);
        if (!store.IsPostgres)
        {
            var full = Path.GetFullPath(store.DataDirectory);
            if (!File.Exists(Path.Combine(full, Storage.Sqlite.SqliteDataDirectory.DatabaseFile)))
            {
                throw new CliException($"no OpenCM data directory at '{full}' (run 'opencm init --data {store.DataDirectory}' or 'opencm serve' first)");
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

    public Option<string?> Database { get; } = new("--database") { Description = "sqlite (default: the data directory's database) or postgres." };

    public Option<string?> Connection { get; } = new("--connection") { Description = "With --database postgres: the connection string, e.g. \"Host=db;Database=opencm;Username=opencm\"." };

    public StoreChoice From(ParseResult parse) => new(parse.GetValue(Data)!, parse.GetValue(Database), parse.GetValue(Connection));
}

/// <summary>Where a command's data lives, as the options gave it.</summary>
internal sealed record StoreChoice(string DataDirectory, string? Database, string? Connection)
{
    public bool IsPostgres => Database is { } d && !string.Equals(d, DataOptions.Sqlite, StringComparison.OrdinalIgnoreCase);

    /// <summary>The same choice as configuration switches (OpenCmServices.SwitchMappings); the connection string travels in memory only.</summary>
    public IEnumerable<string> Arguments =>
    [
        "--data", Path.GetFullPath(DataDirectory),
        .. Database is { } d ? new[] { "--database", d } : [],
        .. Connection is { } c ? new[] { "--connection", c } : [],
    ];
}
