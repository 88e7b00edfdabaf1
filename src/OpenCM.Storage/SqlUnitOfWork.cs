using System.Data.Common;
using System.Text.Json;
using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.Security.Sddl;

namespace OpenCM.Storage;

/// <summary>Runs units of work as transactions of a <see cref="StorageProvider"/> (one group commit may carry many).</summary>
public sealed class SqlTransactions : ITransactions
{
    private readonly StorageProvider _db;

    public SqlTransactions(StorageProvider db) => _db = db;

    public Task<T> RunAsync<T>(Func<IUnitOfWork, CancellationToken, Task<T>> work, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        return _db.WriteAsync((tx, c) => work(new SqlUnitOfWork(tx, _db.AuditKey), c), ct);
    }
}

/// <summary>
/// The unit of work's narrow operations in SQL, inside one transaction. Each is a translation:
/// which operation to run, and from which state, was decided by Domain and Application.
/// </summary>
internal sealed class SqlUnitOfWork : IUnitOfWork, IRequestWrites, IProfileWrites, ICertificateWrites, ICardWrites, IAuditWrites, ITemplateWrites, IDirectoryWrites, ICaNoticeWrites, IAuthorityWrites, IEventWrites, IDeviceSubmissionWrites
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.General);
    private readonly DbTransaction _tx;
    private readonly AuditChainKey? _auditKey;

    public SqlUnitOfWork(DbTransaction tx, AuditChainKey? auditKey)
    {
        _tx = tx;
        _auditKey = auditKey;
    }

    public IRequestWrites Requests => this;

    public IProfileWrites Profiles => this;

    public ICertificateWrites Certificates => this;

    public ICardWrites Cards => this;

    public IAuditWrites Audit => this;

    public ITemplateWrites Templates => this;

    public IDirectoryWrites Directory => this;

    public ICaNoticeWrites Notices => this;

    public IAuthorityWrites Authorities => this;

    public IEventWrites Events => this;

    public IDeviceSubmissionWrites DeviceSubmissions => this;

    async Task IDeviceSubmissionWrites.InsertAsync(DeviceSubmission d, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(d);

        // ON CONFLICT DO NOTHING on both providers: a second submission with the caller's client
        // reference (a retry racing the first) writes nothing, and the unit of work is abandoned.
        if (await _tx.ExecuteAsync(
                "INSERT INTO device_submissions (request_uuid, protocol, caller_uuid, client_reference, csr, names, created) VALUES (@r, @p, @c, @ref, @csr, @n, @t) ON CONFLICT DO NOTHING", ct,
                ("@r", Sql.Text(d.RequestUuid)), ("@p", EnrollmentProtocols.Name(d.Protocol)), ("@c", Sql.Text(d.CallerUuid)), ("@ref", d.ClientReference),
                ("@csr", d.CertificateRequest), ("@n", SqlDeviceSubmissions.SerializeNames(d.Names)), ("@t", Sql.Ticks(d.Created))).ConfigureAwait(false) != 1)
        {
            throw new WriteConflictException("A submission with this client reference exists already.");
        }
    }

    async Task IRequestWrites.InsertAsync(CmRequest request, IReadOnlyCollection<Sid> readerSids, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(readerSids);

        // The paging key is drawn under the audit head's row lock, held until commit: seq order is
        // then commit order on every provider, and a reader paging by seq skips nothing
        // (docs/decisions/0006). SQLite has one writer anyway; this costs it one no-op update.
        // The lock and the reader rows go with the insert and the next statement (DeferredStatements, PostgreSQL).
        await _tx.DeferAsync("UPDATE audit_head SET seq = seq WHERE id = 1", ct).ConfigureAwait(false);
        var seq = await _tx.ScalarAsync<long>(
            $"INSERT INTO requests ({SqlRequestStore.InsertColumns}) VALUES (@uuid, @type, @status, @flags, @dc, @dcf, @orig, @target, @submitted, @completed, " +
            "@np, @op, @nc, @oc, @prio, @comment, @tpl, @sd, @dcc, @an, @votes, @version) RETURNING seq", ct,
            ("@uuid", Sql.Text(request.Uuid)), ("@type", (int)request.RequestType), ("@status", (int)request.Status), ("@flags", (int)request.Flags),
            ("@dc", JsonSerializer.Serialize(request.DataCollection, Json)), ("@dcf", request.DataCollectionFlags),
            ("@orig", Sql.Text(request.OriginatorUserUuid)), ("@target", Sql.Text(request.TargetUserUuid)),
            ("@submitted", Sql.Ticks(request.Submitted)), ("@completed", request.Completed is { } done ? Sql.Ticks(done) : null),
            ("@np", Sql.Text(request.NewProfileUuid)), ("@op", Sql.Text(request.OldProfileUuid)),
            ("@nc", Sql.Text(request.NewSmartcardUuid)), ("@oc", Sql.Text(request.OldSmartcardUuid)),
            ("@prio", request.Priority), ("@comment", request.Comment), ("@tpl", Sql.Text(request.ProfileTemplateUuid)),
            ("@sd", request.SecurityDescriptor), ("@dcc", request.IsDataCollectionComplete ? 1 : 0), ("@an", request.ApprovalsNeeded),
            ("@votes", JsonSerializer.Serialize(request.Votes, Json)), ("@version", request.Version)).ConfigureAwait(false);

        foreach (var sid in readerSids)
        {
            await _tx.DeferAsync("INSERT INTO request_readers (sid, seq) VALUES (@sid, @seq)", ct, ("@sid", sid.Value), ("@seq", seq)).ConfigureAwait(false);
        }
    }

    async Task<bool> IRequestWrites.TryTransitionAsync(RequestTransition t, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(t);

        // Compare-and-set: zero rows means another writer moved the request first.
        return await _tx.ExecuteAsync(
            "UPDATE requests SET status = @to, completed = COALESCE(@completed, completed), votes = COALESCE(@votes, votes), " +
            "new_profile = COALESCE(@np, new_profile), new_card = COALESCE(@nc, new_card), version = version + 1 WHERE uuid = @id AND status = @from AND version = @v", ct,
            ("@to", (int)t.To), ("@completed", t.Completed is { } done ? Sql.Ticks(done) : null),
            ("@votes", t.Votes is null ? null : JsonSerializer.Serialize(t.Votes, Json)),
            ("@np", t.NewProfile is { } np ? Sql.Text(np) : null), ("@nc", t.NewSmartcard is { } nc ? Sql.Text(nc) : null),
            ("@id", Sql.Text(t.Id)), ("@from", (int)t.From), ("@v", t.ExpectedVersion)).ConfigureAwait(false) == 1;
    }

    async Task<int> IRequestWrites.CountByOriginatorAsync(Guid originator, Guid template, RequestStatus status, CancellationToken ct) =>
        (int)await _tx.ScalarAsync<long>("SELECT COUNT(*) FROM requests WHERE originator = @o AND template = @t AND status = @st", ct,
            ("@o", Sql.Text(originator)), ("@t", Sql.Text(template)), ("@st", (int)status)).ConfigureAwait(false);

    Task IProfileWrites.InsertAsync(StoredProfile p, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(p);
        return _tx.ExecuteAsync(
            "INSERT INTO profiles (uuid, template, template_version, user_uuid, parent_uuid, status, request_uuid, created, smartcard_uuid, version) " +
            "VALUES (@u, @t, @tv, @user, @parent, @st, @r, @c, @card, 1)", ct,
            ("@u", Sql.Text(p.Uuid)), ("@t", Sql.Text(p.TemplateUuid)), ("@tv", p.TemplateVersion), ("@user", Sql.Text(p.UserUuid)), ("@parent", Sql.Text(p.ParentUuid)),
            ("@st", (int)p.Status), ("@r", Sql.Text(p.RequestUuid)), ("@c", Sql.Ticks(p.Created)), ("@card", Sql.Text(p.SmartcardUuid)));
    }

    async Task<bool> IProfileWrites.TryMoveAsync(Guid profile, ProfileStatus from, ProfileStatus to, CancellationToken ct) =>
        await _tx.ExecuteAsync("UPDATE profiles SET status = @to, version = version + 1 WHERE uuid = @p AND status = @from", ct,
            ("@to", (int)to), ("@p", Sql.Text(profile)), ("@from", (int)from)).ConfigureAwait(false) == 1;

    Task ICertificateWrites.ReserveAsync(CertificateReservation r, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(r);
        return _tx.ExecuteAsync(
            "INSERT INTO certificates (serial, request_uuid, profile_uuid, user_uuid, template, status, plan_sha256) VALUES (@s, @r, @p, @u, @t, @st, @plan)", ct,
            ("@s", r.SerialHex.ToUpperInvariant()), ("@r", Sql.Text(r.RequestUuid)), ("@p", Sql.Text(r.ProfileUuid)),
            ("@u", Sql.Text(r.UserUuid)), ("@t", r.Template), ("@st", (int)CertificateStatus.Reserved), ("@plan", r.PlanSha256));
    }

    async Task<bool> ICertificateWrites.RecordIssuedAsync(IssuedCertificate c, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(c);

        // One statement: the certificate is stored whatever became of its serial meanwhile (a
        // revoked one stays revoked), and a serial still reserved becomes issued.
        var status = await _tx.FirstRowAsync(
            "UPDATE certificates SET der = @der, thumbprint = @th, not_before = @nb, not_after = @na, ca_id = @ca, " +
            "status = CASE WHEN status = @reserved THEN @issued ELSE status END WHERE serial = @s AND der IS NULL RETURNING status",
            r => (int?)r.GetInt32(0), ct,
            ("@der", c.Der), ("@th", c.Thumbprint), ("@nb", Sql.Ticks(c.NotBefore)), ("@na", Sql.Ticks(c.NotAfter)), ("@ca", c.AuthorityId == 0 ? null : c.AuthorityId),
            ("@reserved", (int)CertificateStatus.Reserved), ("@issued", (int)CertificateStatus.Issued), ("@s", c.SerialHex.ToUpperInvariant())).ConfigureAwait(false);
        return status == (int)CertificateStatus.Issued;
    }

    Task ICertificateWrites.ArchiveKeyAsync(ArchivedKey key, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(key);
        return _tx.ExecuteAsync("INSERT INTO archived_keys (serial, value) VALUES (@s, @v)", ct, ("@s", key.SerialHex.ToUpperInvariant()), ("@v", key.Sealed));
    }

    Task<int> ICertificateWrites.MoveAllAsync(Guid profile, CertificateStatus from, CertificateStatus to, CancellationToken ct) =>
        _tx.ExecuteAsync("UPDATE certificates SET status = @to WHERE profile_uuid = @p AND status = @from", ct,
            ("@to", (int)to), ("@p", Sql.Text(profile)), ("@from", (int)from));

    async Task<IReadOnlyList<string>> ICertificateWrites.RevokeAllAsync(Guid profile, int reason, DateTimeOffset at, CancellationToken ct)
    {
        // A command of its own, not through Sql's helpers: what the transaction held back goes first.
        await DeferredStatements.FlushAsync(_tx, ct).ConfigureAwait(false);
        await using var cmd = _tx.Command(
            "UPDATE certificates SET status = @revoked, revoked_at = @at, revocation_reason = @why WHERE profile_uuid = @p AND revoked_at IS NULL RETURNING serial",
            ("@revoked", (int)CertificateStatus.Revoked), ("@at", Sql.Ticks(at)), ("@why", reason), ("@p", Sql.Text(profile)));
        return await SerialsAsync(cmd, ct).ConfigureAwait(false);
    }

    async Task<IReadOnlyList<string>> ICertificateWrites.ReleaseAsync(Guid profile, int reason, CertificateStatus to, CancellationToken ct)
    {
        await DeferredStatements.FlushAsync(_tx, ct).ConfigureAwait(false);
        await using var cmd = _tx.Command(
            "UPDATE certificates SET status = @to, revoked_at = NULL, revocation_reason = NULL WHERE profile_uuid = @p AND revocation_reason = @why RETURNING serial",
            ("@to", (int)to), ("@p", Sql.Text(profile)), ("@why", reason));
        return await SerialsAsync(cmd, ct).ConfigureAwait(false);
    }

    private static async Task<IReadOnlyList<string>> SerialsAsync(DbCommand cmd, CancellationToken ct)
    {
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        var serials = new List<string>();
        while (await r.ReadAsync(ct).ConfigureAwait(false))
        {
            serials.Add(r.GetString(0));
        }

        return serials;
    }

    async Task<bool> ICardWrites.TryInsertAsync(StoredSmartcard c, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(c);

        // The partial unique index on card_id decides between two binders of one physical card.
        return await _tx.ExecuteAsync(
            "INSERT INTO smartcards (uuid, card_id, atr, status, user_uuid, template, template_version, request_uuid, parent_uuid, permanent_uuid, primary_uuid, created, key_generation, version) " +
            "VALUES (@u, @cid, @atr, @st, @user, @t, @tv, @r, @parent, @perm, @primary, @c, @kg, 1) ON CONFLICT DO NOTHING", ct,
            ("@u", Sql.Text(c.Uuid)), ("@cid", c.CardId), ("@atr", c.Atr), ("@st", (int)c.Status), ("@user", Sql.Text(c.UserUuid)),
            ("@t", Sql.Text(c.TemplateUuid)), ("@tv", c.TemplateVersion), ("@r", Sql.Text(c.RequestUuid)), ("@parent", Sql.Text(c.ParentUuid)),
            ("@perm", Sql.Text(c.PermanentUuid)), ("@primary", Sql.Text(c.PrimaryUuid)), ("@c", Sql.Ticks(c.Created)), ("@kg", c.KeyGeneration)).ConfigureAwait(false) == 1;
    }

    async Task<bool> ICardWrites.TryMoveAsync(Guid card, SmartcardStatus from, SmartcardStatus to, Guid? request, CancellationToken ct) =>
        await _tx.ExecuteAsync(
            "UPDATE smartcards SET status = @to, request_uuid = COALESCE(@r, request_uuid), version = version + 1 WHERE uuid = @u AND status = @from", ct,
            ("@to", (int)to), ("@r", request is { } r ? Sql.Text(r) : null), ("@u", Sql.Text(card)), ("@from", (int)from)).ConfigureAwait(false) == 1;

    async Task<bool> ICardWrites.TryRebindAsync(StoredSmartcard c, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(c);
        return await _tx.ExecuteAsync(
            "UPDATE smartcards SET status = @st, atr = @atr, user_uuid = @user, template = @t, template_version = @tv, request_uuid = @r, " +
            "parent_uuid = @parent, permanent_uuid = @perm, primary_uuid = @primary, key_generation = @kg, version = version + 1 WHERE uuid = @u AND status = @new", ct,
            ("@st", (int)c.Status), ("@atr", c.Atr), ("@user", Sql.Text(c.UserUuid)), ("@t", Sql.Text(c.TemplateUuid)), ("@tv", c.TemplateVersion),
            ("@r", Sql.Text(c.RequestUuid)), ("@parent", Sql.Text(c.ParentUuid)), ("@perm", Sql.Text(c.PermanentUuid)), ("@primary", Sql.Text(c.PrimaryUuid)),
            ("@kg", c.KeyGeneration), ("@u", Sql.Text(c.Uuid)), ("@new", (int)SmartcardStatus.New)).ConfigureAwait(false) == 1;
    }

    async Task<bool> ICardWrites.TryMarkPinProposedAsync(Guid card, Guid request, CancellationToken ct) =>
        await _tx.ExecuteAsync("UPDATE smartcards SET pin_request = @r WHERE uuid = @u AND pin_request <> @r", ct,
            ("@r", Sql.Text(request)), ("@u", Sql.Text(card))).ConfigureAwait(false) == 1;

    Task IAuditWrites.AppendAsync(AuditEvent audit, CancellationToken ct) => AuditAppender.AppendAsync(_tx, _auditKey, audit, ct);

    async Task<bool> ITemplateWrites.TryStoreVersionAsync(ProfileTemplate template, int expectedVersion, DateTimeOffset at, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(template);
        (string Name, object? Value)[] values = [("@u", Sql.Text(template.Uuid)), ("@n", template.Name), ("@nk", SqlTemplateStore.Key(template.Name)),
            ("@v", template.Version), ("@b", SqlTemplateStore.Serialize(template)), ("@t", Sql.Ticks(at)), ("@expected", expectedVersion)];
        try
        {
            // Compare-and-set on the version the caller read: zero rows is false. A new template
            // that meets a taken uuid or name inserts nothing; a renamed one does not take a name
            // another template holds.
            return (expectedVersion == 0
                ? await _tx.ExecuteAsync("INSERT INTO templates (uuid, name, name_key, version, body, updated) VALUES (@u, @n, @nk, @v, @b, @t) ON CONFLICT DO NOTHING",
                    ct, values[..^1]).ConfigureAwait(false)
                : await _tx.ExecuteAsync(
                    "UPDATE templates SET name = @n, name_key = @nk, version = @v, body = @b, updated = @t WHERE uuid = @u AND version = @expected " +
                    "AND NOT EXISTS (SELECT 1 FROM templates o WHERE o.name_key = @nk AND o.uuid <> @u)",
                    ct, values).ConfigureAwait(false)) == 1;
        }
        catch (DbException e) when (e.SqlState == UniqueViolation)
        {
            // Another node took the name between the statement's check and its write (PostgreSQL, read committed).
            throw new WriteConflictException($"The template name '{template.Name}' was taken meanwhile.", e);
        }
    }

    async Task<TemplateRemoval> ITemplateWrites.TryRemoveAsync(Guid uuid, int expectedVersion, CancellationToken ct)
    {
        // Requests, profiles and cards name the template by uuid (profiles and cards with the
        // version they were issued under): while any does, the template stays. The DELETE
        // checks again itself, so that nothing named between the counts and the write is orphaned.
        var u = ("@u", (object?)Sql.Text(uuid));
        var requests = await _tx.ScalarAsync<long>("SELECT COUNT(*) FROM requests WHERE template = @u", ct, u).ConfigureAwait(false);
        var profiles = await _tx.ScalarAsync<long>("SELECT COUNT(*) FROM profiles WHERE template = @u", ct, u).ConfigureAwait(false);
        var cards = await _tx.ScalarAsync<long>("SELECT COUNT(*) FROM smartcards WHERE template = @u", ct, u).ConfigureAwait(false);
        var removed = requests + profiles + cards == 0 && await _tx.ExecuteAsync(
            "DELETE FROM templates WHERE uuid = @u AND version = @v " +
            "AND NOT EXISTS (SELECT 1 FROM requests WHERE template = @u) AND NOT EXISTS (SELECT 1 FROM profiles WHERE template = @u) " +
            "AND NOT EXISTS (SELECT 1 FROM smartcards WHERE template = @u)", ct, u, ("@v", expectedVersion)).ConfigureAwait(false) == 1;
        return new TemplateRemoval(removed, requests, profiles, cards);
    }

    Task<Principal?> IDirectoryWrites.FindByNameAsync(string name, CancellationToken ct) => SqlDirectory.FindInAsync(_tx, name, ct);

    async Task<Principal?> IDirectoryWrites.TryInsertAsync(NewPrincipal p, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(p);

        // The SID is allocated here (the domain's next relative id), as a sequence number is: no rule, only an identifier.
        var domain = await SqlDirectory.DomainSidAsync(_tx, ct).ConfigureAwait(false);
        var rid = await _tx.ScalarAsync<long>("UPDATE counters SET value = value + 1 WHERE name = 'rid' RETURNING value", ct).ConfigureAwait(false);
        var principal = new Principal(p.Uuid, p.Name, Sid.InDomain(domain, (uint)rid), p.Kind) { Email = p.Email, Upn = p.Upn };
        return await _tx.ExecuteAsync("INSERT INTO principals (uuid, kind, name, name_key, sid, created, email, upn) VALUES (@u, @k, @n, @nk, @s, @t, @e, @upn) ON CONFLICT DO NOTHING", ct,
            ("@u", Sql.Text(principal.Uuid)), ("@k", (int)p.Kind), ("@n", principal.Name), ("@nk", SqlDirectory.Key(p.Name)),
            ("@s", principal.Sid.Value), ("@t", Sql.Ticks(p.Created)), ("@e", p.Email), ("@upn", p.Upn)).ConfigureAwait(false) == 1 ? principal : null;
    }

    async Task<bool> IDirectoryWrites.TryAddMembershipAsync(Guid user, Guid group, CancellationToken ct) =>
        await _tx.ExecuteAsync("INSERT INTO memberships (user_uuid, group_uuid) VALUES (@u, @g) ON CONFLICT DO NOTHING", ct,
            ("@u", Sql.Text(user)), ("@g", Sql.Text(group))).ConfigureAwait(false) == 1;

    async Task<bool> IDirectoryWrites.TryRemoveMembershipAsync(Guid user, Guid group, CancellationToken ct) =>
        await _tx.ExecuteAsync("DELETE FROM memberships WHERE user_uuid = @u AND group_uuid = @g", ct,
            ("@u", Sql.Text(user)), ("@g", Sql.Text(group))).ConfigureAwait(false) == 1;

    async Task<bool> IDirectoryWrites.TryRemoveUserAsync(Guid user, CancellationToken ct)
    {
        await _tx.ExecuteAsync("DELETE FROM memberships WHERE user_uuid = @u", ct, ("@u", Sql.Text(user))).ConfigureAwait(false);
        return await _tx.ExecuteAsync("DELETE FROM principals WHERE uuid = @u AND kind = @k", ct,
            ("@u", Sql.Text(user)), ("@k", (int)PrincipalKind.User)).ConfigureAwait(false) == 1;
    }

    async Task<bool> IDirectoryWrites.TrySetContactAsync(Guid user, string? email, string? upn, CancellationToken ct) =>
        await _tx.ExecuteAsync("UPDATE principals SET email = @e, upn = @n WHERE uuid = @u AND kind = @k", ct,
            ("@e", email), ("@n", upn), ("@u", Sql.Text(user)), ("@k", (int)PrincipalKind.User)).ConfigureAwait(false) == 1;

    async Task<bool> IDirectoryWrites.TrySetPasswordHashAsync(Guid user, string hash, CancellationToken ct) =>
        await _tx.ExecuteAsync("UPDATE principals SET password_hash = @h WHERE uuid = @u AND kind = @k", ct,
            ("@h", hash), ("@u", Sql.Text(user)), ("@k", (int)PrincipalKind.User)).ConfigureAwait(false) == 1;

    // The CAs (issue #20.1). The slug is unique, and id 1 is the first CA, which two processes
    // may make at once: either conflict inserts nothing, and the caller reads what the other stored.
    async Task<int?> IAuthorityWrites.TryAddAsync(StoredAuthority authority, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(authority);
        var id = authority.Id == 1
            ? 1
            : await _tx.ScalarAsync<long>("SELECT COALESCE(MAX(id), 0) + 1 FROM certificate_authorities", ct).ConfigureAwait(false);
        var inserted = await _tx.ExecuteAsync(
            $"INSERT INTO certificate_authorities ({SqlAuthorityStore.Columns}) VALUES (@id, @n, @s, @st, @k, @sub, @cert, @chain, @pub, @cr, @act) ON CONFLICT DO NOTHING", ct,
            ("@id", id), ("@n", authority.Name), ("@s", authority.Slug), ("@st", (int)authority.State), ("@k", authority.KeyReference),
            ("@sub", authority.Subject), ("@cert", authority.Certificate), ("@chain", authority.Chain), ("@pub", authority.Publication),
            ("@cr", Sql.Ticks(authority.Created)), ("@act", authority.Activated is { } a ? Sql.Ticks(a) : null)).ConfigureAwait(false);
        return inserted == 1 ? (int)id : null;
    }

    // Compare-and-set on the pending state: zero rows means another process got there first.
    async Task<bool> IAuthorityWrites.TryActivateAsync(int id, byte[] certificate, byte[] chain, DateTimeOffset at, CancellationToken ct)
    {
        var pending = await _tx.ScalarAsync<long>("SELECT COUNT(*) FROM certificate_authorities WHERE id = @id AND state = @pending", ct,
            ("@id", id), ("@pending", (int)AuthorityState.Pending)).ConfigureAwait(false);
        if (pending != 1)
        {
            return false;
        }

        await _tx.ExecuteAsync("UPDATE certificate_authorities SET state = @retired WHERE state = @active", ct,
            ("@retired", (int)AuthorityState.Retired), ("@active", (int)AuthorityState.Active)).ConfigureAwait(false);
        return await _tx.ExecuteAsync(
            "UPDATE certificate_authorities SET state = @active, certificate = @cert, chain = @chain, activated = @at WHERE id = @id AND state = @pending", ct,
            ("@active", (int)AuthorityState.Active), ("@cert", certificate), ("@chain", chain), ("@at", Sql.Ticks(at)),
            ("@id", id), ("@pending", (int)AuthorityState.Pending)).ConfigureAwait(false) == 1;
    }

    async Task<bool> IAuthorityWrites.TrySetPublicationAsync(int id, string publication, CancellationToken ct) =>
        await _tx.ExecuteAsync("UPDATE certificate_authorities SET publication = @p WHERE id = @id AND publication IS NULL", ct,
            ("@p", publication), ("@id", id)).ConfigureAwait(false) == 1;

    Task<long> ICaNoticeWrites.EnqueueAsync(Revocation revocation, DateTimeOffset firstRetry, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(revocation);
        return _tx.ScalarAsync<long>(
            "INSERT INTO ca_outbox (kind, serials, reason, revoked_at, attempts, next_attempt) VALUES (@k, @s, @r, @at, 0, @next) RETURNING id", ct,
            ("@k", SqlCaOutbox.RevokeKind), ("@s", JsonSerializer.Serialize(revocation.Serials.Select(s => s.ToUpperInvariant()), Json)),
            ("@r", revocation.Reason), ("@at", Sql.Ticks(revocation.At)), ("@next", Sql.Ticks(firstRetry)));
    }

    // Due at once: the dispatcher claims it after the commit (docs/operations.md, notifications).
    Task IEventWrites.EnqueueAsync(OutboxEvent e, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(e);
        return _tx.DeferAsync(
            "INSERT INTO events (type, subject, from_status, to_status, detail, occurred, next_attempt) VALUES (@t, @s, @f, @to, @d, @at, @at)", ct,
            ("@t", e.Type), ("@s", e.Subject), ("@f", e.From), ("@to", e.To), ("@d", e.Detail), ("@at", Sql.Ticks(e.At)));
    }

    // The primary key (serial, days) makes the notice once per certificate and threshold.
    async Task<bool> IEventWrites.TryRecordExpiryNoticeAsync(string serialHex, int days, DateTimeOffset at, CancellationToken ct) =>
        await _tx.ExecuteAsync("INSERT INTO expiry_notices (serial, days, noticed) VALUES (@s, @d, @t) ON CONFLICT DO NOTHING", ct,
            ("@s", serialHex.ToUpperInvariant()), ("@d", days), ("@t", Sql.Ticks(at))).ConfigureAwait(false) == 1;

    // SQLSTATE unique_violation (PostgreSQL; SQLite's one writer never races a name).
    private const string UniqueViolation = "23505";
}
