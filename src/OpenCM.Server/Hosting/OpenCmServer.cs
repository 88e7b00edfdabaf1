namespace OpenCM.Server.Hosting;

/// <summary>Builds and runs the server; shared by the server's own entry point and <c>opencm serve</c>.</summary>
public static class OpenCmServer
{
    /// <summary>The application with every component registered, not yet initialized or mapped.</summary>
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(args);
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
