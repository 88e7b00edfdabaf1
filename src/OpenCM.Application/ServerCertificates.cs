using OpenCM.Domain;

namespace OpenCM.Application;

/// <summary>A TLS certificate the server issued itself, and the id it is recorded under (its profile column; one per certificate).</summary>
public sealed record ServerCertificate(IssuedCertificate Certificate, Guid Id, IReadOnlyList<string> Names);

/// <summary>
/// The server's own TLS certificates from its active CA (<c>Tls:FromOwnCa</c>, issue #21.5),
/// recorded like any certificate the CA signs (docs/decisions/0005: claim, record, then sign):
/// the serial and its plan reserved first, the certificate checked against the plan, stored,
/// and audited (<c>TlsCertificateIssued</c>) with the one it replaces marked Superseded. The key
/// never reaches this class: the caller holds it and passes its public half.
/// </summary>
public sealed class ServerCertificates
{
    private readonly ITransactions _transactions;
    private readonly ICertificateAuthority _ca;
    private readonly CertificateIssuance _issuance;

    public ServerCertificates(ITransactions transactions, ICertificateAuthority ca, CertificateIssuance issuance)
    {
        _transactions = transactions;
        _ca = ca;
        _issuance = issuance;
    }

    /// <summary>
    /// Issues a certificate for <paramref name="names"/> (<see cref="ServerCertificatePlan.Names"/>)
    /// and the key <paramref name="subjectPublicKeyInfo"/>, valid <paramref name="lifetimeDays"/>
    /// from <paramref name="now"/>; <paramref name="replaces"/> is the id of the certificate it
    /// renews, if any. <paramref name="node"/> (the machine's name) goes into the audit detail, so
    /// that each node's certificates can be told apart on a cluster.
    /// </summary>
    public async Task<ServerCertificate> IssueAsync(IReadOnlyList<string> names, byte[] subjectPublicKeyInfo, int lifetimeDays, Guid? replaces, string node, DateTimeOffset now, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(names);
        var plan = CertificatePlanner.Build(CertificateIssuance.NewSerialNumber(), subjectPublicKeyInfo, ServerCertificatePlan.Steps(names, now, lifetimeDays, _ca.Issuer));
        var id = Guid.CreateVersion7(now);
        var correlation = $"tls-{Guid.NewGuid():N}";

        // Claim: the serial is on record (with its plan's hash) before the CA signs it. No request,
        // no user: the certificate is the server's, under an id of its own.
        await _transactions.RunAsync(async (uow, c) =>
        {
            await uow.Certificates.ReserveAsync(new CertificateReservation(plan.SerialHex, Guid.Empty, id, Guid.Empty, ServerCertificatePlan.TemplateName, plan.Sha256Hex()), c).ConfigureAwait(false);
            return true;
        }, ct).ConfigureAwait(false);

        IssuedCertificate issued;
        try
        {
            issued = await _issuance.SignAsync(plan, CancellationToken.None).ConfigureAwait(false);
        }
        catch
        {
            // Not signed, or signed otherwise than planned: the serial is revoked (unspecified) so
            // that it is never good, whatever the CA did with it.
            await _transactions.RunAsync(async (uow, c) =>
            {
                await uow.Certificates.RevokeAllAsync(id, 0, now, c).ConfigureAwait(false);
                await uow.Audit.AppendAsync(Event("TlsCertificateFailed", id, now, correlation, $"serial={plan.SerialHex} names={string.Join(",", names)} node={node}"), c).ConfigureAwait(false);
                return true;
            }, CancellationToken.None).ConfigureAwait(false);
            throw;
        }

        await _transactions.RunAsync(async (uow, c) =>
        {
            await uow.Certificates.RecordIssuedAsync(issued, c).ConfigureAwait(false);
            if (replaces is { } previous)
            {
                await uow.Certificates.MoveAllAsync(previous, CertificateStatus.Issued, CertificateStatus.Superseded, c).ConfigureAwait(false);
            }

            await uow.Audit.AppendAsync(Event("TlsCertificateIssued", id, now, correlation,
                $"serial={issued.SerialHex} names={string.Join(",", names)} notAfter={issued.NotAfter:O} ca={issued.AuthorityId} node={node}"
                + (replaces is { } r ? $" replaces={r:D}" : "")), c).ConfigureAwait(false);
            return true;
        }, CancellationToken.None).ConfigureAwait(false);
        return new ServerCertificate(issued, id, names);
    }

    // The server itself acts (Guid.Empty, as at first start); the subject is the certificate's id.
    private static AuditEvent Event(string kind, Guid id, DateTimeOffset at, string correlation, string detail) =>
        new(kind, id, Guid.Empty, RequestStatus.None, RequestStatus.None, at, correlation, detail);
}
