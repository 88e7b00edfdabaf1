using System.Data.Common;
using System.Text.Json;
using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.Security.Sddl;

namespace OpenCM.Storage;

/// <summary>Requests in SQL. Transitions are compare-and-set on (uuid, status, version); the same SQL runs on every provider.</summary>
public sealed class SqlRequestStore : IRequestStore
{
    private const string Columns =
        "seq, uuid, type, status, flags, data_collection, data_collection_flags, originator, target, submitted, completed, " +
        "new_profile, old_profile, new_card, old_card, priority, comment, template, descriptor, data_complete, approvals_needed, votes, version";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.General);
    private readonly StorageProvider _db;

    public SqlRequestStore(StorageProvider db) => _db = db;

    // The hottest read of the API (every GET, PUT and vote starts with it): on a lent connection with the statement kept prepared.
    public Task<CmRequest?> FindAsync(Guid id, CancellationToken ct = default) =>
        _db.ReadAsync((conn, c) => conn.FirstRowAsync($"SELECT {Columns} FROM requests WHERE uuid = @id", r => Read(r).Request, c, ("@id", Sql.Text(id))), ct);

    public Task CreateAsync(CmRequest request, IReadOnlyCollection<Sid> readerSids, AuditEvent audit, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(readerSids);
        return _db.WriteAsync(async (tx, c) =>
        {
            var seq = await tx.ScalarAsync<long>(
                $"INSERT INTO requests ({Columns[5..]}) VALUES (@uuid, @type, @status, @flags, @dc, @dcf, @orig, @target, @submitted, @completed, " +
                "@np, @op, @nc, @oc, @prio, @comment, @tpl, @sd, @dcc, @an, @votes, @version) RETURNING seq", c,
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
                await tx.ExecuteAsync("INSERT INTO request_readers (sid, seq) VALUES (@sid, @seq)", c, ("@sid", sid.Value), ("@seq", seq)).ConfigureAwait(false);
            }

            await AuditAppender.AppendAsync(tx, audit, c).ConfigureAwait(false);
            return seq;
        }, ct);
    }

    public Task<bool> TryChangeAsync(RequestChange change, AuditEvent audit, CancellationToken ct = default) =>
        TryChangeAllAsync([(change, audit)], ct);

    public async Task<bool> TryChangeAllAsync(IReadOnlyList<(RequestChange Change, AuditEvent Audit)> steps, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(steps);
        try
        {
            return await _db.WriteAsync(async (tx, c) =>
            {
                for (var i = 0; i < steps.Count; i++)
                {
                    if (!await ApplyAsync(tx, steps[i].Change, steps[i].Audit, c).ConfigureAwait(false))
                    {
                        // A lost first step wrote nothing; after that, undo the earlier steps by failing the write as a whole.
                        return i == 0 ? false : throw new LostRaceException();
                    }
                }

                return true;
            }, ct).ConfigureAwait(false);
        }
        catch (LostRaceException)
        {
            return false;
        }
    }

    private static async Task<bool> ApplyAsync(DbTransaction tx, RequestChange change, AuditEvent audit, CancellationToken c)
    {
        // Compare-and-set: zero rows means another writer moved the request first.
        var rows = await tx.ExecuteAsync(
            "UPDATE requests SET status = @to, completed = COALESCE(@completed, completed), votes = COALESCE(@votes, votes), version = version + 1 " +
            "WHERE uuid = @id AND status = @from AND version = @v", c,
            ("@to", (int)change.ToStatus), ("@completed", change.Completed is { } done ? Sql.Ticks(done) : null),
            ("@votes", change.Votes is null ? null : JsonSerializer.Serialize(change.Votes, Json)),
            ("@id", Sql.Text(change.Id)), ("@from", (int)change.FromStatus), ("@v", change.ExpectedVersion)).ConfigureAwait(false);
        if (rows == 0)
        {
            return false;
        }

        // What the execution built, or what the transition does to it, in the same transaction.
        if (change.Execution is { } start)
        {
            await StartExecutionAsync(tx, change.Id, start, c).ConfigureAwait(false);
        }

        await ApplyEffectAsync(tx, change, c).ConfigureAwait(false);
        if (change.OldProfile is { } old && !await ChangeProfileAsync(tx, old, change.Completed ?? audit.Time, c).ConfigureAwait(false))
        {
            // The request row has already changed: only failing the write undoes it.
            throw new LostRaceException();
        }

        await AuditAppender.AppendAsync(tx, audit, c).ConfigureAwait(false);
        return true;
    }

    // The named profile changes only from the status the decision saw (compare-and-set on the profile).
    private static async Task<bool> ChangeProfileAsync(DbTransaction tx, ProfileTransition t, DateTimeOffset at, CancellationToken ct)
    {
        var rows = await tx.ExecuteAsync("UPDATE profiles SET status = @to, version = version + 1 WHERE uuid = @p AND status = @from", ct,
            ("@to", (int)t.To), ("@p", Sql.Text(t.Profile)), ("@from", (int)t.From)).ConfigureAwait(false);
        if (rows == 0)
        {
            return false;
        }

        if (t.ReleaseHolds)
        {
            // Certificates on hold come back; they drop off the next CRL.
            await tx.ExecuteAsync(
                "UPDATE certificates SET status = @current, revoked_at = NULL, revocation_reason = NULL WHERE profile_uuid = @p AND revocation_reason = @hold", ct,
                ("@current", (int)CertificateStatus.Current), ("@p", Sql.Text(t.Profile)), ("@hold", ProfileRules.CertificateHold)).ConfigureAwait(false);
        }

        if (t.RevocationReason is { } reason)
        {
            await tx.ExecuteAsync(
                "UPDATE certificates SET status = @revoked, revoked_at = @at, revocation_reason = @why WHERE profile_uuid = @p AND revoked_at IS NULL", ct,
                ("@revoked", (int)CertificateStatus.Revoked), ("@at", Sql.Ticks(at)), ("@why", reason), ("@p", Sql.Text(t.Profile))).ConfigureAwait(false);
        }

        return true;
    }

    private sealed class LostRaceException : Exception;

    private static async Task StartExecutionAsync(DbTransaction tx, Guid requestId, ExecutionStart start, CancellationToken ct)
    {
        var p = start.Profile;
        await tx.ExecuteAsync(
            "INSERT INTO profiles (uuid, template, template_version, user_uuid, parent_uuid, status, request_uuid, created, version) VALUES (@u, @t, @tv, @user, @parent, @st, @r, @c, 1)", ct,
            ("@u", Sql.Text(p.Uuid)), ("@t", Sql.Text(p.TemplateUuid)), ("@tv", p.TemplateVersion), ("@user", Sql.Text(p.UserUuid)), ("@parent", Sql.Text(p.ParentUuid)), ("@st", (int)p.Status),
            ("@r", Sql.Text(p.RequestUuid)), ("@c", Sql.Ticks(p.Created))).ConfigureAwait(false);
        await tx.ExecuteAsync("UPDATE requests SET new_profile = @p WHERE uuid = @id", ct, ("@p", Sql.Text(p.Uuid)), ("@id", Sql.Text(requestId))).ConfigureAwait(false);
        foreach (var certificate in start.Certificates)
        {
            await SqlCertificateStore.InsertAsync(tx, certificate, ct).ConfigureAwait(false);
        }

        foreach (var key in start.ArchivedKeys)
        {
            await tx.ExecuteAsync("INSERT INTO archived_keys (serial, value) VALUES (@s, @v)", ct, ("@s", key.SerialHex.ToUpperInvariant()), ("@v", key.Sealed)).ConfigureAwait(false);
        }
    }

    private static async Task ApplyEffectAsync(DbTransaction tx, RequestChange change, CancellationToken ct)
    {
        var id = Sql.Text(change.Id);
        switch (change.Effect)
        {
            case ExecutionEffect.Finalize:
                await tx.ExecuteAsync("UPDATE profiles SET status = @active, version = version + 1 WHERE request_uuid = @r AND status = @new", ct,
                    ("@active", (int)ProfileStatus.Active), ("@r", id), ("@new", (int)ProfileStatus.New)).ConfigureAwait(false);
                await tx.ExecuteAsync("UPDATE certificates SET status = @current WHERE request_uuid = @r AND status = @issued", ct,
                    ("@current", (int)CertificateStatus.Current), ("@r", id), ("@issued", (int)CertificateStatus.Issued)).ConfigureAwait(false);
                break;
            case ExecutionEffect.Undo:
                // RFC 5280 reason 5: cessationOfOperation (SPEC §4).
                await tx.ExecuteAsync(
                    "UPDATE certificates SET status = @revoked, revoked_at = @at, revocation_reason = 5 WHERE request_uuid = @r AND status = @issued", ct,
                    ("@revoked", (int)CertificateStatus.Revoked), ("@at", Sql.Ticks(change.Completed ?? DateTimeOffset.UtcNow)), ("@r", id), ("@issued", (int)CertificateStatus.Issued)).ConfigureAwait(false);
                await tx.ExecuteAsync("UPDATE profiles SET status = @retired, version = version + 1 WHERE request_uuid = @r AND status = @new", ct,
                    ("@retired", (int)ProfileStatus.Retired), ("@r", id), ("@new", (int)ProfileStatus.New)).ConfigureAwait(false);
                break;
            default:
                break;
        }
    }

    public async Task<IReadOnlyList<StoredRequest>> ListAsync(RequestQuery query, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        await using var conn = await _db.OpenReadAsync(ct).ConfigureAwait(false);

        // 1. One ordered index range scan per SID of the caller's token, each stopping at the limit.
        var filter = (query.Status is null ? "" : " AND r.status = @st") + (query.TargetUser is null ? "" : " AND r.target = @tu");
        var join = filter.Length == 0 ? "" : " JOIN requests r ON r.seq = rr.seq";
        var seqs = new SortedSet<long>();
        foreach (var sid in query.ReaderSids)
        {
            await using var cmd = conn.Command(
                $"SELECT rr.seq FROM request_readers rr{join} WHERE rr.sid = @sid AND rr.seq > @after{filter} ORDER BY rr.seq LIMIT @limit",
                ("@sid", sid.Value), ("@after", query.After), ("@limit", query.Limit),
                ("@st", query.Status is { } st ? (int)st : null), ("@tu", query.TargetUser is { } tu ? Sql.Text(tu) : null));
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                seqs.Add(r.GetInt64(0));
            }
        }

        // 2. The first `limit` of their union, fetched in one query.
        var wanted = seqs.Take(query.Limit).ToArray();
        if (wanted.Length == 0)
        {
            return [];
        }

        var names = wanted.Select((_, i) => $"@s{i}").ToArray();
        await using var fetch = conn.Command(
            $"SELECT {Columns} FROM requests WHERE seq IN ({string.Join(',', names)}) ORDER BY seq",
            [.. wanted.Select((s, i) => (names[i], (object?)s))]);
        await using var rows = await fetch.ExecuteReaderAsync(ct).ConfigureAwait(false);
        var list = new List<StoredRequest>(wanted.Length);
        while (await rows.ReadAsync(ct).ConfigureAwait(false))
        {
            list.Add(Read(rows));
        }

        return list;
    }

    private static StoredRequest Read(DbDataReader r) => new(r.GetInt64(0), new CmRequest
    {
        Uuid = r.Id(1),
        RequestType = (RequestType)r.GetInt32(2),
        Status = (RequestStatus)r.GetInt32(3),
        Flags = (RequestFlags)r.GetInt32(4),
        DataCollection = JsonSerializer.Deserialize<List<DataItem>>(r.GetString(5), Json) ?? [],
        DataCollectionFlags = r.GetInt32(6),
        OriginatorUserUuid = r.Id(7),
        TargetUserUuid = r.Id(8),
        Submitted = Sql.Time(r.GetInt64(9)),
        Completed = r.IsDBNull(10) ? null : Sql.Time(r.GetInt64(10)),
        NewProfileUuid = r.Id(11),
        OldProfileUuid = r.Id(12),
        NewSmartcardUuid = r.Id(13),
        OldSmartcardUuid = r.Id(14),
        Priority = r.GetInt32(15),
        Comment = r.GetString(16),
        ProfileTemplateUuid = r.Id(17),
        SecurityDescriptor = r.GetString(18),
        IsDataCollectionComplete = r.GetInt32(19) != 0,
        ApprovalsNeeded = r.GetInt32(20),
        Votes = JsonSerializer.Deserialize<List<ApprovalVote>>(r.GetString(21), Json) ?? [],
        Version = r.GetInt64(22),
    });
}
