using OpenCM.Application;

namespace OpenCM.Storage;

/// <summary>Portal sessions in the table <c>portal_sessions</c> (issue #18.6): one row per live session, keyed by the SHA-256 of its id.</summary>
public sealed class SqlPortalSessions : IPortalSessions
{
    private readonly StorageProvider _db;

    public SqlPortalSessions(StorageProvider db) => _db = db;

    public Task StartAsync(string idHash, Guid user, DateTimeOffset started, DateTimeOffset forgetBefore, CancellationToken ct = default) =>
        _db.WriteAsync(async (tx, c) =>
        {
            // Sessions past any lifetime are forgotten as new ones start: the table holds live sessions only.
            await tx.ExecuteAsync("DELETE FROM portal_sessions WHERE started < @before", c, ("@before", Sql.Ticks(forgetBefore))).ConfigureAwait(false);
            return await tx.ExecuteAsync("INSERT INTO portal_sessions (id_hash, user_uuid, started) VALUES (@id, @user, @started)", c,
                ("@id", idHash), ("@user", Sql.Text(user)), ("@started", Sql.Ticks(started))).ConfigureAwait(false);
        }, ct);

    public Task<PortalSession?> FindAsync(string idHash, CancellationToken ct = default) =>
        _db.ReadAsync((conn, c) => conn.FirstRowAsync("SELECT user_uuid, started FROM portal_sessions WHERE id_hash = @id",
            r => new PortalSession(Guid.Parse(r.GetString(0)), Sql.Time(r.GetInt64(1))), c, ("@id", idHash)), ct);

    public Task EndAsync(string idHash, CancellationToken ct = default) =>
        _db.WriteAsync((tx, c) => tx.ExecuteAsync("DELETE FROM portal_sessions WHERE id_hash = @id", c, ("@id", idHash)), ct);

    public Task EndAllAsync(Guid user, CancellationToken ct = default) =>
        _db.WriteAsync((tx, c) => tx.ExecuteAsync("DELETE FROM portal_sessions WHERE user_uuid = @user", c, ("@user", Sql.Text(user))), ct);
}
