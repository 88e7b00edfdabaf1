using OpenCM.Server.Hosting;

await using var app = OpenCmServer.Build(args);
await OpenCmServer.RunAsync(app);

/// <summary>The server's entry point; public so that tests can host it.</summary>
public partial class Program;
