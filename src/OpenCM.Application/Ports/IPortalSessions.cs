namespace OpenCM.Application;

/// <summary>A portal session as the server keeps it: whose, and since when (for the absolute lifetime).</summary>
public sealed record PortalSession(Guid User, DateTimeOffset Started);

/// <summary>
/// Portal sessions kept on the server (issue #18.6), so that they end there: a cookie names its
/// session by a random id (stored only as its SHA-256), and a cookie whose session is gone is
/// refused, on every node sharing the database. Sign-out ends one; a password change ends all of
/// the user's.
/// </summary>
public interface IPortalSessions
{
    /// <summary>Records a new session under the hash of its id; also forgets sessions started before <paramref name="forgetBefore"/>.</summary>
    Task StartAsync(string idHash, Guid user, DateTimeOffset started, DateTimeOffset forgetBefore, CancellationToken ct = default);

    /// <summary>The live session with that id hash, or null when it ended or never was.</summary>
    Task<PortalSession?> FindAsync(string idHash, CancellationToken ct = default);

    /// <summary>Ends one session (sign-out).</summary>
    Task EndAsync(string idHash, CancellationToken ct = default);

    /// <summary>Ends every session of <paramref name="user"/> (a password change).</summary>
    Task EndAllAsync(Guid user, CancellationToken ct = default);
}
