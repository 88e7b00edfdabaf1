using System.Text.Json;
using OpenCM.Application;
using OpenCM.Domain;

namespace OpenCM.Storage;

/// <summary>Profile templates in SQL, each stored as a JSON document with its version.</summary>
public sealed class SqlTemplateStore : ITemplateStore
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.General);
    private readonly StorageProvider _db;

    public SqlTemplateStore(StorageProvider db) => _db = db;

    public async Task<IReadOnlyList<ProfileTemplate>> ListAsync(CancellationToken ct = default)
    {
        await using var conn = await _db.OpenReadAsync(ct).ConfigureAwait(false);
        await using var cmd = conn.Command("SELECT body, version FROM templates ORDER BY name");
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        var list = new List<ProfileTemplate>();
        while (await r.ReadAsync(ct).ConfigureAwait(false))
        {
            list.Add(Read(r.GetString(0), r.GetInt32(1)));
        }

        return list;
    }

    // Read by every request creation and certificatedata: on a lent connection with the statement kept prepared.
    public Task<ProfileTemplate?> FindAsync(Guid id, CancellationToken ct = default) =>
        _db.ReadAsync((conn, c) => conn.FirstRowAsync("SELECT body, version FROM templates WHERE uuid = @u", r => Read(r.GetString(0), r.GetInt32(1)), c, ("@u", Sql.Text(id))), ct);

    public Task<ProfileTemplate> SaveAsync(ProfileTemplate template, AuditEvent audit, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(template);
        return _db.WriteAsync(async (tx, c) =>
        {
            await using (var clash = tx.Command("SELECT uuid FROM templates WHERE name_key = @n AND uuid <> @u",
                ("@n", template.Name.ToUpperInvariant()), ("@u", Sql.Text(template.Uuid))))
            {
                if (await clash.ExecuteScalarAsync(c).ConfigureAwait(false) is string other)
                {
                    throw new OpenCmException(DomainError.Validation("name", $"Another template ({other}) is already named '{template.Name}'."));
                }
            }

            var current = await tx.ScalarAsync<long>("SELECT COALESCE(MAX(version), 0) FROM templates WHERE uuid = @u", c, ("@u", Sql.Text(template.Uuid))).ConfigureAwait(false);
            var saved = template with { Version = (int)current + 1 };
            var body = JsonSerializer.Serialize(saved, Json);

            // Compare-and-set on the version read above: on PostgreSQL another node may save the
            // same template meanwhile (read committed), and one version number must never name two
            // bodies (profiles record the version they were issued under). Zero rows is a conflict.
            (string Name, object? Value)[] values = [("@u", Sql.Text(saved.Uuid)), ("@n", saved.Name), ("@nk", saved.Name.ToUpperInvariant()),
                ("@v", saved.Version), ("@b", body), ("@t", Sql.Ticks(audit.Time)), ("@current", current)];
            var written = current == 0
                ? await tx.ExecuteAsync("INSERT INTO templates (uuid, name, name_key, version, body, updated) VALUES (@u, @n, @nk, @v, @b, @t) ON CONFLICT (uuid) DO NOTHING",
                    c, values[..^1]).ConfigureAwait(false)
                : await tx.ExecuteAsync("UPDATE templates SET name = @n, name_key = @nk, version = @v, body = @b, updated = @t WHERE uuid = @u AND version = @current",
                    c, values).ConfigureAwait(false);
            if (written != 1)
            {
                throw new OpenCmException(new DomainError(ErrorKind.Conflict, $"The template '{template.Name}' was changed by another server meanwhile; read it again and retry."));
            }

            await AuditAppender.AppendAsync(tx, audit with { Detail = $"{audit.Detail} version={saved.Version}" }, c).ConfigureAwait(false);
            return saved;
        }, ct);
    }

    private static ProfileTemplate Read(string body, int version) =>
        (JsonSerializer.Deserialize<ProfileTemplate>(body, Json) ?? throw new InvalidDataException("A stored template is empty.")) with { Version = version };
}
