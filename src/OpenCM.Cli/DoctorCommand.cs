using System.CommandLine;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.FileProviders;
using OpenCM.Composition;

namespace OpenCM.Cli;

/// <summary>
/// <c>opencm doctor</c> (issue #21.5): what would stop or weaken the server on this configuration,
/// one line a check (ok, warn, FAIL and what to do); exit code 1 when any check fails. It reads
/// configuration as the server does (the server's appsettings.json beside opencm, the working
/// directory's, the environment, then --Section:Key switches) and changes nothing.
/// </summary>
internal static class DoctorCommand
{
    public static Command Create(CliIo io)
    {
        var store = new StoreOptions();
        var format = Output.FormatOption(" (JSON: [{check, status, message}], the summary on stderr)");
        var command = new Command("doctor", "Check the configuration, database, schema, CA, directory, clock and data directory; exit code 1 when something is wrong.")
            { store.Data, store.Database, store.Connection, format };
        command.SetAction((parse, ct) => io.GuardAsync(async () =>
        {
            var output = Output.Parse(parse.GetValue(format));
            var chosen = store.From(parse);
            var configuration = Configuration(chosen);
            var classes = OptionsCatalogue.In(OptionsCatalogue.OpenCmAssemblies(AppContext.BaseDirectory, Path.Combine(AppContext.BaseDirectory, ServerLauncher.Folder)));
            var findings = await Doctor.RunAsync(configuration, classes, io.Clock, ct);
            if (output == OutputFormat.Json)
            {
                await io.WriteListAsync(output, findings, OutputWriter.Local<DoctorFinding>(), []);
            }
            else
            {
                var width = findings.Max(f => f.Check.Length);
                foreach (var finding in findings)
                {
                    await io.Out.WriteLineAsync($"{Label(finding.Status),-4}  {finding.Check.PadRight(width)}  {finding.Message}");
                }
            }

            var failed = findings.Count(f => f.Status == DoctorStatus.Fail);
            var warned = findings.Count(f => f.Status == DoctorStatus.Warn);
            await (output == OutputFormat.Json ? io.Err : io.Out).WriteLineAsync(failed > 0
                ? $"{failed} check(s) failed, {warned} warning(s): fix what FAIL says, then run opencm doctor again."
                : $"No failures ({warned} warning(s)).");
            return failed > 0 ? OpenCmCli.Failed : OpenCmCli.Ok;
        }));
        return command;
    }

    private static string Label(DoctorStatus status) => status switch
    {
        DoctorStatus.Ok => "ok",
        DoctorStatus.Warn => "warn",
        _ => "FAIL",
    };

    // The server's sources, lowest first (OpenCmServices.AddAppFolderSettings, WebApplication's
    // defaults): the database name and connection are passed on as given, so that doctor reports
    // an unknown one instead of refusing to start.
    private static IConfiguration Configuration(StoreChoice chosen)
    {
        var environment = Environment.GetEnvironmentVariable("ASPNETCORE_ENVIRONMENT") ?? Environment.GetEnvironmentVariable("DOTNET_ENVIRONMENT") ?? "Production";
        var serverFolder = Path.Combine(AppContext.BaseDirectory, ServerLauncher.Folder);
        var builder = new ConfigurationBuilder();
        if (File.Exists(Path.Combine(serverFolder, "appsettings.json")))
        {
            builder.AddJsonFile(new PhysicalFileProvider(serverFolder), "appsettings.json", optional: true, reloadOnChange: false);
        }

        var workingDirectory = new PhysicalFileProvider(Directory.GetCurrentDirectory());
        builder.AddJsonFile(workingDirectory, "appsettings.json", optional: true, reloadOnChange: false)
            .AddJsonFile(workingDirectory, $"appsettings.{environment}.json", optional: true, reloadOnChange: false)
            .AddEnvironmentVariables();
        List<string> args = [.. chosen.Overrides, "--data", Path.GetFullPath(chosen.DataDirectory)];
        if (chosen.Database is { } database)
        {
            args.AddRange(["--database", database]);
        }

        if (chosen.Connection is { } connection)
        {
            args.AddRange(["--connection", connection]);
        }

        return builder.AddCommandLine([.. args], OpenCmComposition.SwitchMappings).Build();
    }
}
