namespace OpenCM.Application;

/// <summary>The status values of RFC 8555 §7.1.6's objects (accounts, orders, authorizations, challenges).</summary>
public enum AcmeStatus
{
    Pending,
    Ready,
    Processing,
    Valid,
    Invalid,
    Deactivated,
    Revoked,
    Expired,
}

/// <summary>An identifier of an order or authorization (RFC 8555 §9.7.7): type <c>dns</c> or <c>ip</c>, and its value.</summary>
public sealed record AcmeIdentifier(string Type, string Value);

/// <summary>A problem kept on an object (a failed challenge, an order refused at finalize): its ACME error type and detail.</summary>
public sealed record AcmeStoredError(string Type, string Detail);

/// <summary>
/// An ACME account (RFC 8555 §7.1.2), bound through External Account Binding to the directory user
/// and profile template of the EAB key (issue #24.4): its requests are that user's requests.
/// <see cref="Version"/> is the compare-and-set counter of <see cref="IAcmeStore.TryUpdateAccountAsync"/>.
/// </summary>
public sealed record AcmeAccount(
    string Id,
    Guid ProfileTemplateUuid,
    Guid UserUuid,
    string KeyThumbprint,
    string Jwk,
    IReadOnlyList<string> Contacts,
    string ExternalKeyId,
    AcmeStatus Status,
    DateTimeOffset Created,
    int Version = 0);

/// <summary>One challenge of an authorization (RFC 8555 §8): http-01 or dns-01, its token and state.</summary>
public sealed record AcmeChallengeState(string Type, string Token, AcmeStatus Status, DateTimeOffset? Validated = null, AcmeStoredError? Error = null);

/// <summary>An authorization (RFC 8555 §7.1.4) of one identifier for one order of one account.</summary>
public sealed record AcmeAuthorization(
    string Id,
    string AccountId,
    string OrderId,
    AcmeIdentifier Identifier,
    AcmeStatus Status,
    DateTimeOffset Expires,
    IReadOnlyList<AcmeChallengeState> Challenges,
    int Version = 0);

/// <summary>
/// An order (RFC 8555 §7.1.3): its identifiers and authorizations, and once finalized the OpenCM
/// request it became (<see cref="RequestUuid"/>) and the certificate it was issued
/// (<see cref="CertificateSerial"/>, upper-case hex).
/// </summary>
public sealed record AcmeOrder(
    string Id,
    string AccountId,
    Guid ProfileTemplateUuid,
    AcmeStatus Status,
    DateTimeOffset Expires,
    IReadOnlyList<AcmeIdentifier> Identifiers,
    IReadOnlyList<string> AuthorizationIds,
    DateTimeOffset Created,
    Guid? RequestUuid = null,
    string? CertificateSerial = null,
    AcmeStoredError? Error = null,
    int Version = 0);

/// <summary>
/// ACME's state (issue #24.4): nonces, accounts, orders and authorizations, shared by every node of
/// one database. Updates are compare-and-set on the <c>Version</c> the caller read: the stored
/// version must still be it, and becomes one more; false when another writer came first.
/// </summary>
public interface IAcmeStore
{
    /// <summary>
    /// Records the use of a nonce (RFC 8555 §6.5) whose stamp the caller checked, kept until
    /// <paramref name="expires"/>: true the first time on any node, false ever after. Uses recorded
    /// before <paramref name="now"/> expired are forgotten (their nonces are refused by their stamp).
    /// </summary>
    Task<bool> TryUseNonceAsync(string nonce, DateTimeOffset expires, DateTimeOffset now, CancellationToken ct = default);

    /// <summary>Adds an account; false when an account with its key (thumbprint) exists already.</summary>
    Task<bool> TryAddAccountAsync(AcmeAccount account, CancellationToken ct = default);

    Task<AcmeAccount?> FindAccountAsync(string id, CancellationToken ct = default);

    Task<AcmeAccount?> FindAccountByKeyAsync(string keyThumbprint, CancellationToken ct = default);

    /// <summary>Writes <paramref name="account"/> (status, contacts, key) if its stored version is still <c>account.Version</c>; false otherwise, or when its new key is another account's.</summary>
    Task<bool> TryUpdateAccountAsync(AcmeAccount account, CancellationToken ct = default);

    /// <summary>Adds an order and its authorizations in one transaction.</summary>
    Task AddOrderAsync(AcmeOrder order, IReadOnlyList<AcmeAuthorization> authorizations, CancellationToken ct = default);

    Task<AcmeOrder?> FindOrderAsync(string id, CancellationToken ct = default);

    /// <summary>The orders of an account, newest first, at most <paramref name="limit"/>.</summary>
    Task<IReadOnlyList<AcmeOrder>> OrdersOfAccountAsync(string accountId, int limit, CancellationToken ct = default);

    /// <summary>The order whose certificate has serial <paramref name="serialHex"/> (upper-case hex), if any.</summary>
    Task<AcmeOrder?> FindOrderByCertificateAsync(string serialHex, CancellationToken ct = default);

    /// <summary>Writes <paramref name="order"/> if its stored version is still <c>order.Version</c>.</summary>
    Task<bool> TryUpdateOrderAsync(AcmeOrder order, CancellationToken ct = default);

    Task<AcmeAuthorization?> FindAuthorizationAsync(string id, CancellationToken ct = default);

    Task<IReadOnlyList<AcmeAuthorization>> AuthorizationsOfOrderAsync(string orderId, CancellationToken ct = default);

    /// <summary>Writes <paramref name="authorization"/> if its stored version is still <c>authorization.Version</c>.</summary>
    Task<bool> TryUpdateAuthorizationAsync(AcmeAuthorization authorization, CancellationToken ct = default);
}
