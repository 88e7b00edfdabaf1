using System.Globalization;

namespace OpenCM.Authority.Pkcs11;

/// <summary>
/// Where the CA key lives when it is in an HSM (configuration section <c>Ca:Pkcs11</c>, issue #20).
/// The PIN comes from the environment (<c>Ca__Pkcs11__Pin</c>) or from <see cref="PinFile"/>, never
/// from a command line or a settings file, and it is never printed: <see cref="ToString"/> leaves it out.
/// </summary>
public sealed class Pkcs11Options
{
    /// <summary>The configuration section it is bound from (docs/configuration.md lists its keys).</summary>
    public const string Section = "Ca:Pkcs11";

    /// <summary>The PKCS#11 module's path, e.g. <c>/usr/lib/softhsm/libsofthsm2.so</c>. Unset: no HSM.</summary>
    public string? Library { get; set; }

    /// <summary>The token's label (CK_TOKEN_INFO.label); this or <see cref="SlotId"/>.</summary>
    public string? TokenLabel { get; set; }

    /// <summary>The slot the token sits in, where labels are not unique.</summary>
    public ulong? SlotId { get; set; }

    /// <summary>The CKA_LABEL of the CA's key pair in the token.</summary>
    public string? KeyLabel { get; set; }

    /// <summary>The user PIN; bind it from the environment only.</summary>
    public string? Pin { get; set; }

    /// <summary>A file holding the user PIN (one line; trailing newline ignored), e.g. a systemd credential.</summary>
    public string? PinFile { get; set; }

    /// <summary>Caps the session pool below what the token allows (default: the token's limit, at most 16).</summary>
    public int? MaxSessions { get; set; }

    /// <summary>RSA signature padding: <c>Pkcs1</c> (PKCS#1 v1.5, the default) or <c>Pss</c>. ECDSA keys ignore it.</summary>
    public string RsaPadding { get; set; } = "Pkcs1";

    /// <summary>Whether an HSM is configured at all.</summary>
    public bool Enabled => !string.IsNullOrWhiteSpace(Library);

    /// <summary>The PIN from <see cref="Pin"/> or <see cref="PinFile"/>.</summary>
    /// <exception cref="Pkcs11ConfigurationException">Neither is set, or the file cannot be read.</exception>
    public string ReadPin()
    {
        if (!string.IsNullOrEmpty(Pin))
        {
            return Pin;
        }

        if (string.IsNullOrWhiteSpace(PinFile))
        {
            throw new Pkcs11ConfigurationException("Ca:Pkcs11 needs the token's user PIN: set the environment variable Ca__Pkcs11__Pin or Ca:Pkcs11:PinFile.");
        }

        try
        {
            return File.ReadAllText(PinFile).TrimEnd('\r', '\n');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new Pkcs11ConfigurationException($"Ca:Pkcs11:PinFile '{PinFile}' cannot be read: {e.Message}", e);
        }
    }

    /// <summary>Which token this is, for messages: its label or slot.</summary>
    public string TokenDescription => TokenLabel is { Length: > 0 } label
        ? $"token '{label}'"
        : $"slot {SlotId?.ToString(CultureInfo.InvariantCulture) ?? "(none)"}";

    // Without the PIN, so that logging the options cannot leak it.
    public override string ToString() => $"PKCS#11 {Library}, {TokenDescription}, key '{KeyLabel}'";
}
