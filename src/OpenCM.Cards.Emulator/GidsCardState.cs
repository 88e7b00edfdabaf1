using System.Text.Json.Serialization;

namespace OpenCM.Cards.Emulator;

/// <summary>
/// Everything a GIDS card keeps across power cycles: its files and data objects, its private
/// keys, the user PIN and its tries, the admin key, and whether it has left its initialization
/// (creation) state. What a card forgets on reset (authentications, the selected file, the
/// security environment) is not here. Holds secrets: written only through
/// <see cref="GidsStateFile"/>, which encrypts it.
/// </summary>
public sealed class GidsCardState
{
    /// <summary>The format's version; a file of another version is refused, not guessed at.</summary>
    public int Version { get; set; } = 1;

    /// <summary>Whether the application was activated (SELECT 3FFF, ACTIVATE FILE): access rules apply from then on.</summary>
    public bool Operational { get; set; }

    /// <summary>The user PIN (reference 80), as the card compares it; null before one is set.</summary>
    public byte[]? Pin { get; set; }

    public int PinTriesLeft { get; set; }

    /// <summary>The 24-byte 3DES admin key (reference 80); null before one is set.</summary>
    public byte[]? AdminKey { get; set; }

    public List<GidsFileState> Files { get; set; } = [];
}

/// <summary>One file of the application: a BER-TLV data object file (type 0x39) or a key file (0x18).</summary>
public sealed class GidsFileState
{
    public int Id { get; set; }

    public byte Type { get; set; }

    /// <summary>The FCP template the file was created with (SELECT returns it).</summary>
    public byte[] Fcp { get; set; } = [];

    /// <summary>Security condition bytes (ISO 7816-4 compact format) for PUT DATA and GET DATA of a data object file.</summary>
    public byte PutCondition { get; set; }

    public byte GetCondition { get; set; }

    public bool Active { get; set; }

    public List<GidsDataObjectState> Objects { get; set; } = [];

    /// <summary>A key file's private key: the GIDS algorithm identifier and the key as PKCS#8 DER.</summary>
    public byte KeyAlgorithm { get; set; }

    public byte[]? PrivateKey { get; set; }
}

/// <summary>One data object: its tag and value.</summary>
public sealed class GidsDataObjectState
{
    public int Tag { get; set; }

    public byte[] Value { get; set; } = [];
}

[JsonSerializable(typeof(GidsCardState))]
[JsonSourceGenerationOptions(WriteIndented = false)]
internal sealed partial class GidsStateJson : JsonSerializerContext;
