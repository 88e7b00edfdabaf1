namespace OpenCM.Server.Hosting;

/// <summary>Builds and runs the server; shared by the server's own entry point and <c>opencm serve</c>.</summary>
public static class OpenCmServer
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
        var init = await Bootstrapper.InitializeAsync(app.Services, ct).ConfigureAwait(false);
        app.MapOpenCm();
        await app.StartAsync(ct).ConfigureAwait(false);
        if (started is not null)
        {
            await started(app, init).ConfigureAwait(false);
        }

        await app.WaitForShutdownAsync(ct).ConfigureAwait(false);
    }
}
