using System.Net;
using Microsoft.Extensions.DependencyInjection;
using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.Security.Sddl;

namespace OpenCM.Server.Tests;

/// <summary>A store that fails the way a broken disk would, with internals in its message.</summary>
internal sealed class BrokenRequestStore : IRequestStore
{
    public const string Secret = "SQLite Error 11: database disk image is malformed at /var/lib/opencm";

    public Task<CmRequest?> FindAsync(Guid id, CancellationToken ct = default) => throw new InvalidOperationException(Secret);

    public Task<IReadOnlyList<StoredRequest>> ListAsync(RequestQuery query, CancellationToken ct = default) => throw new InvalidOperationException(Secret);
}

public sealed class BrokenStoreFixture : ServerFixture
{
    protected override void ConfigureServices(IServiceCollection services) => services.AddSingleton<IRequestStore, BrokenRequestStore>();
}

public sealed class ApiDisabledFixture : ServerFixture
{
    protected override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string> { ["Api:Enabled"] = "false" };
}

public class InternalErrorTests : IClassFixture<BrokenStoreFixture>
{
    private readonly BrokenStoreFixture _server;

    public InternalErrorTests(BrokenStoreFixture server) => _server = server;

    [Fact]
    public async Task Get_StoreThrows_500WithCorrelationIdAndNoInternals()
    {
        var client = await _server.ClientAsync(await _server.UserAsync("alice"));
        var response = await client.GetAsync($"{ServerFixture.Api}/requests/{Guid.NewGuid()}");
        var text = await response.Content.ReadAsStringAsync();
        var json = await response.JsonAsync();
        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.Equal("Internal", json.GetProperty("errorCode").GetString());
        var correlation = json.GetProperty("correlationId").GetString()!;
        Assert.Equal(correlation, response.Headers.GetValues("X-Correlation-Id").Single());
        Assert.Contains(correlation, json.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain("SQLite", text, StringComparison.Ordinal);
        Assert.DoesNotContain("InvalidOperationException", text, StringComparison.Ordinal);
        Assert.DoesNotContain(" at ", text, StringComparison.Ordinal);
    }
}

public class ApiDisabledTests : IClassFixture<ApiDisabledFixture>
{
    private readonly ApiDisabledFixture _server;

    public ApiDisabledTests(ApiDisabledFixture server) => _server = server;

    [Fact]
    public async Task AnyApiRoute_ApiDisabled_404()
    {
        var client = await _server.ClientAsync(await _server.UserAsync("alice"));
        var response = await client.GetAsync($"{ServerFixture.Api}/profiletemplates");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("NotFound", await response.ErrorCodeAsync());
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health/live")).StatusCode);
    }
}
