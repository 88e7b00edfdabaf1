namespace OpenCM.Storage;

/// <summary>
/// Where the master key that protects secrets at rest comes from (SPEC §7): a file beside the
/// data, configuration (a secret manager), later a KMS or HSM. Storage never decides which.
/// </summary>
public interface IMasterKeyProvider
{
    /// <summary>The key; the same on every call.</summary>
    MasterKey Load();
}

/// <summary>
/// The key in a file of its own (mode 0600). Only a process that initializes an installation
/// (<c>opencm init</c>, the server's first start) may create it (<paramref name="mayCreate"/>):
/// anything else given a missing file refuses (<see cref="MasterKeyMissingException"/>) rather
/// than writing a fresh key the database's secrets were never sealed under (issue #23.7).
/// </summary>
public sealed class FileMasterKeyProvider : IMasterKeyProvider
{
    private readonly Lazy<MasterKey> _key;

    public FileMasterKeyProvider(string path, bool mayCreate) =>
        _key = new(() => mayCreate ? MasterKey.LoadOrCreate(path) : MasterKey.LoadExisting(path));

    public MasterKey Load() => _key.Value;
}

/// <summary>The key given base64-encoded by configuration (<c>OpenCM:MasterKey</c>).</summary>
public sealed class ConfiguredMasterKeyProvider : IMasterKeyProvider
{
    private readonly Lazy<MasterKey> _key;

    public ConfiguredMasterKeyProvider(string base64) => _key = new(() => MasterKey.FromBase64(base64));

    public MasterKey Load() => _key.Value;
}
