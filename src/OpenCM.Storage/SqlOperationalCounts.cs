using OpenCM.Application;
using OpenCM.Domain;

namespace OpenCM.Storage;

/// <summary>
/// The operator's counts in SQL, the same statements on every provider. Each filter repeats its
/// partial index's predicate word for word (migration 0023 on SQLite, 0017 on PostgreSQL), so
/// SQLite's planner, which matches partial indexes by their terms, uses it too.
/// </summary>
public sealed class SqlOperationalCounts : IOperationalCounts
{
    // Approved (3), Pending (16), Executing (18): requests_open's predicate.
    private const string OpenRequests = "status IN (3, 16, 18)";

    // Issued (0), Current (1): certificates_live_expiry's predicate.
    private const string LiveCertificates = "status IN (0, 1)";

    private readonly StorageProvider _db;

    public SqlOperationalCounts(StorageProvider db) => _db = db;

    public Task<IReadOnlyDictionary<RequestStatus, long>> CountOpenRequestsAsync(CancellationToken ct = default) =>
        _db.ReadAsync<IReadOnlyDictionary<RequestStatus, long>>(async (conn, c) =>
        {
            await using var cmd = conn.Command($"SELECT status, COUNT(*) FROM requests WHERE {OpenRequests} GROUP BY status");
            await using var r = await cmd.ExecuteReaderAsync(c).ConfigureAwait(false);
            var counts = new Dictionary<RequestStatus, long>();
            while (await r.ReadAsync(c).ConfigureAwait(false))
            {
                counts[(RequestStatus)r.GetInt32(0)] = r.GetInt64(1);
            }

            return counts;
        }, ct);

    public Task<long> CountCertificatesExpiringAsync(DateTimeOffset from, DateTimeOffset until, CancellationToken ct = default) =>
        _db.ReadAsync(async (conn, c) =>
        {
            await using var cmd = conn.Command($"SELECT COUNT(*) FROM certificates WHERE {LiveCertificates} AND not_after >= @from AND not_after < @until",
                ("@from", Sql.Ticks(from)), ("@until", Sql.Ticks(until)));
            return Convert.ToInt64(await cmd.ExecuteScalarAsync(c).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
        }, ct);
}
