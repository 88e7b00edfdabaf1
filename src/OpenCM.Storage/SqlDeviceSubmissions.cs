using System.Data.Common;
using System.Text.Json;
using OpenCM.Application;
using OpenCM.Domain;

namespace OpenCM.Storage;

/// <summary>Device submissions in the table <c>device_submissions</c> (issue #24.1); written with their request by <see cref="SqlUnitOfWork"/>.</summary>
public sealed class SqlDeviceSubmissions : IDeviceSubmissions
{
    private const string Columns = "request_uuid, protocol, caller_uuid, client_reference, csr, names, created";
    // Kinds by name ("Dns"), so that the column reads without the enum's numbering.
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.General) { Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() } };
    private readonly StorageProvider _db;

    public SqlDeviceSubmissions(StorageProvider db) => _db = db;

    public Task<DeviceSubmission?> FindAsync(Guid requestUuid, CancellationToken ct = default) =>
        _db.ReadAsync((conn, c) => conn.FirstRowAsync($"SELECT {Columns} FROM device_submissions WHERE request_uuid = @r", Read, c, ("@r", Sql.Text(requestUuid))), ct);

    public Task<DeviceSubmission?> FindByReferenceAsync(EnrollmentProtocol protocol, Guid caller, string clientReference, CancellationToken ct = default) =>
        _db.ReadAsync((conn, c) => conn.FirstRowAsync(
            $"SELECT {Columns} FROM device_submissions WHERE protocol = @p AND caller_uuid = @c AND client_reference = @ref", Read, c,
            ("@p", EnrollmentProtocols.Name(protocol)), ("@c", Sql.Text(caller)), ("@ref", clientReference)), ct);

    internal static string SerializeNames(IReadOnlyList<RequestedName> names) => JsonSerializer.Serialize(names, Json);

    private static DeviceSubmission Read(DbDataReader r) => new(
        r.Id(0),
        EnrollmentProtocols.TryParse(r.GetString(1), out var protocol) ? protocol : throw new InvalidDataException($"Unknown protocol '{r.GetString(1)}' in device_submissions."),
        r.Id(2),
        r.IsDBNull(3) ? null : r.GetString(3),
        r.GetString(4),
        JsonSerializer.Deserialize<List<RequestedName>>(r.GetString(5), Json) ?? [],
        Sql.Time(r.GetInt64(6)));
}
