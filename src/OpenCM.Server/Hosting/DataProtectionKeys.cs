using System.Xml.Linq;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.AspNetCore.DataProtection.Repositories;
using Microsoft.AspNetCore.DataProtection.XmlEncryption;
using Microsoft.Extensions.Options;
using OpenCM.Application;
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
            o.XmlRepository = new StoredXmlRepository(sp.GetRequiredService<IDataProtectionKeyStore>());
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
/// ASP.NET Core's key repository over the storage port <see cref="IDataProtectionKeyStore"/>
/// (the chosen provider keeps the ring). The elements arrive sealed by
/// <see cref="MasterKeyXmlEncryptor"/>; this only stores them.
/// </summary>
internal sealed class StoredXmlRepository : IXmlRepository
{
    private readonly IDataProtectionKeyStore _store;

    public StoredXmlRepository(IDataProtectionKeyStore store) => _store = store;

    public IReadOnlyCollection<XElement> GetAllElements() => [.. _store.All().Select(xml => XElement.Parse(xml))];

    public void StoreElement(XElement element, string friendlyName)
    {
        ArgumentNullException.ThrowIfNull(element);
        _store.Store(string.IsNullOrEmpty(friendlyName) ? Guid.NewGuid().ToString("D") : friendlyName, element.ToString(SaveOptions.DisableFormatting));
    }
}
