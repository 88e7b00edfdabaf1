using System.Security.Cryptography;
using System.Text.Json;

namespace OpenCM.Cards.Emulator;

/// <summary>
/// The emulated card's state file (<c>opencm card emulate --state FILE</c>): the whole
/// <see cref="GidsCardState"/> as JSON, encrypted with AES-256-GCM under a random key kept
/// beside it in <c>FILE.key</c>; both are mode 0600, and the state is written atomically (a
/// temporary file, flushed, then renamed over the old one), so a crash leaves the old card or
/// the new one, never half of each. The key file beside the state only keeps the private keys,
/// the PIN and the admin key out of backups and greps of the state alone: whoever reads both
/// files has the card. It is a test and trial card (docs/security.md).
/// </summary>
public static class GidsStateFile
{
    private const int KeyLength = 32, NonceLength = 12, TagLength = 16;
    private static readonly byte[] Magic = "OCMGIDS1"u8.ToArray();

    /// <summary>The key file kept beside <paramref name="statePath"/>.</summary>
    public static string KeyPath(string statePath) => statePath + ".key";

    /// <summary>Reads the card saved at <paramref name="path"/>; throws <see cref="InvalidDataException"/> for a file that is not one, or whose key does not open it.</summary>
    public static GidsCardState Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var key = File.ReadAllBytes(KeyPath(path));
        var bytes = File.ReadAllBytes(path);
        if (key.Length != KeyLength || bytes.Length < Magic.Length + NonceLength + TagLength || !bytes.AsSpan(0, Magic.Length).SequenceEqual(Magic))
        {
            throw new InvalidDataException($"{path} is not an OpenCM GIDS card state (or {KeyPath(path)} is not its key).");
        }

        var nonce = bytes.AsSpan(Magic.Length, NonceLength);
        var tag = bytes.AsSpan(Magic.Length + NonceLength, TagLength);
        var cipher = bytes.AsSpan(Magic.Length + NonceLength + TagLength);
        var plain = new byte[cipher.Length];
        try
        {
            using var aes = new AesGcm(key, TagLength);
            aes.Decrypt(nonce, cipher, tag, plain, Magic);
            return JsonSerializer.Deserialize(plain, GidsStateJson.Default.GidsCardState)
                ?? throw new InvalidDataException($"{path} holds no card.");
        }
        catch (CryptographicException e)
        {
            throw new InvalidDataException($"{path} does not open with {KeyPath(path)}: a damaged file or another card's key.", e);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path} is not an OpenCM GIDS card state.", e);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plain);
            CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <summary>Writes <paramref name="state"/> to <paramref name="path"/> (and makes its key file the first time).</summary>
    public static void Save(string path, GidsCardState state)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(state);
        var keyPath = KeyPath(path);
        byte[] key;
        if (File.Exists(keyPath))
        {
            key = File.ReadAllBytes(keyPath);
            if (key.Length != KeyLength)
            {
                throw new InvalidDataException($"{keyPath} is not a card state key.");
            }
        }
        else
        {
            key = RandomNumberGenerator.GetBytes(KeyLength);
            WriteAtomically(keyPath, key);
        }

        var plain = JsonSerializer.SerializeToUtf8Bytes(state, GidsStateJson.Default.GidsCardState);
        try
        {
            var output = new byte[Magic.Length + NonceLength + TagLength + plain.Length];
            Magic.CopyTo(output, 0);
            var nonce = output.AsSpan(Magic.Length, NonceLength);
            RandomNumberGenerator.Fill(nonce);
            using (var aes = new AesGcm(key, TagLength))
            {
                aes.Encrypt(nonce, plain, output.AsSpan(Magic.Length + NonceLength + TagLength), output.AsSpan(Magic.Length + NonceLength, TagLength), Magic);
            }

            WriteAtomically(path, output);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plain);
            CryptographicOperations.ZeroMemory(key);
        }
    }

    private static void WriteAtomically(string path, byte[] bytes)
    {
        var full = Path.GetFullPath(path);
        var temporary = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Environment.ProcessId}.tmp");
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        try
        {
            using (var stream = new FileStream(temporary, options))
            {
                stream.Write(bytes);
                stream.Flush(flushToDisk: true);
            }

            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(temporary, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }

            File.Move(temporary, full, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }
}
