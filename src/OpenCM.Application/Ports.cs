using OpenCM.Domain;
using OpenCM.Security.Sddl;

namespace OpenCM.Application;

/// <summary>Kinds of directory principal.</summary>
public enum PrincipalKind
{
    User,
    Group,
}

/// <summary>A user or group of the directory (SPEC §5).</summary>
public sealed record Principal(Guid Uuid, string Name, Sid Sid, PrincipalKind Kind);

/// <summary>A user with the groups it belongs to.</summary>
public sealed record DirectoryUser(Principal User, IReadOnlyList<Principal> Groups);

/// <summary>The directory of principals (embedded now; LDAP later).</summary>
public interface IDirectory
{
    Task<Principal?> FindAsync(Guid uuid, CancellationToken ct = default);

    Task<Principal?> FindByNameAsync(string name, CancellationToken ct = default);

    Task<IReadOnlyList<Principal>> GroupsOfAsync(Guid userUuid, CancellationToken ct = default);

    /// <summary>Creates a user; groups that do not exist yet are created, each with its own SID.</summary>
    Task<Principal> AddUserAsync(string name, IReadOnlyList<string> groups, CancellationToken ct = default);

    /// <summary>Creates a group if it does not exist and returns it.</summary>
    Task<Principal> EnsureGroupAsync(string name, CancellationToken ct = default);

    Task<IReadOnlyList<DirectoryUser>> ListUsersAsync(CancellationToken ct = default);
}

/// <summary>An entry of the append-only, hash-chained audit log (SPEC §4).</summary>
/// <param name="Kind">What happened: Created, StatusChanged, ApprovalRecorded, TemplateImported, UserAdded….</param>
public sealed record AuditEvent(
    string Kind, Guid SubjectId, Guid Actor, RequestStatus OldStatus, RequestStatus NewStatus,
    DateTimeOffset Time, string CorrelationId, string Detail);

/// <summary>A stored audit event with its chain links.</summary>
public sealed record ChainedAuditEvent(long Sequence, AuditEvent Event, string PreviousHash, string Hash);

/// <summary>
/// A compare-and-set change of a request: applies only if the request still has
/// <see cref="FromStatus"/> and <see cref="ExpectedVersion"/>. <see cref="Votes"/>, when set, is the
/// complete new list of votes (the guard makes a read-modify-write safe). <see cref="Effect"/> and
/// <see cref="Execution"/> are applied in the same transaction, or not at all.
/// </summary>
public sealed record RequestChange(
    Guid Id, long ExpectedVersion, RequestStatus FromStatus, RequestStatus ToStatus, DateTimeOffset? Completed, IReadOnlyList<ApprovalVote>? Votes)
{
    /// <summary>What the transition does to the profile and certificates the execution built.</summary>
    public ExecutionEffect Effect { get; init; }

    /// <summary>What a first execution step built: stored with the move to Executing.</summary>
    public ExecutionStart? Execution { get; init; }

    /// <summary>A change of the existing profile the request names, by compare-and-set on the profile's status.</summary>
    public ProfileTransition? OldProfile { get; init; }
}

/// <summary>A software profile, as stored. <see cref="ParentUuid"/> is the profile it replaced (Renew), else empty.</summary>
public sealed record StoredProfile(Guid Uuid, Guid TemplateUuid, int TemplateVersion, Guid UserUuid, Guid ParentUuid, ProfileStatus Status, Guid RequestUuid, DateTimeOffset Created);

/// <summary>Reading software profiles and their certificates (writes happen inside request transitions).</summary>
public interface IProfileStore
{
    Task<StoredProfile?> FindAsync(Guid id, CancellationToken ct = default);

    Task<IReadOnlyList<StoredProfile>> ForUserAsync(Guid user, ProfileStatus? status, CancellationToken ct = default);

    Task<IReadOnlyList<StoredProfile>> ForRequestAsync(Guid request, CancellationToken ct = default);

    Task<IReadOnlyList<StoredCertificate>> CertificatesOfProfileAsync(Guid profile, CancellationToken ct = default);

    Task<IReadOnlyList<StoredCertificate>> CertificatesOfUserAsync(Guid user, CancellationToken ct = default);

    /// <summary>The sealed private key archived for a certificate, if its key was server-generated.</summary>
    Task<string?> ArchivedKeyAsync(string serialHex, CancellationToken ct = default);

    /// <summary>Which of <paramref name="serials"/> have an archived key, in one query.</summary>
    Task<IReadOnlySet<string>> ArchivedSerialsAsync(IReadOnlyCollection<string> serials, CancellationToken ct = default);
}

/// <summary>A server-generated private key, sealed for archival (SPEC §7), keyed by its certificate's serial.</summary>
public sealed record ArchivedKey(string SerialHex, string Sealed);

/// <summary>What the first execution step of an enrollment built.</summary>
public sealed record ExecutionStart(StoredProfile Profile, IReadOnlyList<StoredCertificate> Certificates, IReadOnlyList<ArchivedKey> ArchivedKeys);

/// <summary>A certificate the CA signed, before it is stored.</summary>
public sealed record SignedCertificate(string SerialHex, byte[] Der, string Thumbprint, DateTimeOffset NotBefore, DateTimeOffset NotAfter);

/// <summary>A certificate for a key the server generated: the PFX for the client and the key to archive.</summary>
public sealed record ServerKeyCertificate(SignedCertificate Certificate, byte[] Pfx, byte[] Pkcs8PrivateKey);

/// <summary>The certificate authority as the use cases need it (SPEC §7); the embedded CA implements it.</summary>
public interface ICertificateAuthority
{
    /// <summary>Validates a PKCS#10 request against the template and issues; refusals are ValidationFailed naming <paramref name="field"/>.</summary>
    SignedCertificate IssueFromCsr(string csr, CertificateTemplate template, SubjectAttributes subject, DateTimeOffset now, string field);

    /// <summary>Generates a key as the template says, issues for it, and wraps both in a PFX under <paramref name="pfxPassword"/>.</summary>
    ServerKeyCertificate IssueWithServerKey(CertificateTemplate template, SubjectAttributes subject, DateTimeOffset now, string pfxPassword);

    /// <summary>A certs-only PKCS#7 holding the certificate and the CA chain.</summary>
    byte[] Pkcs7(byte[] certificateDer);

    /// <summary>A PFX of a certificate, its (recovered) private key and the CA, under <paramref name="password"/>.</summary>
    byte[] Pfx(byte[] certificateDer, byte[] pkcs8PrivateKey, string password);
}

/// <summary>Seals private keys for archival under a key the database alone does not reveal.</summary>
public interface IKeySealer
{
    string Seal(string context, byte[] plaintext);

    byte[] Open(string context, string sealedValue);
}

/// <summary>A request with its position in the store's insertion order (the paging key).</summary>
public sealed record StoredRequest(long Sequence, CmRequest Request);

/// <summary>Candidates for a list page: requests some of <see cref="ReaderSids"/> may read, after <see cref="After"/>.</summary>
public sealed record RequestQuery(IReadOnlyCollection<Sid> ReaderSids, RequestStatus? Status, Guid? TargetUser, long After, int Limit);

/// <summary>Durable storage of requests. Every write commits with its audit event in one transaction.</summary>
public interface IRequestStore
{
    Task<CmRequest?> FindAsync(Guid id, CancellationToken ct = default);

    /// <summary>Inserts a request; <paramref name="readerSids"/> index who may list it.</summary>
    Task CreateAsync(CmRequest request, IReadOnlyCollection<Sid> readerSids, AuditEvent audit, CancellationToken ct = default);

    /// <summary>Applies <paramref name="change"/> by compare-and-set; false when the request moved meanwhile.</summary>
    Task<bool> TryChangeAsync(RequestChange change, AuditEvent audit, CancellationToken ct = default);

    /// <summary>Applies several changes in order in one transaction: all of them, or (false) none.</summary>
    Task<bool> TryChangeAllAsync(IReadOnlyList<(RequestChange Change, AuditEvent Audit)> steps, CancellationToken ct = default);

    /// <summary>Requests in insertion order that one of the query's SIDs may read (before deny ACEs are applied).</summary>
    Task<IReadOnlyList<StoredRequest>> ListAsync(RequestQuery query, CancellationToken ct = default);
}

/// <summary>Durable storage of profile templates.</summary>
public interface ITemplateStore
{
    Task<IReadOnlyList<ProfileTemplate>> ListAsync(CancellationToken ct = default);

    Task<ProfileTemplate?> FindAsync(Guid id, CancellationToken ct = default);

    /// <summary>Inserts or replaces (by Uuid) a template; a replacement gets the next version.</summary>
    Task<ProfileTemplate> SaveAsync(ProfileTemplate template, AuditEvent audit, CancellationToken ct = default);
}

/// <summary>Reading and verifying the audit chain.</summary>
public interface IAuditLog
{
    IAsyncEnumerable<ChainedAuditEvent> ReadAllAsync(CancellationToken ct = default);

    Task<IReadOnlyList<ChainedAuditEvent>> ForSubjectAsync(Guid subjectId, CancellationToken ct = default);
}

/// <summary>Where an issued certificate stands (SPEC §4, §7).</summary>
public enum CertificateStatus
{
    /// <summary>Issued by an execution that has not completed yet.</summary>
    Issued = 0,
    Current = 1,
    Superseded = 2,
    Revoked = 3,
}

/// <summary>A certificate the CA issued, as stored.</summary>
public sealed record StoredCertificate(
    string SerialHex, Guid RequestUuid, Guid ProfileUuid, Guid UserUuid, string Template, byte[] Der, string Thumbprint,
    DateTimeOffset NotBefore, DateTimeOffset NotAfter, CertificateStatus Status);

/// <summary>A revoked certificate, for the CRL; <see cref="Reason"/> is the RFC 5280 reason code.</summary>
public sealed record RevokedCertificate(string SerialHex, DateTimeOffset RevokedAt, int Reason);

/// <summary>Issued certificates and revocations.</summary>
public interface ICertificateStore
{
    Task<IReadOnlyList<RevokedCertificate>> ListRevokedAsync(CancellationToken ct = default);

    /// <summary>The next CRL number: shared by every node, never repeated.</summary>
    Task<long> NextCrlNumberAsync(CancellationToken ct = default);
}
