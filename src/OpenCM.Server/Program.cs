using OpenCM.Composition;
using OpenCM.Server.Hosting;

// A configuration the server refuses (a wrong LDAP bind, an HSM's wrong PIN or missing key, a
// cluster without Ca:PublicUrl, …) is the operator's to fix: said in one line, without a stack
// trace, with a non-zero exit.
try
{
    await using var app = OpenCmServer.Build(args);
    await OpenCmServer.RunAsync(app, OpenCmServer.ReportAsync);
}
catch (Exception ex) when (ex is ConfigurationRefusedException or OpenCM.Storage.MasterKeyException)
{
    await Console.Error.WriteLineAsync($"error: {ex.Message}");
    return 1;
}

return 0;

/// <summary>The server's entry point (also what <c>opencm serve</c> starts); public so that tests can host it.</summary>
public partial class Program;
