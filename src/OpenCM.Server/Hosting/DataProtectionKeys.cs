using System.Xml.Linq;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.AspNetCore.DataProtection.Repositories;
using Microsoft.AspNetCore.DataProtection.XmlEncryption;
using Microsoft.Extensions.Options;
using OpenCM.Storage;

namespace OpenCM.Server.Hosting;

/// <summary>
/// ASP.NET Core's data-protection keys (issue #7.9): kept in the data directory
/// (<c>dataprotection-keys</c>, beside the database, owner-only) and encrypted at rest under the
/// master key, instead of in clear under the service account's profile.
/// </summary>
internal static class DataProtectionKeys
{
    public const string Folder = "dataprotection-keys";

    public static IServiceCollection AddOpenCmDataProtection(this IServiceCollection services)
    {
        services.AddDataProtection().SetApplicationName("OpenCM");
        services.AddSingleton<IConfigureOptions<KeyManagementOptions>>(sp => new ConfigureOptions<KeyManagementOptions>(o =>
        {
            var folder = Directory.CreateDirectory(Path.Combine(Path.GetFullPath(sp.GetRequiredService<DataOptions>().DataDirectory), Folder));
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(folder.FullName, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }

            o.XmlRepository = new FileSystemXmlRepository(folder, sp.GetRequiredService<ILoggerFactory>());
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
