using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using OpenCM.Smartcards;

namespace OpenCM.Cards;

/// <summary>
/// A software emulation of a Microsoft Base Smart Card Crypto Provider card (issue #8.10): what a
/// card client such as <c>opencm card simulate</c> personalizes in process (issue #22.1: behind <see cref="ICardDevice"/>, beside the GIDS cards on PC/SC readers), and what tests use to play the
/// client side of the enrollment walkthrough. Like a real card it keeps its secrets inside: the
/// 3DES admin key is only ever proven through the 8-byte challenge-response (SPEC §8), the user
/// PIN through a verification that counts down to blocked, and private keys never leave their
/// containers (only CSRs, public keys and signatures do). Nothing here touches the disk.
/// </summary>
public sealed class EmulatedCard : ICardDevice
{
    /// <summary>The reference's example ATR (a Microsoft virtual smart card, update-smartcard-status).</summary>
    public const string VirtualSmartcardAtr = "3B8D0180FBA000000397425446590301C8";

    /// <summary>Wrong PINs a card takes before it blocks the PIN (Windows' default for virtual smart cards is several; five here).</summary>
    public const int PinTries = 5;

    private readonly Dictionary<string, Container> _containers = new(StringComparer.OrdinalIgnoreCase);
    private byte[] _adminKey;
    private byte[]? _challenge;
    private byte[]? _pinHash;

    /// <summary>A card with id <paramref name="cardId"/>, answer-to-reset <paramref name="atr"/>, and admin key <paramref name="adminKey"/> (24 bytes).</summary>
    public EmulatedCard(string cardId, string atr, ReadOnlySpan<byte> adminKey)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(cardId);
        ArgumentNullException.ThrowIfNull(atr);
        if (adminKey.Length != AdminKeys.KeyLength)
        {
            throw new ArgumentException($"An admin key is {AdminKeys.KeyLength} bytes.", nameof(adminKey));
        }

        CardId = cardId;
        Atr = atr;
        _adminKey = adminKey.ToArray();
    }

    /// <summary>
    /// A new virtual smart card, as a client creates one (walkthrough steps 11-13): a fresh card id,
    /// the virtual card's ATR, and the policy's default admin key as its initial admin key.
    /// </summary>
    public static EmulatedCard CreateVirtual(ReadOnlySpan<byte> defaultAdminKey) =>
        new(Guid.NewGuid().ToString("D").ToUpperInvariant(), VirtualSmartcardAtr, defaultAdminKey);

    public string CardId { get; }

    public string Atr { get; }

    /// <summary>Wrong PINs left before the PIN blocks.</summary>
    public int PinTriesLeft { get; private set; } = PinTries;

    public bool IsPinBlocked => PinTriesLeft == 0;

    public bool HasPin => _pinHash is not null;

    /// <summary>The certificates installed, by container.</summary>
    public IReadOnlyDictionary<string, X509Certificate2> Certificates =>
        _containers.Where(c => c.Value.Certificate is not null).ToDictionary(c => c.Key, c => c.Value.Certificate!, StringComparer.OrdinalIgnoreCase);

    /// <summary>The card's admin challenge: 8 fresh random bytes; each answers one admin operation.</summary>
    public byte[] GetChallenge()
    {
        _challenge = RandomNumberGenerator.GetBytes(ChallengeResponse.ChallengeLength);
        return (byte[])_challenge.Clone();
    }

    /// <summary>Replaces the admin key (walkthrough step 20), once <paramref name="response"/> proves the current one.</summary>
    public void ChangeAdminKey(ReadOnlySpan<byte> response, ReadOnlySpan<byte> newKey)
    {
        if (newKey.Length != AdminKeys.KeyLength)
        {
            throw new ArgumentException($"An admin key is {AdminKeys.KeyLength} bytes.", nameof(newKey));
        }

        AuthenticateAdmin(response);
        CryptographicOperations.ZeroMemory(_adminKey);
        _adminKey = newKey.ToArray();
    }

    /// <summary>
    /// Sets the user PIN and resets its tries, once <paramref name="response"/> proves the admin
    /// key: how a client sets the first PIN (walkthrough steps 22-23) and how a blocked PIN is
    /// unblocked (Unblock, OfflineUnblock).
    /// </summary>
    public void UnblockPin(ReadOnlySpan<byte> response, string newPin)
    {
        var hash = PinHash(newPin);
        AuthenticateAdmin(response);
        _pinHash = hash;
        PinTriesLeft = PinTries;
    }

    /// <summary>Checks the user PIN; a wrong one counts down, and at zero the PIN is blocked.</summary>
    public void VerifyPin(string pin)
    {
        if (IsPinBlocked)
        {
            throw new CardException(CardRefusal.PinBlocked);
        }

        if (_pinHash is null)
        {
            throw new CardException(CardRefusal.PinInvalid);
        }

        var given = SHA256.HashData(Encoding.UTF8.GetBytes(pin ?? ""));
        if (!CryptographicOperations.FixedTimeEquals(given, _pinHash))
        {
            PinTriesLeft--;
            throw new CardException(IsPinBlocked ? CardRefusal.PinBlocked : CardRefusal.WrongPin);
        }

        PinTriesLeft = PinTries;
    }

    /// <summary>
    /// Makes a key pair in <paramref name="container"/> (replacing what it held) and answers a
    /// PKCS#10 request for it, signed by the key on the card (walkthrough step 26). Needs the PIN.
    /// </summary>
    /// <param name="keyAlgorithm">As the generation options name it: RSA, ECDSA_P256 or ECDSA_P384.</param>
    public byte[] CreateCertificateRequest(string container, string pin, string subject, string keyAlgorithm, int keySize, string hashAlgorithm)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(container);
        VerifyPin(pin);
        AsymmetricAlgorithm key = keyAlgorithm switch
        {
            "ECDSA_P256" => ECDsa.Create(ECCurve.NamedCurves.nistP256),
            "ECDSA_P384" => ECDsa.Create(ECCurve.NamedCurves.nistP384),
            "RSA" => RSA.Create(keySize),
            _ => throw new ArgumentException($"The card makes RSA and ECDSA keys, not {keyAlgorithm}.", nameof(keyAlgorithm)),
        };
        var hash = new HashAlgorithmName(string.IsNullOrEmpty(hashAlgorithm) ? "SHA256" : hashAlgorithm.ToUpperInvariant());
        var name = new X500DistinguishedName(subject ?? "");
        var request = key is RSA rsa ? new CertificateRequest(name, rsa, hash, RSASignaturePadding.Pkcs1) : new CertificateRequest(name, (ECDsa)key, hash);
        if (_containers.Remove(container, out var old))
        {
            old.Dispose();
        }

        _containers[container] = new Container(key);
        return request.CreateSigningRequest();
    }

    /// <summary>
    /// Imports a key made off the card (server-generated, or archived and recovered onto a
    /// replacement card) with its certificate into <paramref name="container"/>; the PFX is read
    /// in memory and its key is not exportable from the card afterwards. Needs the PIN.
    /// </summary>
    public void ImportPfx(string container, byte[] pfx, string password, string pin)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(container);
        ArgumentNullException.ThrowIfNull(pfx);
        VerifyPin(pin);
        using var loaded = X509CertificateLoader.LoadPkcs12(pfx, password, X509KeyStorageFlags.EphemeralKeySet | X509KeyStorageFlags.Exportable);
        AsymmetricAlgorithm key = (AsymmetricAlgorithm?)loaded.GetRSAPrivateKey() ?? loaded.GetECDsaPrivateKey()
            ?? throw new CardException(CardRefusal.NoSuchContainer);
        if (_containers.Remove(container, out var old))
        {
            old.Dispose();
        }

        _containers[container] = new Container(key) { Certificate = X509CertificateLoader.LoadCertificate(loaded.RawData) };
    }

    /// <summary>Stores a certificate beside the key it was issued for; one for another key is refused. Needs the PIN.</summary>
    public void InstallCertificate(string container, byte[] certificate, string pin)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        VerifyPin(pin);
        var slot = Slot(container);
        var cert = X509CertificateLoader.LoadCertificate(certificate);
        if (!cert.PublicKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(slot.PublicKeyInfo))
        {
            cert.Dispose();
            throw new CardException(CardRefusal.CertificateMismatch);
        }

        slot.Certificate?.Dispose();
        slot.Certificate = cert;
    }

    /// <summary>The public key in <paramref name="container"/>, as SubjectPublicKeyInfo DER: how a client tells which certificate is this container's.</summary>
    public byte[] PublicKey(string container) => (byte[])Slot(container).PublicKeyInfo.Clone();

    /// <summary>Signs <paramref name="data"/> with the container's key (RSA PKCS#1 or ECDSA, SHA-256): proof the key is on this card. Needs the PIN.</summary>
    public byte[] Sign(string container, string pin, byte[] data)
    {
        ArgumentNullException.ThrowIfNull(data);
        VerifyPin(pin);
        return Slot(container).Key switch
        {
            RSA rsa => rsa.SignData(data, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1),
            ECDsa ec => ec.SignData(data, HashAlgorithmName.SHA256),
            _ => throw new CardException(CardRefusal.NoSuchContainer),
        };
    }

    /// <summary>Removes every key and certificate (Retire), once <paramref name="response"/> proves the admin key.</summary>
    public void ClearContainers(ReadOnlySpan<byte> response)
    {
        AuthenticateAdmin(response);
        foreach (var c in _containers.Values)
        {
            c.Dispose();
        }

        _containers.Clear();
    }

    public void Dispose()
    {
        foreach (var c in _containers.Values)
        {
            c.Dispose();
        }

        _containers.Clear();
        CryptographicOperations.ZeroMemory(_adminKey);
        if (_pinHash is not null)
        {
            CryptographicOperations.ZeroMemory(_pinHash);
        }
    }

    // One challenge, one attempt: a wrong response uses the challenge up, as the card does.
    private void AuthenticateAdmin(ReadOnlySpan<byte> response)
    {
        var challenge = _challenge;
        _challenge = null;
        if (challenge is null || response.Length != ChallengeResponse.ChallengeLength
            || !CryptographicOperations.FixedTimeEquals(ChallengeResponse.Respond(_adminKey, challenge), response))
        {
            throw new CardException(CardRefusal.AdminAuthenticationFailed);
        }
    }

    private static byte[] PinHash(string pin)
    {
        if (pin is null || pin.Length is < Pins.MinLength or > Pins.MaxLength || pin.Any(char.IsControl))
        {
            throw new CardException(CardRefusal.PinInvalid);
        }

        return SHA256.HashData(Encoding.UTF8.GetBytes(pin));
    }

    private Container Slot(string container) =>
        _containers.TryGetValue(container ?? "", out var slot) ? slot : throw new CardException(CardRefusal.NoSuchContainer);

    private sealed class Container(AsymmetricAlgorithm key) : IDisposable
    {
        public AsymmetricAlgorithm Key { get; } = key;

        public byte[] PublicKeyInfo { get; } = key.ExportSubjectPublicKeyInfo();

        public X509Certificate2? Certificate { get; set; }

        public void Dispose()
        {
            Key.Dispose();
            Certificate?.Dispose();
        }
    }
}
