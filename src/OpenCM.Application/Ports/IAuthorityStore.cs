namespace OpenCM.Application;

/// <summary>Where a CA this server holds stands (issue #20.1).</summary>
public enum AuthorityState
{
    /// <summary>Its key is made and its PKCS#10 written; it waits for the certificate its parent issues.</summary>
    Pending = 0,

    /// <summary>It signs new certificates. One CA at a time is active.</summary>
    Active = 1,

    /// <summary>A newer CA took over: it signs nothing new, and keeps publishing its CRL and answering OCSP for what it signed.</summary>
    Retired = 2,
}

/// <summary>
/// A CA as stored: its names, where its key is (<see cref="KeyReference"/>: a sealed secret's
/// name or a PKCS#11 key label, never key material), its certificate once installed, the
/// certificates above it up to the root (<see cref="Chain"/>, concatenated DER, empty for a
/// root), and the origin its publication URLs are built from, fixed when it was made
/// (issue #20.5).
/// </summary>
public sealed record StoredAuthority(
    int Id,
    string Name,
    string Slug,
    AuthorityState State,
    string KeyReference,
    string Subject,
    byte[]? Certificate,
    byte[]? Chain,
    string? Publication,
    DateTimeOffset Created,
    DateTimeOffset? Activated);

/// <summary>The CAs this server holds, read.</summary>
public interface IAuthorityStore
{
    /// <summary>Every CA, oldest first.</summary>
    Task<IReadOnlyList<StoredAuthority>> ListAsync(CancellationToken ct = default);
}

/// <summary>
/// Writes of the CAs inside a unit of work, audited there by the caller. Storage translates these
/// narrow operations; which CA may move where is decided by the caller.
/// </summary>
public interface IAuthorityWrites
{
    /// <summary>
    /// Stores a new CA as given (its <see cref="StoredAuthority.Id"/> is chosen here unless it is
    /// 1, the first CA, which two processes may try to store at once: the first wins). Returns the
    /// id, or null (nothing written) when the id or the slug is taken.
    /// </summary>
    Task<int?> TryAddAsync(StoredAuthority authority, CancellationToken ct);

    /// <summary>
    /// Compare-and-set: a pending CA becomes active with its certificate and chain, and the CA that
    /// was active is retired. False, nothing written, when <paramref name="id"/> is not pending
    /// (another process installed it, or it does not exist).
    /// </summary>
    Task<bool> TryActivateAsync(int id, byte[] certificate, byte[] chain, DateTimeOffset at, CancellationToken ct);

    /// <summary>Sets the publication origin of a CA that has none yet (a cluster's first CA, made before <c>Ca:PublicUrl</c> was set); false when it has one.</summary>
    Task<bool> TrySetPublicationAsync(int id, string publication, CancellationToken ct);
}
