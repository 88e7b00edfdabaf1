using System.Data.Common;
using OpenCM.Application;
using OpenCM.Domain;

namespace OpenCM.Storage;

/// <summary>Migrations and readiness of a SQL provider.</summary>
public sealed class SqlStorageSchema : IStorageSchema
{
    private readonly StorageProvider _db;
    private readonly TimeProvider _clock;

    public SqlStorageSchema(StorageProvider db, string location, TimeProvider clock)
    {
        _db = db;
        _clock = clock;
        Location = location;
    }

    public string Location { get; }

    public Task<int> MigrateAsync(CancellationToken ct = default) => _db.MigrateAsync(_clock, ct);

    /// <summary>
    /// The first start after the upgrade appends the checkpoint, in the audit itself, before
    /// anything else is audited; an empty chain is keyed by its first append instead, so that a
    /// database only migrated stays empty (the target of <c>opencm db copy</c>).
    /// </summary>
    public async Task<bool> KeyAuditChainAsync(CancellationToken ct = default)
    {
        var key = _db.AuditKey ?? throw new InvalidOperationException("The audit chain's key is not set (StorageProvider.AuditKey).");
        return await _db.WriteAsync((tx, c) => AuditAppender.CheckpointAsync(tx, key, _clock.GetUtcNow(), c), ct).ConfigureAwait(false) == 1;
    }

    public async Task<StorageStatus> CheckAsync(CancellationToken ct = default)
    {
        try
        {
            var pending = await _db.PendingMigrationsAsync(ct).ConfigureAwait(false);
            return pending == 0 ? new StorageStatus(true, "schema current") : new StorageStatus(false, $"{pending} migration(s) pending");
        }
        catch (Exception e) when (e is DbException or OpenCmException { Error.Kind: ErrorKind.Unavailable })
        {
            // What the driver said may name paths and hosts; the check says only that it failed.
            return new StorageStatus(false, "database unreachable or not initialized", IsReachable: false);
        }
    }
}
