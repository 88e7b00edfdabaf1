using OpenCM.Domain;

namespace OpenCM.Application;

/// <summary>
/// Changes to the CAs this server holds (issue #20.1), each written with its audit event in one
/// unit of work, as <see cref="DirectoryAdministration"/> does for the directory: a CA made, a
/// subordinate CA requested, installed (the one before it retired), and a publication set. A
/// refused change leaves no event. Which certificate may be installed is decided before this is
/// called (the composition's <c>CaAdministration</c>); this records what was decided.
/// </summary>
public sealed class AuthorityChanges
{
    private readonly ITransactions _transactions;

    public AuthorityChanges(ITransactions transactions) => _transactions = transactions;

    /// <summary>Stores a CA (the first one, or a pending one) and audits it; null when its id or slug is taken (nothing written).</summary>
    public Task<int?> AddAsync(AuditContext who, StoredAuthority authority, string fingerprint, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(who);
        ArgumentNullException.ThrowIfNull(authority);
        return _transactions.RunAsync(async (uow, c) =>
        {
            if (await uow.Authorities.TryAddAsync(authority, c).ConfigureAwait(false) is not { } id)
            {
                return null;
            }

            var kind = authority.State == AuthorityState.Pending ? "CaRequested" : "CaCreated";
            await uow.Audit.AppendAsync(Event(who, kind, authority.Created, $"ca={id} subject={authority.Subject} key={authority.KeyReference} {fingerprint}"), c).ConfigureAwait(false);
            return (int?)id;
        }, ct);
    }

    /// <summary>Makes a pending CA active with its certificate (the active one retired) and audits it; false when it is not pending.</summary>
    public Task<bool> ActivateAsync(AuditContext who, StoredAuthority pending, byte[] certificate, byte[] chain, string fingerprint, DateTimeOffset at, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(who);
        ArgumentNullException.ThrowIfNull(pending);
        return _transactions.RunAsync(async (uow, c) =>
        {
            if (!await uow.Authorities.TryActivateAsync(pending.Id, certificate, chain, at, c).ConfigureAwait(false))
            {
                return false;
            }

            await uow.Audit.AppendAsync(Event(who, "CaInstalled", at, $"ca={pending.Id} subject={pending.Subject} certificate={fingerprint}"), c).ConfigureAwait(false);
            return true;
        }, ct);
    }

    /// <summary>Sets where a CA made without one publishes, once, and audits it.</summary>
    public Task<bool> SetPublicationAsync(AuditContext who, int id, string publication, DateTimeOffset at, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(who);
        return _transactions.RunAsync(async (uow, c) =>
        {
            if (!await uow.Authorities.TrySetPublicationAsync(id, publication, c).ConfigureAwait(false))
            {
                return false;
            }

            await uow.Audit.AppendAsync(Event(who, "CaPublicationSet", at, $"ca={id} publication={publication}"), c).ConfigureAwait(false);
            return true;
        }, ct);
    }

    // A CA has no GUID of its own; its id, subject and fingerprint are in the detail.
    private static AuditEvent Event(AuditContext who, string kind, DateTimeOffset at, string detail) =>
        new(kind, Guid.Empty, who.Actor, RequestStatus.None, RequestStatus.None, at, who.CorrelationId, who.Detail(detail));
}
