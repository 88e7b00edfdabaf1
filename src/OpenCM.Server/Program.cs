using OpenCM.Server.Hosting;

var builder = WebApplication.CreateBuilder(args);
builder.AddOpenCm(args);

var app = builder.Build();
await Bootstrapper.InitializeAsync(app.Services);
app.MapOpenCm();
await app.RunAsync();

/// <summary>The server's entry point; public so that tests can host it.</summary>
public partial class Program;
