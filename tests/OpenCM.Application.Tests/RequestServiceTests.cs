using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.Security.Sddl;
using OpenCM.TestKit;

namespace OpenCM.Application.Tests;

/// <summary>A store whose request always changes under the writer: every compare-and-set loses.</summary>
internal sealed class AlwaysMovingStore : IRequestStore
{
    private readonly CmRequest _request;

    public AlwaysMovingStore(CmRequest request) => _request = request;

    public int Attempts { get; private set; }

    public Task<CmRequest?> FindAsync(Guid id, CancellationToken ct = default) => Task.FromResult<CmRequest?>(_request);

    public Task CreateAsync(CmRequest request, IReadOnlyCollection<Sid> readerSids, AuditEvent audit, CancellationToken ct = default) => Task.CompletedTask;

    public Task<bool> TryChangeAsync(RequestChange change, AuditEvent audit, CancellationToken ct = default)
    {
        Attempts++;
        return Task.FromResult(false);
    }

    public Task<bool> TryChangeAllAsync(IReadOnlyList<(RequestChange Change, AuditEvent Audit)> steps, CancellationToken ct = default)
    {
        Attempts++;
        return Task.FromResult(false);
    }

    public Task<IReadOnlyList<StoredRequest>> ListAsync(RequestQuery query, CancellationToken ct = default) => Task.FromResult<IReadOnlyList<StoredRequest>>([]);
}

public class RequestServiceTests
{
    private static readonly Sid Alice = Samples.UserSid(1000);

    private static (RequestService Service, AlwaysMovingStore Store, Caller Caller) Setup()
    {
        var request = Samples.Request(descriptor: $"O:{Alice}D:(A;;LCRPSDRC;;;{Alice})");
        var store = new AlwaysMovingStore(request);
        var service = new RequestService(store, new FakeTemplateStore(), new FakeDirectory(), new NoProfiles(), TimeProvider.System, new OpenCmOptions());
        return (service, store, new Caller(request.OriginatorUserUuid, Alice, [], "alice"));
    }

    [Fact]
    public async Task SetStatus_CompareAndSetKeepsLosing_ConflictAfterBoundedRetries()
    {
        var (service, store, caller) = Setup();
        var ex = await Assert.ThrowsAsync<OpenCmException>(() => service.SetStatusAsync(caller, Guid.NewGuid(), RequestStatus.Canceled, null, "c"));
        Assert.Equal(ErrorKind.Conflict, ex.Error.Kind);
        Assert.Equal(17, store.Attempts);
    }

    [Fact]
    public async Task SetStatus_LosingWithIfMatch_PreconditionFailedAtOnce()
    {
        var (service, store, caller) = Setup();
        var ex = await Assert.ThrowsAsync<OpenCmException>(() => service.SetStatusAsync(caller, Guid.NewGuid(), RequestStatus.Canceled, [1], "c"));
        Assert.Equal(ErrorKind.PreconditionFailed, ex.Error.Kind);
        Assert.Equal(1, store.Attempts);
    }
}

/// <summary>A profile store with no profiles.</summary>
internal sealed class NoProfiles : IProfileStore
{
    public Task<StoredProfile?> FindAsync(Guid id, CancellationToken ct = default) => Task.FromResult<StoredProfile?>(null);

    public Task<IReadOnlyList<StoredProfile>> ForUserAsync(Guid user, ProfileStatus? status, CancellationToken ct = default) => Task.FromResult<IReadOnlyList<StoredProfile>>([]);

    public Task<IReadOnlyList<StoredProfile>> ForRequestAsync(Guid request, CancellationToken ct = default) => Task.FromResult<IReadOnlyList<StoredProfile>>([]);

    public Task<IReadOnlyList<StoredCertificate>> CertificatesOfProfileAsync(Guid profile, CancellationToken ct = default) => Task.FromResult<IReadOnlyList<StoredCertificate>>([]);

    public Task<IReadOnlyList<StoredCertificate>> CertificatesOfUserAsync(Guid user, CancellationToken ct = default) => Task.FromResult<IReadOnlyList<StoredCertificate>>([]);

    public Task<string?> ArchivedKeyAsync(string serialHex, CancellationToken ct = default) => Task.FromResult<string?>(null);

    public Task<IReadOnlySet<string>> ArchivedSerialsAsync(IReadOnlyCollection<string> serials, CancellationToken ct = default) => Task.FromResult<IReadOnlySet<string>>(new HashSet<string>());
}
