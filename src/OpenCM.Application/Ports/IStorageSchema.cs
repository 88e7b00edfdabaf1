namespace OpenCM.Application;

/// <summary>Whether storage can serve: reachable, and its schema current.</summary>
/// <param name="IsReady">The schema is current: the node may serve.</param>
/// <param name="Detail">What an operator reads (never a password, a path the driver named, or a host).</param>
/// <param name="IsReachable">False when the database did not answer, or holds no OpenCM schema at all.</param>
public sealed record StorageStatus(bool IsReady, string Detail, bool IsReachable = true);

/// <summary>The database's schema and reachability, for start-up, <c>opencm</c> commands and readiness checks.</summary>
public interface IStorageSchema
{
    /// <summary>Where the data lives, for operators (a path or a host and database; never a password).</summary>
    string Location { get; }

    /// <summary>Applies the migrations that have not run yet; returns how many ran.</summary>
    Task<int> MigrateAsync(CancellationToken ct = default);

    /// <summary>
    /// Keys the audit chain if it holds events but no keyed checkpoint yet (decision 0010): at
    /// start, after migrating, with the master key the process serves with. Returns whether it
    /// appended the checkpoint. Migrating alone never does (the owner may migrate without the key).
    /// </summary>
    Task<bool> KeyAuditChainAsync(CancellationToken ct = default);

    /// <summary>Ready when the database answers and no migration is pending.</summary>
    Task<StorageStatus> CheckAsync(CancellationToken ct = default);
}
