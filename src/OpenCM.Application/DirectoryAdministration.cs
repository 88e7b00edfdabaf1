using OpenCM.Domain;

namespace OpenCM.Application;

/// <summary>
/// Changes to the embedded directory (SPEC §5): users, groups, memberships and passwords. Each
/// is one unit of work whose audit event names who made it and under which correlation id
/// (<see cref="AuditContext"/>); storage only inserts, deletes and allocates SIDs. A directory
/// OpenCM does not administer (<see cref="DirectorySource"/>, Active Directory) refuses them all.
/// </summary>
public sealed class DirectoryAdministration
{
    private readonly ITransactions _transactions;
    private readonly DirectorySource _source;
    private readonly TimeProvider _clock;

    public DirectoryAdministration(ITransactions transactions, DirectorySource source, TimeProvider clock)
    {
        _transactions = transactions;
        _source = source;
        _clock = clock;
    }

    /// <summary>Creates a user; groups that do not exist yet are created, each with its own SID. A taken name is a ValidationFailed naming <c>name</c>.</summary>
    public Task<Principal> AddUserAsync(AuditContext who, string name, IReadOnlyList<string> groups, CancellationToken ct = default) =>
        AddUserAsync(who, name, groups, email: null, upn: null, ct);

    /// <summary>
    /// As <see cref="AddUserAsync(AuditContext, string, IReadOnlyList{string}, CancellationToken)"/>,
    /// with the e-mail address and user principal name a template's subject and SANs may name
    /// (issue #20.6); each is <c>local@domain</c> or absent, and a malformed one is a ValidationFailed naming it.
    /// </summary>
    public Task<Principal> AddUserAsync(AuditContext who, string name, IReadOnlyList<string> groups, string? email, string? upn, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(who);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(groups);
        _source.EnsureAdministered();
        email = MailboxName(email, "email");
        upn = MailboxName(upn, "upn");
        var now = _clock.GetUtcNow();
        return _transactions.RunAsync(async (uow, c) =>
        {
            // 1. The user; a name any principal holds (in any case) is refused.
            var user = await uow.Directory.TryInsertAsync(new NewPrincipal(Guid.NewGuid(), name.Trim(), PrincipalKind.User, now) { Email = email, Upn = upn }, c).ConfigureAwait(false)
                ?? throw new OpenCmException(DomainError.Validation("name", $"A principal named '{name}' already exists."));
            await uow.Audit.AppendAsync(Added(who, user, now), c).ConfigureAwait(false);

            // 2. Each group, created on first use, then the membership.
            foreach (var groupName in groups.Distinct(StringComparer.OrdinalIgnoreCase))
            {
                var group = await EnsureGroupAsync(uow, who, groupName, now, c).ConfigureAwait(false);
                if (await uow.Directory.TryAddMembershipAsync(user.Uuid, group.Uuid, c).ConfigureAwait(false))
                {
                    await uow.Audit.AppendAsync(Event(who, "MembershipAdded", user.Uuid, now, $"group={group.Uuid:D}"), c).ConfigureAwait(false);
                }
            }

            return user;
        }, ct);
    }

    /// <summary>Creates a group if it does not exist and returns it; a user of that name is a ValidationFailed naming <c>group</c>.</summary>
    public Task<Principal> EnsureGroupAsync(AuditContext who, string name, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(who);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        _source.EnsureAdministered();
        var now = _clock.GetUtcNow();
        return _transactions.RunAsync((uow, c) => EnsureGroupAsync(uow, who, name, now, c), ct);
    }

    /// <summary>
    /// Sets a user's e-mail address and user principal name (issue #20.6: users made before they
    /// had one); an empty value clears it, a malformed one is a ValidationFailed naming it. False
    /// when no such user exists.
    /// </summary>
    public Task<bool> SetContactAsync(AuditContext who, Guid user, string? email, string? upn, CancellationToken ct = default)
    {
        _source.EnsureAdministered();
        email = MailboxName(email, "email");
        upn = MailboxName(upn, "upn");
        return AuditedAsync(who, "UserChanged", user, $"email={email ?? "-"} upn={upn ?? "-"}", (uow, c) => uow.Directory.TrySetContactAsync(user, email, upn, c), ct);
    }

    /// <summary>Removes a user and their memberships; false when no such user exists. Their requests keep the user's GUID.</summary>
    public Task<bool> RemoveUserAsync(AuditContext who, Guid user, CancellationToken ct = default) =>
        AuditedAsync(who, "UserRemoved", user, "", (uow, c) => uow.Directory.TryRemoveUserAsync(user, c), ct);

    /// <summary>Takes a user out of a group; false when they were not in it.</summary>
    public Task<bool> RemoveMembershipAsync(AuditContext who, Guid user, Guid group, CancellationToken ct = default) =>
        AuditedAsync(who, "MembershipRemoved", user, $"group={group:D}", (uow, c) => uow.Directory.TryRemoveMembershipAsync(user, group, c), ct);

    /// <summary>
    /// Stores a user's password hash (made by the host's hasher; the directory never sees the
    /// password), audited without it; false when no such user exists.
    /// </summary>
    public Task<bool> SetPasswordHashAsync(AuditContext who, Guid user, string hash, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(hash);
        return AuditedAsync(who, "PasswordSet", user, "", (uow, c) => uow.Directory.TrySetPasswordHashAsync(user, hash, c), ct);
    }

    private Task<bool> AuditedAsync(AuditContext who, string kind, Guid subject, string detail, Func<IUnitOfWork, CancellationToken, Task<bool>> change, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(who);
        _source.EnsureAdministered();
        var now = _clock.GetUtcNow();
        return _transactions.RunAsync(async (uow, c) =>
        {
            // Audited only when something changed: a refused change leaves no event.
            if (!await change(uow, c).ConfigureAwait(false))
            {
                return false;
            }

            await uow.Audit.AppendAsync(Event(who, kind, subject, now, detail), c).ConfigureAwait(false);
            return true;
        }, ct);
    }

    private static async Task<Principal> EnsureGroupAsync(IUnitOfWork uow, AuditContext who, string name, DateTimeOffset now, CancellationToken ct)
    {
        var group = await uow.Directory.FindByNameAsync(name, ct).ConfigureAwait(false);
        if (group is null)
        {
            group = await uow.Directory.TryInsertAsync(new NewPrincipal(Guid.NewGuid(), name.Trim(), PrincipalKind.Group, now), ct).ConfigureAwait(false)
                ?? throw new OpenCmException(new DomainError(ErrorKind.Conflict, $"The name '{name}' was taken by another writer meanwhile; retry."));
            await uow.Audit.AppendAsync(Added(who, group, now), ct).ConfigureAwait(false);
        }

        return group.Kind == PrincipalKind.Group
            ? group
            : throw new OpenCmException(DomainError.Validation("group", $"'{name}' is a user, not a group."));
    }

    private static AuditEvent Added(AuditContext who, Principal p, DateTimeOffset now) =>
        Event(who, p.Kind == PrincipalKind.User ? "UserAdded" : "GroupAdded", p.Uuid, now, $"name={p.Name} sid={p.Sid}");

    private static AuditEvent Event(AuditContext who, string kind, Guid subject, DateTimeOffset now, string detail) =>
        new(kind, subject, who.Actor, RequestStatus.None, RequestStatus.None, now, who.CorrelationId, who.Detail(detail));

    // An e-mail address or UPN as certificates carry it (rfc822Name is an RFC 5321 mailbox, IA5;
    // a UPN is user@suffix, UTF-8): one '@' with text on both sides, no spaces or control
    // characters, at most 256 characters. Absent (null or blank) stays absent.
    private static string? MailboxName(string? value, string field)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return null;
        }

        var text = value.Trim();
        var at = text.IndexOf('@', StringComparison.Ordinal);
        if (text.Length > 256 || at <= 0 || at != text.LastIndexOf('@') || at == text.Length - 1 || text.Any(c => char.IsWhiteSpace(c) || char.IsControl(c))
            || (field == "email" && !System.Text.Ascii.IsValid(text)))
        {
            throw new OpenCmException(DomainError.Validation(field, field == "email"
                ? $"'{text}' is not an e-mail address (local@domain, ASCII, at most 256 characters)."
                : $"'{text}' is not a user principal name (user@suffix, at most 256 characters)."));
        }

        return text;
    }
}
