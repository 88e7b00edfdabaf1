namespace OpenCM.Application;

/// <summary>
/// A SCEP challenge password as stored (issue #24.3; MIM CM's one-time password policy): only the
/// SHA-256 of the secret, the template and user it enrolls for, who asked for it, when it expires,
/// and, once used, the SCEP transaction it was used by (transactionID and the SHA-256 of the
/// requester's public key), so that the client's resends and polls find their enrollment again.
/// </summary>
public sealed record ScepChallenge(
    string Hash,
    Guid TemplateUuid,
    Guid UserUuid,
    string IssuedBy,
    DateTimeOffset Created,
    DateTimeOffset Expires,
    DateTimeOffset? Used = null,
    string? TransactionId = null,
    string? KeyHash = null);

/// <summary>One-time SCEP challenges (table <c>scep_challenges</c>); no rule is decided here, only compare-and-set.</summary>
public interface IScepChallengeStore
{
    /// <summary>
    /// Stores a new challenge with its audit event <paramref name="audit"/>, in one transaction (a
    /// challenge is a credential: <see cref="ScepChallenges"/> always gives the event, so none exists
    /// that the audit chain does not show); also forgets unused challenges that expired before
    /// <paramref name="forgetBefore"/>. Without an event (the storage contract's own rows) only the row is written.
    /// </summary>
    Task AddAsync(ScepChallenge challenge, DateTimeOffset forgetBefore, AuditEvent? audit = null, CancellationToken ct = default);

    /// <summary>The challenge whose secret hashes to <paramref name="hash"/>, used or not; null when there is none.</summary>
    Task<ScepChallenge?> FindAsync(string hash, CancellationToken ct = default);

    /// <summary>
    /// Marks the challenge used by the transaction (<paramref name="transactionId"/>, <paramref name="keyHash"/>),
    /// only while it is unused and not expired at <paramref name="now"/>, and while no other challenge
    /// was used by the same transaction; false otherwise (used, expired, unknown, or a lost race).
    /// </summary>
    Task<bool> TryRedeemAsync(string hash, string transactionId, string keyHash, DateTimeOffset now, CancellationToken ct = default);

    /// <summary>The challenge the transaction used, or null.</summary>
    Task<ScepChallenge?> FindByTransactionAsync(string transactionId, string keyHash, CancellationToken ct = default);
}
