using OpenCM.Server.Hosting;

// A start the operator has to fix (a port in use, an https:// address without a certificate, a
// database that does not answer or is newer than this build, a wrong LDAP bind, an HSM's wrong PIN,
// a cluster without Ca:PublicUrl, …) is said in one line, without a stack trace, with exit code 2
// (StartupFailures, issue #23.9).
try
{
    await using var app = OpenCmServer.Build(args);
    await OpenCmServer.RunAsync(app, OpenCmServer.ReportAsync);
}
catch (Exception ex) when (StartupFailures.Describe(ex) is { } line)
{
    await Console.Error.WriteLineAsync($"error: {line}");
    return StartupFailures.ExitCode;
}

return 0;

/// <summary>The server's entry point (also what <c>opencm serve</c> starts); public so that tests can host it.</summary>
public partial class Program;
