using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace OpenCM.Server.Hosting;

/// <summary>Builds and runs the server: its own entry point, which <c>opencm serve</c> starts as a process, and tests that host it.</summary>
public static partial class OpenCmServer
{
    /// <summary>The application with every component registered, not yet initialized or mapped.</summary>
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        // OpenCM reads its settings once, at start; nothing watches them. The host's default reload
        // on change would only cost: its file watcher covers the working directory's whole tree,
        // where the default data directory lives, and woke for every write of the database's WAL
        // (5 % of the CPU under PUT load; docs/benchmarks.md, issue #11).
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = [.. args, "--hostBuilder:reloadConfigOnChange=false"] });
        builder.AddOpenCm(args);
        configure?.Invoke(builder);
        return builder.Build();
    }

    /// <summary>Initializes the data directory, maps the routes, starts, reports, and runs until shutdown.</summary>
    public static async Task RunAsync(WebApplication app, Func<WebApplication, BootstrapResult, Task>? started = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(app);
        LogStarting(app.Logger, OpenCmVersion.Informational, Environment.ProcessId);
        var init = await Bootstrapper.InitializeAsync(app.Services, ct).ConfigureAwait(false);

        // Several nodes would each write their own address into the certificates they sign, and
        // the URLs inside a certificate never move: a cluster publishes under Ca:PublicUrl only (issue #20.5).
        if (app.Services.GetRequiredService<OpenCM.Authority.CertificateAuthorities>().Active.Urls is null)
        {
            throw new ConfigurationRefusedException(
                "On PostgreSQL several nodes share the CA: set Ca:PublicUrl (e.g. https://cm.contoso.com, the address every node answers at) before serving; " +
                "every certificate carries its CRL and OCSP URLs under it, for good.");
        }

        app.MapOpenCm();
        await app.StartAsync(ct).ConfigureAwait(false);
        if (started is not null)
        {
            await started(app, init).ConfigureAwait(false);
        }

        await app.WaitForShutdownAsync(ct).ConfigureAwait(false);
    }

    /// <summary>
    /// What the operator reads once the server listens: where, the first start's work, the CA,
    /// and how to sign in or get a token. "OpenCM is serving" is the line scripts wait for.
    /// </summary>
    public static async Task ReportAsync(WebApplication app, BootstrapResult init)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(init);
        var output = Console.Out;
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        await output.WriteLineAsync($"OpenCM is serving {string.Join(", ", addresses)} (data: {init.DataDirectory})").ConfigureAwait(false);
        await output.WriteLineAsync($"Version: {OpenCmVersion.Informational}").ConfigureAwait(false);
        // Only what this start did: with Active Directory no administrator is created (issue #19).
        var done = new List<string>();
        if (init.CreatedAdmin)
        {
            done.Add($"created the administrator '{Bootstrapper.AdminUser}'");
        }

        if (init.ImportedTemplates.Count > 0)
        {
            done.Add($"imported {init.ImportedTemplates.Count} sample templates ({string.Join(", ", init.ImportedTemplates)})");
        }

        if (done.Count > 0)
        {
            await output.WriteLineAsync($"First start: {string.Join(" and ", done)}.").ConfigureAwait(false);
        }

        foreach (var note in init.Notes ?? [])
        {
            await output.WriteLineAsync("Note: " + note).ConfigureAwait(false);
        }

        await output.WriteLineAsync($"CA: {init.CaSubject} (SHA-1 {init.CaThumbprint})").ConfigureAwait(false);
        var portal = app.Services.GetRequiredService<ApiOptions>().PathBase.TrimEnd('/') + "/";
        await output.WriteLineAsync($"Portal: {addresses.FirstOrDefault()}{portal} (sign in as a directory user with a password: opencm users set-password --name NAME --password-stdin)").ConfigureAwait(false);
        var store = app.Services.GetRequiredService<DataOptions>();
        // The full command: on PostgreSQL the data directory still holds the master key (unless OpenCM:MasterKey gives it), issue #23.7.
        var where = store.IsPostgres ? $"--database postgres --connection \"…\" --data {Path.GetFullPath(store.DataDirectory)}" : $"--data {init.DataDirectory}";
        await output.WriteLineAsync($"Get a token: opencm token {where} --user {Bootstrapper.AdminUser}").ConfigureAwait(false);
        await output.WriteLineAsync("  (from a source checkout: dotnet run --project src/OpenCM.Cli -- token ...)").ConfigureAwait(false);
        await output.FlushAsync().ConfigureAwait(false);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "OpenCM {Version} starting (process {ProcessId}).")]
    private static partial void LogStarting(ILogger logger, string version, int processId);
}
