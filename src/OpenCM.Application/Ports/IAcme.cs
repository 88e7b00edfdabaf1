namespace OpenCM.Application;
/// An External Account Binding key an operator issued for a principal and template (RFC 8555 §7.3.4).
public sealed record ExternalAccountKey(string KeyId, byte[] HmacKey, Guid UserUuid, Guid ProfileTemplateUuid, DateTimeOffset Created, DateTimeOffset Expires);
public interface IExternalAccountKeys
{
    /// A new key for a principal and template: random kid, 32-byte HMAC key (sealed at rest). The
    /// event <paramref name="audit"/> makes of the key (naming its kid, never its HMAC) is appended in
    /// the key's own transaction: an issued key always has its audit record, and a refused write neither.
    Task<ExternalAccountKey> CreateAsync(Guid userUuid, Guid profileTemplateUuid, TimeSpan lifetime, Func<ExternalAccountKey, AuditEvent>? audit, CancellationToken ct);
    /// The key with this kid when it exists, is unexpired and not yet bound; else null.
    Task<ExternalAccountKey?> FindUsableAsync(string keyId, CancellationToken ct);
    /// Binds the key to an account once (compare-and-set); false when it was bound already or is unusable.
    Task<bool> TryBindAsync(string keyId, string accountThumbprint, CancellationToken ct);
}
public enum AcmeChallengeKind { Http01, Dns01 }
/// The outcome of validating one challenge; ProblemType is an urn:ietf:params:acme:error:* type when not valid.
public sealed record ChallengeCheck(bool Valid, string? ProblemType, string? Detail);
public interface IAcmeChallengeValidator
{
    /// Fetches http://{domain}:{Acme:Http01Port}/.well-known/acme-challenge/{token} or asks DNS for the TXT of _acme-challenge.{domain}, and compares with the key authorization.
    Task<ChallengeCheck> ValidateAsync(AcmeChallengeKind kind, string domain, string token, string keyAuthorization, CancellationToken ct);
}
