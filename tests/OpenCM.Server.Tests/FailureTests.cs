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

/// <summary>
/// A store whose own connection opened, and whose statement then failed the way SQLite fails
/// when the database stays locked past the busy timeout (or PostgreSQL when a pooled connection
/// was dropped): the provider's own exception, not yet typed.
/// </summary>
internal sealed class LockedTemplateStore : ITemplateStore
{
    private readonly ITemplateStore _inner;
    private readonly Func<bool> _locked;

    public LockedTemplateStore(ITemplateStore inner, Func<bool> locked)
    {
        _inner = inner;
        _locked = locked;
    }

    public Task<IReadOnlyList<ProfileTemplate>> ListAsync(CancellationToken ct = default) =>
        _locked() ? throw new Microsoft.Data.Sqlite.SqliteException("database is locked", 5) : _inner.ListAsync(ct);

    public Task<ProfileTemplate?> FindAsync(Guid id, CancellationToken ct = default) => _inner.FindAsync(id, ct);
}

public sealed class LockedStoreFixture : ServerFixture
{
    /// <summary>Locked once the server has started (its first start reads the templates).</summary>
    public bool Locked { get; set; }

    protected override void ConfigureServices(IServiceCollection services)
    {
        var real = services.Last(d => d.ServiceType == typeof(ITemplateStore));
        services.AddSingleton<ITemplateStore>(sp => new LockedTemplateStore((ITemplateStore)ActivatorUtilities.CreateInstance(sp, real.ImplementationType!), () => Locked));
    }
}

/// <summary>Issue #17's Unavailable gap: a statement failing on a store's own connection answered 500, not 503.</summary>
public class UnavailableStoreTests : IClassFixture<LockedStoreFixture>
{
    private readonly LockedStoreFixture _server;

    public UnavailableStoreTests(LockedStoreFixture server) => _server = server;

    [Fact]
    public async Task Get_StoreStatementFailsForAnOutage_503ProblemWithRetryAfter()
    {
        var client = await _server.ClientAsync(await _server.UserAsync("locked"));
        _server.Locked = true;
        var response = await client.GetAsync($"{ServerFixture.Api}/profiletemplates");
        Assert.Equal((HttpStatusCode.ServiceUnavailable, "Unavailable"), (response.StatusCode, await response.ErrorCodeAsync()));
        Assert.True(response.Headers.RetryAfter is not null);
        Assert.DoesNotContain("locked", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }
}
