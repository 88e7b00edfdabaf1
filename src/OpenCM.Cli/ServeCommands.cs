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
            await using var app = Local.Build(parse.GetValue(data)!);
            var init = await Bootstrapper.InitializeAsync(app.Services, ct);
            await io.Out.WriteLineAsync($"Initialized {init.DataDirectory}: admin {(init.CreatedAdmin ? "created" : "exists")}, {init.ImportedTemplates.Count} sample templates imported.");
            await io.Out.WriteLineAsync($"CA: {init.CaSubject} (SHA-1 {init.CaThumbprint})");
            return OpenCmCli.Ok;
        }));
        return command;
    }
}

/// <summary>The server's component graph over a data directory, for commands that work on it directly.</summary>
internal static class Local
{
    public static WebApplication Build(string dataDirectory) =>
        OpenCmServer.Build(["--data", Path.GetFullPath(dataDirectory)], b => b.Logging.ClearProviders());

    /// <summary>Like <see cref="Build"/>, but a mistyped --data fails instead of creating an empty installation.</summary>
    public static WebApplication OpenExisting(string dataDirectory)
    {
        var full = Path.GetFullPath(dataDirectory);
        if (!File.Exists(Path.Combine(full, Storage.Sqlite.SqliteDataDirectory.DatabaseFile)))
        {
            throw new CliException($"no OpenCM data directory at '{full}' (run 'opencm init --data {dataDirectory}' or 'opencm serve' first)");
        }

        return Build(full);
    }
}
