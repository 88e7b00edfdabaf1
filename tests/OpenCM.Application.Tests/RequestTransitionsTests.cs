using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.Security.Sddl;
using OpenCM.TestKit;

namespace OpenCM.Application.Tests;

/// <summary>A store whose request always changes under the writer: every compare-and-set loses.</summary>
internal sealed class AlwaysMovingStore : IRequestStore, ITransactions, IUnitOfWork, IRequestWrites
{
    private readonly CmRequest _request;

    public AlwaysMovingStore(CmRequest request) => _request = request;

    public int Attempts { get; private set; }

    public IRequestWrites Requests => this;

    public IProfileWrites Profiles => throw new NotSupportedException();

    public ICertificateWrites Certificates => throw new NotSupportedException();

    public ICardWrites Cards => throw new NotSupportedException();

    public IAuditWrites Audit => throw new NotSupportedException();

    public ITemplateWrites Templates => throw new NotSupportedException();

    public IDirectoryWrites Directory => throw new NotSupportedException();

    public ICaNoticeWrites Notices => throw new NotSupportedException();

    public IEventWrites Events => throw new NotSupportedException();

    public IAuthorityWrites Authorities => throw new NotSupportedException();

    public IDeviceSubmissionWrites DeviceSubmissions => throw new NotSupportedException();

    public Task<CmRequest?> FindAsync(Guid id, CancellationToken ct = default) => Task.FromResult<CmRequest?>(_request);

    public Task<IReadOnlyList<StoredRequest>> ListAsync(RequestQuery query, CancellationToken ct = default) => Task.FromResult<IReadOnlyList<StoredRequest>>([]);

    public Task<T> RunAsync<T>(Func<IUnitOfWork, CancellationToken, Task<T>> work, CancellationToken ct = default) => work(this, ct);

    public Task InsertAsync(CmRequest request, IReadOnlyCollection<Sid> readerSids, CancellationToken ct) => throw new NotSupportedException();

    public Task<bool> TryTransitionAsync(RequestTransition transition, CancellationToken ct)
    {
        Attempts++;
        return Task.FromResult(false);
    }

    public Task<int> CountByOriginatorAsync(Guid originator, Guid template, RequestStatus status, CancellationToken ct) => throw new NotSupportedException();
}

/// <summary>An outbox these tests never reach: nothing is revoked.</summary>
internal sealed class NoOutbox : ICaOutbox
{
    public Task<IReadOnlyList<CaNotice>> DueAsync(DateTimeOffset now, int max, CancellationToken ct = default) => Task.FromResult<IReadOnlyList<CaNotice>>([]);

    public Task MarkDeliveredAsync(long id, DateTimeOffset at, CancellationToken ct = default) => throw new NotSupportedException();

    public Task MarkFailedAsync(long id, int attempts, DateTimeOffset retryAt, string error, CancellationToken ct = default) => throw new NotSupportedException();
}

/// <summary>A CA that must not be reached: these tests revoke nothing and sign nothing.</summary>
internal sealed class UnreachableCertificateAuthority : ICertificateAuthority
{
    public IssuerProfile Issuer => throw new NotSupportedException();

    public Task<IssuedCertificate> SignAsync(CertificatePlan plan, CancellationToken ct = default) => throw new NotSupportedException();

    public Task RevokeAsync(Revocation revocation, CancellationToken ct = default) => throw new NotSupportedException();
}

public class RequestTransitionsTests
{
    private static readonly Sid Alice = Samples.UserSid(1000);

    private static (RequestTransitions Service, AlwaysMovingStore Store, Caller Caller) Setup()
    {
        var request = Samples.Request(descriptor: $"O:{Alice}D:(A;;LCRPSDRC;;;{Alice})");
        var store = new AlwaysMovingStore(request);
        var ca = new UnreachableCertificateAuthority();
        var notices = new CaNoticeDelivery(ca, new NoOutbox(), TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLogger<CaNoticeDelivery>.Instance);
        var contexts = new RequestContextLoader(new RequestQueries(store, new OpenCmOptions()), new FakeTemplateStore(), new NoProfiles(), new NoCards());
        var server = new ServerExecution(store, contexts, store, notices, TimeProvider.System);
        var service = new RequestTransitions(contexts, store, server, notices, TimeProvider.System);
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

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Vote_CommentOverTheCap_ValidationBeforeAnythingIsRead(bool approve)
    {
        var (service, store, caller) = Setup();
        var ex = await Assert.ThrowsAsync<OpenCmException>(() => service.VoteAsync(caller, Guid.NewGuid(), approve, new string('c', TextLimits.DefaultCommentBytes + 1), "c"));
        Assert.Equal((ErrorKind.ValidationFailed, "comment"), (ex.Error.Kind, ex.Error.Field));
        Assert.Equal(0, store.Attempts);
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

/// <summary>A card store with no cards.</summary>
internal sealed class NoCards : ISmartcardStore
{
    public Task<StoredSmartcard?> FindAsync(Guid uuid, CancellationToken ct = default) => Task.FromResult<StoredSmartcard?>(null);

    public Task<StoredSmartcard?> FindByCardIdAsync(string cardId, CancellationToken ct = default) => Task.FromResult<StoredSmartcard?>(null);

    public Task<StoredSmartcard?> LastByCardIdAsync(string cardId, CancellationToken ct = default) => Task.FromResult<StoredSmartcard?>(null);

    public Task<IReadOnlyList<StoredSmartcard>> ForUserAsync(Guid user, CancellationToken ct = default) => Task.FromResult<IReadOnlyList<StoredSmartcard>>([]);
}

/// <summary>A profile store with no profiles.</summary>
internal sealed class NoProfiles : IProfileStore
{
    public Task<StoredProfile?> FindAsync(Guid id, CancellationToken ct = default) => Task.FromResult<StoredProfile?>(null);

    public Task<IReadOnlyList<StoredProfile>> ForUserAsync(Guid user, ProfileStatus? status, CancellationToken ct = default) => Task.FromResult<IReadOnlyList<StoredProfile>>([]);

    public Task<IReadOnlyList<StoredProfile>> ForRequestAsync(Guid request, CancellationToken ct = default) => Task.FromResult<IReadOnlyList<StoredProfile>>([]);

    public Task<IReadOnlyList<StoredProfile>> ForSmartcardAsync(Guid card, CancellationToken ct = default) => Task.FromResult<IReadOnlyList<StoredProfile>>([]);

    public Task<IReadOnlyList<StoredCertificate>> CertificatesOfProfileAsync(Guid profile, CancellationToken ct = default) => Task.FromResult<IReadOnlyList<StoredCertificate>>([]);

    public Task<IReadOnlyList<StoredCertificate>> CertificatesOfUserAsync(Guid user, CancellationToken ct = default) => Task.FromResult<IReadOnlyList<StoredCertificate>>([]);

    public Task<string?> ArchivedKeyAsync(string serialHex, CancellationToken ct = default) => Task.FromResult<string?>(null);

    public Task<StoredCertificate?> CertificateBySerialAsync(string serialHex, CancellationToken ct = default) => Task.FromResult<StoredCertificate?>(null);

    public Task<IReadOnlySet<string>> ArchivedSerialsAsync(IReadOnlyCollection<string> serials, CancellationToken ct = default) => Task.FromResult<IReadOnlySet<string>>(new HashSet<string>());
}
