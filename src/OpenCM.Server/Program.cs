using OpenCM.Composition;
using OpenCM.Server.Hosting;

try
{
    await using var app = OpenCmServer.Build(args);
    await OpenCmServer.RunAsync(app, OpenCmServer.ReportAsync);
    return 0;
}
catch (ConfigurationRefusedException e)
{
    // Settings the server cannot start with (an LDAP bind refused, an unknown database): said as
    // it is, for the operator to fix, without a stack trace (issue #19).
    await Console.Error.WriteLineAsync($"error: {e.Message}");
    return 1;
}

/// <summary>The server's entry point (also what <c>opencm serve</c> starts); public so that tests can host it.</summary>
public partial class Program;
