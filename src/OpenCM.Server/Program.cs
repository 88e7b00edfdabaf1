using OpenCM.Server.Hosting;

try
{
    await using var app = OpenCmServer.Build(args);
    await OpenCmServer.RunAsync(app, OpenCmServer.ReportAsync);
}
catch (OpenCM.Composition.ConfigurationRefusedException e)
{
    // Settings the host refuses at start (an HSM's wrong PIN or missing key, an unknown database):
    // the operator reads what is wrong, not a stack trace (issue #20).
    await Console.Error.WriteLineAsync($"error: {e.Message}");
    return 1;
}

return 0;

/// <summary>The server's entry point (also what <c>opencm serve</c> starts); public so that tests can host it.</summary>
public partial class Program;
