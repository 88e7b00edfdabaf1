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
        var data = DataOption();
        var urls = new Option<string?>("--urls") { Description = "Addresses to listen on, e.g. http://127.0.0.1:5000." };
        var command = new Command("serve", "Run the server; the first start initializes the data directory.") { data, urls };
        command.TreatUnmatchedTokensAsErrors = false; // the rest goes to ASP.NET Core configuration
        command.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            var dir = Path.GetFullPath(parse.GetValue(data)!);
            var args = new List<string>(parse.UnmatchedTokens) { "--data", dir };
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
                await io.Out.WriteLineAsync($"Get a token: opencm token --data {init.DataDirectory} --user {Bootstrapper.AdminUser}");
                await io.Out.WriteLineAsync("  (from a source checkout: dotnet run --project src/OpenCM.Cli -- token ...)");
            }, ct);
            return OpenCmCli.Ok;
        }));
        return command;
    }

    public static Command Init(CliIo io)
    {
        var data = DataOption();
        var command = new Command("init", "Initialize a data directory without serving.") { data };
        command.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            await using var app = await Local.OpenAsync(parse.GetValue(data)!, ct);
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

    /// <summary>Opens (creating if needed) the data directory and migrates its schema.</summary>
    public static async Task<Local> OpenAsync(string dataDirectory, CancellationToken ct)
    {
        var configuration = new ConfigurationBuilder()
            .AddEnvironmentVariables()
            .AddCommandLine(["--data", Path.GetFullPath(dataDirectory)], OpenCmServices.SwitchMappings)
            .Build();
        var services = new ServiceCollection().AddSingleton<IConfiguration>(configuration).AddOpenCmCore().BuildServiceProvider();
        var local = new Local(services);
        try
        {
            await OpenCmServices.StartAsync(services, ct);
            return local;
        }
        catch
        {
            await local.DisposeAsync();
            throw;
        }
    }

    /// <summary>Like <see cref="OpenAsync"/>, but a mistyped --data fails instead of creating an empty installation.</summary>
    public static Task<Local> OpenExistingAsync(string dataDirectory, CancellationToken ct)
    {
        var full = Path.GetFullPath(dataDirectory);
        if (!File.Exists(Path.Combine(full, Storage.Sqlite.SqliteDataDirectory.DatabaseFile)))
        {
            throw new CliException($"no OpenCM data directory at '{full}' (run 'opencm init --data {dataDirectory}' or 'opencm serve' first)");
        }

        return OpenAsync(full, ct);
    }

    public ValueTask DisposeAsync() => _services.DisposeAsync();
}
