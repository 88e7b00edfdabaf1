using OpenCM.Server.Hosting;

await using var app = OpenCmServer.Build(args);
await OpenCmServer.RunAsync(app, OpenCmServer.ReportAsync);

/// <summary>The server's entry point (also what <c>opencm serve</c> starts); public so that tests can host it.</summary>
public partial class Program;
