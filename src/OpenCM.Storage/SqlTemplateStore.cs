using System.Text.Json;
using OpenCM.Application;
using OpenCM.Domain;

namespace OpenCM.Storage;

/// <summary>Profile templates in SQL, each stored as a JSON document with its version; written in a unit of work (<see cref="ITemplateWrites"/>).</summary>
public sealed class SqlTemplateStore : ITemplateStore
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.General);
    private readonly StorageProvider _db;

    public SqlTemplateStore(StorageProvider db) => _db = db;

    public async Task<IReadOnlyList<ProfileTemplate>> ListAsync(CancellationToken ct = default)
    {
        // On the provider's read path, so a database that stops answering mid-read is Unavailable (503), not an untyped error.
        return await _db.ReadAsync<IReadOnlyList<ProfileTemplate>>(async (conn, c) =>
        {
            await using var cmd = conn.Command("SELECT body, version FROM templates ORDER BY name");
            await using var r = await cmd.ExecuteReaderAsync(c).ConfigureAwait(false);
            var list = new List<ProfileTemplate>();
            while (await r.ReadAsync(c).ConfigureAwait(false))
            {
                list.Add(Read(r.GetString(0), r.GetInt32(1)));
            }

            return list;
        }, ct).ConfigureAwait(false);
    }

    // Read by every request creation and certificatedata: on a lent connection with the statement kept prepared.
    public Task<ProfileTemplate?> FindAsync(Guid id, CancellationToken ct = default) =>
        _db.ReadAsync((conn, c) => conn.FirstRowAsync("SELECT body, version FROM templates WHERE uuid = @u", r => Read(r.GetString(0), r.GetInt32(1)), c, ("@u", Sql.Text(id))), ct);

    // Names are unique regardless of case (the unique index on name_key).
    internal static string Key(string name) => name.ToUpperInvariant();

    // The version is a column of its own; the body is the rest of the template.
    internal static string Serialize(ProfileTemplate template) => JsonSerializer.Serialize(template, Json);

    private static ProfileTemplate Read(string body, int version) =>
        (JsonSerializer.Deserialize<ProfileTemplate>(body, Json) ?? throw new InvalidDataException("A stored template is empty.")) with { Version = version };
}
