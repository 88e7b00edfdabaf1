namespace OpenCM.Application;

/// <summary>Where a certificate stands (SPEC §4, §7).</summary>
public enum CertificateStatus
{
    /// <summary>Issued by an execution that has not completed yet.</summary>
    Issued = 0,
    Current = 1,
    Superseded = 2,
    Revoked = 3,

    /// <summary>The serial is recorded and the CA is about to sign it (claim, record, then sign); no certificate is stored yet.</summary>
    Reserved = 4,
}

/// <summary>A certificate the CA issued, as stored: the certificate itself and whose it is.</summary>
public sealed record StoredCertificate(IssuedCertificate Certificate, Guid RequestUuid, Guid ProfileUuid, Guid UserUuid, string Template, CertificateStatus Status)
{
    public string SerialHex => Certificate.SerialHex;
}

/// <summary>A revoked certificate, for the CRL; <see cref="Reason"/> is the RFC 5280 reason code.</summary>
public sealed record RevokedCertificate(string SerialHex, DateTimeOffset RevokedAt, int Reason);

/// <summary>
/// What the store says of one serial, for the OCSP responder: its status, and when and why
/// (RFC 5280 reason code) it was revoked while <see cref="RevokedAt"/> is set, and which CA signed
/// it (<see cref="AuthorityId"/>; null while it is only reserved).
/// </summary>
public sealed record SerialStatus(CertificateStatus Status, DateTimeOffset? RevokedAt, int Reason, int? AuthorityId = null);

/// <summary>Revocations and CRL numbering, for the CA's publisher; one serial's status, for the OCSP responder.</summary>
public interface ICertificateStore
{
    /// <summary>
    /// The revocations CA <paramref name="authorityId"/>'s CRL lists: of the certificates it signed,
    /// and of serials reserved but never signed (no CA's yet; listing them is harmless, and a
    /// signature racing the revocation is covered).
    /// </summary>
    Task<IReadOnlyList<RevokedCertificate>> ListRevokedAsync(int authorityId, CancellationToken ct = default);

    /// <summary>The next CRL number: shared by every node, never repeated.</summary>
    Task<long> NextCrlNumberAsync(CancellationToken ct = default);

    /// <summary>The status of <paramref name="serialHex"/> (upper-case hex), or null when no certificate was ever recorded under it.</summary>
    Task<SerialStatus?> FindStatusAsync(string serialHex, CancellationToken ct = default);
}
