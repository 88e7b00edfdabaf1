using System.Security.Cryptography.X509Certificates;

namespace OpenCM.Cards;

/// <summary>
/// A smart card as the client personalizes it (issue #22.1; SPEC §8 "Card families"): the
/// server's side of a family (admin key, challenge-response, PIN policy) is a policy value; the
/// client's side is one of these. Implementations: <see cref="EmulatedCard"/> (the in-process
/// Base CSP card the walkthrough tests use) and the GIDS card on a PC/SC reader. A card keeps its
/// secrets inside: the admin key is only proven through a challenge the server answers
/// (<c>authenticationresponse</c>), the PIN only verified, private keys never leave it.
/// Every method either does all it says or throws <see cref="CardException"/> with what the card
/// (or the reader) said; nothing is acknowledged that the card did not confirm.
/// </summary>
public interface ICardDevice : IDisposable
{
    /// <summary>The id the server binds the card by (<c>POST /smartcards</c>): the minidriver's card id.</summary>
    string CardId { get; }

    /// <summary>The card's answer-to-reset, as upper-case hex.</summary>
    string Atr { get; }

    /// <summary>Wrong PINs left before the PIN blocks.</summary>
    int PinTriesLeft { get; }

    bool IsPinBlocked { get; }

    /// <summary>The certificates on the card, by key container.</summary>
    IReadOnlyDictionary<string, X509Certificate2> Certificates { get; }

    /// <summary>
    /// A fresh admin challenge for the server to answer: the Base CSP card's 8 bytes; a GIDS card's
    /// 40-byte block of its mutual authentication (decision 0013). Each answers one admin operation.
    /// </summary>
    byte[] GetChallenge();

    /// <summary>Replaces the admin key (walkthrough step 20), once <paramref name="response"/> proves the current one.</summary>
    void ChangeAdminKey(ReadOnlySpan<byte> response, ReadOnlySpan<byte> newKey);

    /// <summary>Sets the user PIN and resets its tries, once <paramref name="response"/> proves the admin key (first PIN, Unblock, OfflineUnblock).</summary>
    void UnblockPin(ReadOnlySpan<byte> response, string newPin);

    /// <summary>Checks the user PIN; a wrong one counts down, and at zero the PIN is blocked.</summary>
    void VerifyPin(string pin);

    /// <summary>Makes a key pair on the card in <paramref name="container"/> and answers a PKCS#10 request signed by it (walkthrough step 26). Needs the PIN.</summary>
    /// <param name="keyAlgorithm">As the generation options name it: RSA, ECDSA_P256 or ECDSA_P384.</param>
    byte[] CreateCertificateRequest(string container, string pin, string subject, string keyAlgorithm, int keySize, string hashAlgorithm);

    /// <summary>Puts a key made off the card (server-made or archived) with its certificate into <paramref name="container"/>. Needs the PIN.</summary>
    void ImportPfx(string container, byte[] pfx, string password, string pin);

    /// <summary>Stores a certificate beside the key it was issued for; one for another key is refused. Needs the PIN.</summary>
    void InstallCertificate(string container, byte[] certificate, string pin);

    /// <summary>The public key in <paramref name="container"/>, as SubjectPublicKeyInfo DER.</summary>
    byte[] PublicKey(string container);

    /// <summary>Signs <paramref name="data"/> with the container's key (RSA PKCS#1 or ECDSA, SHA-256). Needs the PIN.</summary>
    byte[] Sign(string container, string pin, byte[] data);

    /// <summary>Removes every key and certificate (Retire), once <paramref name="response"/> proves the admin key.</summary>
    void ClearContainers(ReadOnlySpan<byte> response);
}
