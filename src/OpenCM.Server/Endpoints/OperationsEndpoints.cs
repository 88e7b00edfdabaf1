using OpenCM.Storage;
using OpenCM.Server.Wire;

namespace OpenCM.Server.Endpoints;

/// <summary>Operator routes (SPEC §1, §11): health, and GET /me to check what a token means.</summary>
internal static class OperationsEndpoints
{
    public static IEndpointRouteBuilder MapHealthEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/health/live", () => EndpointContext.Json(new { Status = "Healthy" }));
        app.MapGet("/health/ready", async (StorageProvider db, CancellationToken ct) =>
        {
            await using var conn = await db.OpenReadAsync(ct);
            await using var cmd = conn.CreateCommand();
            cmd.CommandText = "SELECT COUNT(*) FROM schema_migrations";
            await cmd.ExecuteScalarAsync(ct);
            return EndpointContext.Json(new { Status = "Healthy" });
        });
        return app;
    }

    public static RouteGroupBuilder MapIdentityEndpoints(this RouteGroupBuilder api)
    {
        api.MapGet("/me", (HttpContext http) =>
        {
            var caller = http.Caller();
            var groups = caller.Token.Where(s => s != caller.UserSid).Select(s => s.Value).Order(StringComparer.Ordinal).ToList();
            return EndpointContext.Json(new CallerDto(caller.UserUuid, caller.Name, caller.UserSid.Value, groups));
        });
        return api;
    }
}

/// <summary>Where the API lives (SPEC §1: path base configurable).</summary>
internal static class ApiPaths
{
    public const string Version = "/api/v1.0";

    public static string Base(HttpContext http) =>
        http.RequestServices.GetRequiredService<Hosting.ApiOptions>().PathBase.TrimEnd('/') + Version;
}
