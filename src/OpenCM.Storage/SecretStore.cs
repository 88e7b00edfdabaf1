using System.Security.Cryptography;
using System.Text;

namespace OpenCM.Storage;

/// <summary>
/// Secrets at rest (signing keys and the like): AES-256-GCM under the installation's master key,
/// which lives outside the database (<see cref="MasterKey"/>), so a copy of the database alone
/// reveals no secret. The secret's name is bound as associated data, so a ciphertext cannot be
/// moved to another slot.
/// </summary>
public sealed class SecretStore
{
    private readonly StorageProvider _db;
    private readonly MasterKeySealer _sealer;
    private readonly TimeProvider _clock;

    public SecretStore(StorageProvider db, MasterKey masterKey, TimeProvider clock)
    {
        _db = db;
        _clock = clock;
        _sealer = new MasterKeySealer(masterKey);
    }

    /// <summary>The secret named <paramref name="name"/>; made by <paramref name="create"/> and stored when absent.</summary>
    public async Task<byte[]> GetOrCreateAsync(string name, Func<byte[]> create, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(create);
        if (await FindAsync(name, ct).ConfigureAwait(false) is { } existing)
        {
            return existing;
        }

        var fresh = create();
        var sealedValue = _sealer.Seal(name, fresh);
        CryptographicOperations.ZeroMemory(fresh);

        // Another process (or node) may create the same secret at once: the first insert wins
        // and everybody reads that one.
        await _db.WriteAsync(async (tx, c) => await tx.ExecuteAsync(
            "INSERT INTO secrets (name, value, created) VALUES (@n, @v, @t) ON CONFLICT (name) DO NOTHING", c,
            ("@n", name), ("@v", sealedValue), ("@t", _clock.GetUtcNow().UtcTicks)).ConfigureAwait(false), ct).ConfigureAwait(false);
        return await FindAsync(name, ct).ConfigureAwait(false) ?? throw new InvalidOperationException($"The secret '{name}' was not stored.");
    }

    /// <summary>The secret named <paramref name="name"/>, or null when there is none.</summary>
    public async Task<byte[]?> FindAsync(string name, CancellationToken ct = default)
    {
        // On the provider's read path, so a database that stops answering mid-read is Unavailable (503), not an untyped error.
        return await _db.ReadAsync<byte[]?>(async (conn, c) =>
        {
            await using var cmd = conn.Command("SELECT value FROM secrets WHERE name = @n", ("@n", name));
            return await cmd.ExecuteScalarAsync(c).ConfigureAwait(false) is string stored ? _sealer.Open(name, stored) : null;
        }, ct).ConfigureAwait(false);
    }
}

/// <summary>
/// AES-256-GCM under the master key; the context (a secret's name, an archived key's serial) is
/// bound as associated data, so a sealed value cannot be moved to another slot.
/// </summary>
public sealed class MasterKeySealer : OpenCM.Application.IKeySealer
{
    private const int NonceSize = 12;
    private const int TagSize = 16;
    private readonly byte[] _key;

    public MasterKeySealer(MasterKey masterKey)
    {
        ArgumentNullException.ThrowIfNull(masterKey);
        _key = masterKey.Bytes;
    }

    public string Seal(string context, byte[] plaintext)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(plaintext);
        var blob = new byte[NonceSize + plaintext.Length + TagSize];
        var nonce = blob.AsSpan(0, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(_key, TagSize);
        aes.Encrypt(nonce, plaintext, blob.AsSpan(NonceSize, plaintext.Length), blob.AsSpan(NonceSize + plaintext.Length), Encoding.UTF8.GetBytes(context));
        return Convert.ToBase64String(blob);
    }

    public byte[] Open(string context, string sealedValue)
    {
        ArgumentNullException.ThrowIfNull(context);
        var blob = Convert.FromBase64String(sealedValue);
        var plaintext = new byte[blob.Length - NonceSize - TagSize];
        using var aes = new AesGcm(_key, TagSize);
        try
        {
            aes.Decrypt(blob.AsSpan(0, NonceSize), blob.AsSpan(NonceSize, plaintext.Length), blob.AsSpan(NonceSize + plaintext.Length), plaintext, Encoding.UTF8.GetBytes(context));
        }
        catch (AuthenticationTagMismatchException ex)
        {
            throw new MasterKeyException($"The secret '{context}' cannot be opened: the master key does not match this database.", ex);
        }

        return plaintext;
    }
}

/// <summary>
/// The 256-bit master key that protects secrets at rest. Kept in a file of its own (mode 0600)
/// in the data directory, or given base64-encoded by configuration (<c>OpenCM:MasterKey</c>) so
/// that it can live in a secret manager instead.
/// </summary>
public sealed class MasterKey
{
    private MasterKey(byte[] bytes) => Bytes = bytes;

    internal byte[] Bytes { get; }

    /// <summary>The audit chain's key (decision 0010): derived from this key, never stored.</summary>
    public OpenCM.Application.AuditChainKey AuditChainKey() => OpenCM.Application.AuditChainKey.Derive(Bytes);

    /// <summary>
    /// A 32-byte key for one purpose, derived from this key with HKDF-SHA256 and <paramref name="label"/>
    /// as its info (e.g. ACME's nonce stamps): every node with the master key derives the same, and none is stored.
    /// </summary>
    public byte[] DeriveKey(string label)
    {
        ArgumentException.ThrowIfNullOrEmpty(label);
        var key = new byte[32];
        System.Security.Cryptography.HKDF.DeriveKey(System.Security.Cryptography.HashAlgorithmName.SHA256, Bytes, key, salt: [], info: System.Text.Encoding.ASCII.GetBytes(label));
        return key;
    }

    public static MasterKey FromBase64(string base64)
    {
        var bytes = Convert.FromBase64String(base64);
        return bytes.Length == 32 ? new MasterKey(bytes) : throw new MasterKeyException("The master key must be 32 bytes.");
    }

    /// <summary>Reads the key file; a missing one is refused, never created.</summary>
    public static MasterKey LoadExisting(string path) => File.Exists(path)
        ? FromBase64(File.ReadAllText(path).Trim())
        : throw new MasterKeyMissingException(Path.GetFullPath(path));

    /// <summary>Reads the key file, creating it (owner read/write only) when it does not exist.</summary>
    public static MasterKey LoadOrCreate(string path)
    {
        if (!File.Exists(path))
        {
            var fresh = RandomNumberGenerator.GetBytes(32);
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }

            try
            {
                using var stream = new FileStream(path, options);
                using var writer = new StreamWriter(stream);
                writer.Write(Convert.ToBase64String(fresh));
            }
            catch (IOException) when (File.Exists(path))
            {
                // Another process created it first; use theirs.
            }
        }

        return FromBase64(File.ReadAllText(path).Trim());
    }
}

/// <summary>The master key given is unusable, or is not the one this database's secrets were sealed under.</summary>
public sealed class MasterKeyException : CryptographicException
{
    public MasterKeyException(string message)
        : base(message)
    {
    }

    public MasterKeyException()
    {
    }

    public MasterKeyException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// There is no master key file where one was looked for, and this process may not create one
/// (only initializing an installation does, issue #23.7); <see cref="Path"/> is the file's full path.
/// </summary>
public sealed class MasterKeyMissingException : IOException
{
    public MasterKeyMissingException(string path)
        : base($"no master key at '{path}'")
    {
        Path = path;
    }

    public MasterKeyMissingException()
    {
    }

    public MasterKeyMissingException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>The full path of the missing key file.</summary>
    public string Path { get; } = "";
}
