using System.Xml.Linq;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.AspNetCore.DataProtection.Repositories;
using Microsoft.AspNetCore.DataProtection.XmlEncryption;
using Microsoft.Extensions.Options;
using OpenCM.Storage;

namespace OpenCM.Server.Hosting;

/// <summary>
/// ASP.NET Core's data-protection keys (the portal's session and antiforgery cookies): sealed
/// under the master key (issue #7.9) and kept in the database (issue #9), so that every node of a
/// cluster reads one key ring and a session begun on one node is honoured by the others.
/// </summary>
internal static class DataProtectionKeys
{
    public static IServiceCollection AddOpenCmDataProtection(this IServiceCollection services)
    {
        services.AddDataProtection().SetApplicationName("OpenCM");
        services.AddSingleton<IConfigureOptions<KeyManagementOptions>>(sp => new ConfigureOptions<KeyManagementOptions>(o =>
        {
            o.XmlRepository = new SqlXmlRepository(sp.GetRequiredService<StorageProvider>());
            o.XmlEncryptor = new MasterKeyXmlEncryptor(sp.GetRequiredService<IMasterKeyProvider>());
        }));
        return services;
    }
}

/// <summary>Seals a data-protection key's XML under the master key (AES-256-GCM, see MasterKeySealer).</summary>
internal sealed class MasterKeyXmlEncryptor : IXmlEncryptor
{
    public const string Context = "dataprotection-key";
    private readonly MasterKeySealer _sealer;

    public MasterKeyXmlEncryptor(IMasterKeyProvider keys) => _sealer = new MasterKeySealer(keys.Load());

    public EncryptedXmlInfo Encrypt(XElement plaintextElement)
    {
        ArgumentNullException.ThrowIfNull(plaintextElement);
        var sealedValue = _sealer.Seal(Context, System.Text.Encoding.UTF8.GetBytes(plaintextElement.ToString(SaveOptions.DisableFormatting)));
        return new EncryptedXmlInfo(new XElement("sealedByMasterKey", sealedValue), typeof(MasterKeyXmlDecryptor));
    }
}

/// <summary>Opens what <see cref="MasterKeyXmlEncryptor"/> sealed; made by the data-protection system from the service provider.</summary>
internal sealed class MasterKeyXmlDecryptor : IXmlDecryptor
{
    private readonly MasterKeySealer _sealer;

    public MasterKeyXmlDecryptor(IServiceProvider services) => _sealer = new MasterKeySealer(services.GetRequiredService<IMasterKeyProvider>().Load());

    public XElement Decrypt(XElement encryptedElement)
    {
        ArgumentNullException.ThrowIfNull(encryptedElement);
        var plaintext = _sealer.Open(MasterKeyXmlEncryptor.Context, encryptedElement.Value);
        try
        {
            return XElement.Parse(System.Text.Encoding.UTF8.GetString(plaintext));
        }
        finally
        {
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(plaintext);
        }
    }
}

/// <summary>
/// The key ring in the table <c>dataprotection_keys</c>. ASP.NET Core calls this synchronously
/// (at start, and when it refreshes the ring, about daily), so it uses synchronous ADO.NET on a
/// connection of its own, as ASP.NET Core's Entity Framework repository does. The elements arrive
/// sealed by <see cref="MasterKeyXmlEncryptor"/>; this only stores them.
/// </summary>
internal sealed class SqlXmlRepository : IXmlRepository
{
    private readonly StorageProvider _db;

    public SqlXmlRepository(StorageProvider db) => _db = db;

    public IReadOnlyCollection<XElement> GetAllElements()
    {
        using var conn = _db.OpenSync();
        using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT xml FROM dataprotection_keys ORDER BY name";
        using var r = cmd.ExecuteReader();
        var elements = new List<XElement>();
        while (r.Read())
        {
            elements.Add(XElement.Parse(r.GetString(0)));
        }

        return elements;
    }

    public void StoreElement(XElement element, string friendlyName)
    {
        ArgumentNullException.ThrowIfNull(element);
        using var conn = _db.OpenSync();
        using var cmd = conn.CreateCommand();
        cmd.CommandText = "INSERT INTO dataprotection_keys (name, xml) VALUES (@n, @x) ON CONFLICT (name) DO NOTHING";
        Add(cmd, "@n", string.IsNullOrEmpty(friendlyName) ? Guid.NewGuid().ToString("D") : friendlyName);
        Add(cmd, "@x", element.ToString(SaveOptions.DisableFormatting));
        cmd.ExecuteNonQuery();
    }

    private static void Add(System.Data.Common.DbCommand cmd, string name, string value)
    {
        var p = cmd.CreateParameter();
        p.ParameterName = name;
        p.Value = value;
        cmd.Parameters.Add(p);
    }
}
