using System.Data.Common;
using OpenCM.Application;

namespace OpenCM.Storage;

/// <summary>
/// The key ring in the table <c>dataprotection_keys</c>, on a connection of its own opened
/// synchronously (<see cref="StorageProvider.OpenSync"/>), as ASP.NET Core's Entity Framework
/// repository does. Writes commit on their own, beside the provider's writer.
/// </summary>
public sealed class SqlDataProtectionKeys : IDataProtectionKeyStore
{
    private readonly StorageProvider _db;

    public SqlDataProtectionKeys(StorageProvider db) => _db = db;

    public IReadOnlyList<string> All()
    {
        using var conn = _db.OpenSync();
        using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT xml FROM dataprotection_keys ORDER BY name";
        using var r = cmd.ExecuteReader();
        var elements = new List<string>();
        while (r.Read())
        {
            elements.Add(r.GetString(0));
        }

        return elements;
    }

    public void Store(string name, string xml)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(xml);
        using var conn = _db.OpenSync();
        using var cmd = conn.CreateCommand();
        cmd.CommandText = "INSERT INTO dataprotection_keys (name, xml) VALUES (@n, @x) ON CONFLICT (name) DO NOTHING";
        Add(cmd, "@n", name);
        Add(cmd, "@x", xml);
        cmd.ExecuteNonQuery();
    }

    private static void Add(DbCommand cmd, string name, string value)
    {
        var p = cmd.CreateParameter();
        p.ParameterName = name;
        p.Value = value;
        cmd.Parameters.Add(p);
    }
}
