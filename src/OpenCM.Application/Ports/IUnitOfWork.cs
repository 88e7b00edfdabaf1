using OpenCM.Domain;
using OpenCM.Security.Sddl;

namespace OpenCM.Application;

/// <summary>
/// A compare-and-set move of a request: applies only while the request still has
/// <see cref="From"/> and <see cref="ExpectedVersion"/>, and bumps the version. <see cref="Votes"/>,
/// when set, is the complete new list of votes (the guard makes the read-modify-write safe);
/// <see cref="NewProfile"/>, when set, is the profile the execution creates.
/// </summary>
public sealed record RequestTransition(
    Guid Id, long ExpectedVersion, RequestStatus From, RequestStatus To,
    DateTimeOffset? Completed = null, IReadOnlyList<ApprovalVote>? Votes = null, Guid? NewProfile = null, Guid? NewSmartcard = null);

/// <summary>A serial recorded before the CA signs it, with whose certificate it will be.</summary>
/// <param name="PlanSha256">The SHA-256 of the certificate's plan (<see cref="CertificatePlan.Sha256Hex"/>): what the CA is to sign, on record before it does (boulder's intent).</param>
public sealed record CertificateReservation(string SerialHex, Guid RequestUuid, Guid ProfileUuid, Guid UserUuid, string Template, string? PlanSha256 = null);

/// <summary>A server-generated private key, sealed for archival (SPEC §7), keyed by its certificate's serial.</summary>
public sealed record ArchivedKey(string SerialHex, string Sealed);

/// <summary>Writes of requests inside a unit of work.</summary>
public interface IRequestWrites
{
    /// <summary>Inserts a request; <paramref name="readerSids"/> index who may list it.</summary>
    Task InsertAsync(CmRequest request, IReadOnlyCollection<Sid> readerSids, CancellationToken ct);

    /// <summary>Applies <paramref name="transition"/> by compare-and-set; false (nothing written) when the request moved meanwhile.</summary>
    Task<bool> TryTransitionAsync(RequestTransition transition, CancellationToken ct);

    /// <summary>
    /// How many requests <paramref name="originator"/> made from <paramref name="template"/> are in
    /// <paramref name="status"/>, read inside the unit of work (its own inserts included).
    /// </summary>
    Task<int> CountByOriginatorAsync(Guid originator, Guid template, RequestStatus status, CancellationToken ct);
}

/// <summary>Writes of profiles inside a unit of work.</summary>
public interface IProfileWrites
{
    Task InsertAsync(StoredProfile profile, CancellationToken ct);

    /// <summary>Moves a profile from <paramref name="from"/> to <paramref name="to"/> by compare-and-set; false when it is not in <paramref name="from"/>.</summary>
    Task<bool> TryMoveAsync(Guid profile, ProfileStatus from, ProfileStatus to, CancellationToken ct);
}

/// <summary>Writes of certificates inside a unit of work.</summary>
public interface ICertificateWrites
{
    /// <summary>Records a serial before the CA signs it (<see cref="CertificateStatus.Reserved"/>).</summary>
    Task ReserveAsync(CertificateReservation reservation, CancellationToken ct);

    /// <summary>Stores what the CA signed for a reserved serial (Reserved → Issued); false when the serial is not reserved.</summary>
    Task<bool> RecordIssuedAsync(IssuedCertificate certificate, CancellationToken ct);

    Task ArchiveKeyAsync(ArchivedKey key, CancellationToken ct);

    /// <summary>Moves a profile's certificates that are in <paramref name="from"/> to <paramref name="to"/>.</summary>
    Task<int> MoveAllAsync(Guid profile, CertificateStatus from, CertificateStatus to, CancellationToken ct);

    /// <summary>Revokes every certificate of a profile not revoked yet, reserved serials included; returns their serials.</summary>
    Task<IReadOnlyList<string>> RevokeAllAsync(Guid profile, int reason, DateTimeOffset at, CancellationToken ct);

    /// <summary>Lifts the revocations of a profile's certificates made for <paramref name="reason"/>; they move to <paramref name="to"/>. Returns their serials.</summary>
    Task<IReadOnlyList<string>> ReleaseAsync(Guid profile, int reason, CertificateStatus to, CancellationToken ct);
}

/// <summary>Writes of smart cards inside a unit of work.</summary>
public interface ICardWrites
{
    /// <summary>Inserts a card record; false (nothing written) when another unretired record holds the physical card id.</summary>
    Task<bool> TryInsertAsync(StoredSmartcard card, CancellationToken ct);

    /// <summary>Moves a card from <paramref name="from"/> to <paramref name="to"/> by compare-and-set, binding it to <paramref name="request"/> when given; false when it is not in <paramref name="from"/>.</summary>
    Task<bool> TryMoveAsync(Guid card, SmartcardStatus from, SmartcardStatus to, Guid? request, CancellationToken ct);

    /// <summary>
    /// Binds a free card record (New, released by an ended request) to a new request, by
    /// compare-and-set on New: its status, request, user, template and links become
    /// <paramref name="card"/>'s. False when the record is not New.
    /// </summary>
    Task<bool> TryRebindAsync(StoredSmartcard card, CancellationToken ct);

    /// <summary>Records that a PIN was proposed for the card under <paramref name="request"/>; false when one already was.</summary>
    Task<bool> TryMarkPinProposedAsync(Guid card, Guid request, CancellationToken ct);
}

/// <summary>Appends to the audit chain inside a unit of work.</summary>
public interface IAuditWrites
{
    Task AppendAsync(AuditEvent audit, CancellationToken ct);
}

/// <summary>Writes of profile templates inside a unit of work.</summary>
public interface ITemplateWrites
{
    /// <summary>
    /// Stores <paramref name="template"/> as its <see cref="ProfileTemplate.Version"/> by
    /// compare-and-set on <paramref name="expectedVersion"/> (0: the template is new). False,
    /// nothing written, when the stored version is not <paramref name="expectedVersion"/>. The
    /// unique name index still guards names: a clash with a template another writer stored
    /// meanwhile throws <see cref="WriteConflictException"/>.
    /// </summary>
    Task<bool> TryStoreVersionAsync(ProfileTemplate template, int expectedVersion, DateTimeOffset at, CancellationToken ct);

    /// <summary>
    /// Removes the template <paramref name="uuid"/> if it is still at <paramref name="expectedVersion"/>
    /// and no request, profile or smart card names it (they would be left pointing at nothing);
    /// otherwise removes nothing and says what still uses it.
    /// </summary>
    Task<TemplateRemoval> TryRemoveAsync(Guid uuid, int expectedVersion, CancellationToken ct);
}

/// <summary>What <see cref="ITemplateWrites.TryRemoveAsync"/> did: removed, or not, with what still names the template.</summary>
public sealed record TemplateRemoval(bool Removed, long Requests, long Profiles, long Smartcards)
{
    /// <summary>Whether anything names the template.</summary>
    public bool InUse => Requests + Profiles + Smartcards > 0;
}

/// <summary>A principal to add to the embedded directory; its SID is allocated in this installation's domain.</summary>
public sealed record NewPrincipal(Guid Uuid, string Name, PrincipalKind Kind, DateTimeOffset Created)
{
    /// <summary>A user's e-mail address, if given (issue #20.6).</summary>
    public string? Email { get; init; }

    /// <summary>A user's principal name, if given (issue #20.6).</summary>
    public string? Upn { get; init; }
}

/// <summary>Writes of the embedded directory inside a unit of work.</summary>
public interface IDirectoryWrites
{
    /// <summary>A principal by name (any case), read inside the unit of work.</summary>
    Task<Principal?> FindByNameAsync(string name, CancellationToken ct);

    /// <summary>Inserts a principal with the next relative id of this installation's domain; null (nothing written) when the name is taken.</summary>
    Task<Principal?> TryInsertAsync(NewPrincipal principal, CancellationToken ct);

    /// <summary>Puts a user into a group; false when they already are in it.</summary>
    Task<bool> TryAddMembershipAsync(Guid user, Guid group, CancellationToken ct);

    /// <summary>Takes a user out of a group; false when they were not in it.</summary>
    Task<bool> TryRemoveMembershipAsync(Guid user, Guid group, CancellationToken ct);

    /// <summary>Removes a user and their memberships; false when no such user exists.</summary>
    Task<bool> TryRemoveUserAsync(Guid user, CancellationToken ct);

    /// <summary>Stores a user's e-mail address and UPN (null: none); false when no such user exists.</summary>
    Task<bool> TrySetContactAsync(Guid user, string? email, string? upn, CancellationToken ct);

    /// <summary>Stores a user's password hash; false when no such user exists (a group has no password).</summary>
    Task<bool> TrySetPasswordHashAsync(Guid user, string hash, CancellationToken ct);
}

/// <summary>
/// Notices for the CA written in the unit of work that decided them (an outbox): delivered after
/// the commit, and retried until the CA has them, so a CA that is down loses no revocation.
/// </summary>
public interface ICaNoticeWrites
{
    /// <summary>Queues <paramref name="revocation"/> for the CA; a delivery loop may first try it at <paramref name="firstRetry"/>. Returns its id.</summary>
    Task<long> EnqueueAsync(Revocation revocation, DateTimeOffset firstRetry, CancellationToken ct);
}

/// <summary>
/// Narrow, intention-named writes inside one transaction. A provider translates each into its
/// own statements; the rules that choose them live in Domain and Application, never in storage.
/// </summary>
public interface IUnitOfWork
{
    IRequestWrites Requests { get; }

    IProfileWrites Profiles { get; }

    ICertificateWrites Certificates { get; }

    ICardWrites Cards { get; }

    IAuditWrites Audit { get; }

    ITemplateWrites Templates { get; }

    IDirectoryWrites Directory { get; }

    ICaNoticeWrites Notices { get; }

    /// <summary>The event outbox (issue #21.2): notifications and webhooks of what this unit of work did.</summary>
    IEventWrites Events { get; }

    IAuthorityWrites Authorities { get; }

    /// <summary>What protocol front-ends submitted with device requests (issue #24.1).</summary>
    IDeviceSubmissionWrites DeviceSubmissions { get; }
}

/// <summary>Runs units of work.</summary>
public interface ITransactions
{
    /// <summary>
    /// Runs <paramref name="work"/> in one transaction. If it throws, none of its writes persist and
    /// the exception is rethrown; if it returns, its writes are durable before this completes.
    /// </summary>
    Task<T> RunAsync<T>(Func<IUnitOfWork, CancellationToken, Task<T>> work, CancellationToken ct = default);
}
