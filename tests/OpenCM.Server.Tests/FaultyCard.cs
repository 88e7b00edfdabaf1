using System.Security.Cryptography.X509Certificates;
using OpenCM.Cards;

namespace OpenCM.Server.Tests;

/// <summary>
/// A hand-written fault-injecting card (issue #22): the card beneath answers until operation
/// number <see cref="FailAt"/> (1-based, counting every call that talks to the card), which
/// fails with <see cref="Refusal"/> before it reaches the card, as a card pulled out of its reader
/// does; once pulled it stays pulled. <see cref="Operations"/> names what the card did.
/// </summary>
internal sealed class FaultyCard(ICardDevice card, int failAt, CardRefusal refusal = CardRefusal.CardRemoved) : ICardDevice
{
    private int _count;
    private bool _pulled;

    public int FailAt { get; } = failAt;

    public CardRefusal Refusal { get; } = refusal;

    /// <summary>The operations the card completed, in order.</summary>
    public List<string> Operations { get; } = [];

    public bool Failed => _pulled;

    public string CardId => card.CardId;

    public string Atr => card.Atr;

    public int PinTriesLeft => card.PinTriesLeft;

    public bool IsPinBlocked => card.IsPinBlocked;

    public IReadOnlyDictionary<string, X509Certificate2> Certificates => card.Certificates;

    public byte[] GetChallenge() => Do(nameof(GetChallenge), card.GetChallenge);

    public void ChangeAdminKey(ReadOnlySpan<byte> response, ReadOnlySpan<byte> newKey)
    {
        var (r, k) = (response.ToArray(), newKey.ToArray());
        Do(nameof(ChangeAdminKey), () => card.ChangeAdminKey(r, k));
    }

    public void UnblockPin(ReadOnlySpan<byte> response, string newPin)
    {
        var r = response.ToArray();
        Do(nameof(UnblockPin), () => card.UnblockPin(r, newPin));
    }

    public void VerifyPin(string pin) => Do(nameof(VerifyPin), () => card.VerifyPin(pin));

    public byte[] CreateCertificateRequest(string container, string pin, string subject, string keyAlgorithm, int keySize, string hashAlgorithm) =>
        Do(nameof(CreateCertificateRequest), () => card.CreateCertificateRequest(container, pin, subject, keyAlgorithm, keySize, hashAlgorithm));

    public void ImportPfx(string container, byte[] pfx, string password, string pin) => Do(nameof(ImportPfx), () => card.ImportPfx(container, pfx, password, pin));

    public void InstallCertificate(string container, byte[] certificate, string pin) => Do(nameof(InstallCertificate), () => card.InstallCertificate(container, certificate, pin));

    public byte[] PublicKey(string container) => Do(nameof(PublicKey), () => card.PublicKey(container));

    public byte[] Sign(string container, string pin, byte[] data) => Do(nameof(Sign), () => card.Sign(container, pin, data));

    public void ClearContainers(ReadOnlySpan<byte> response)
    {
        var r = response.ToArray();
        Do(nameof(ClearContainers), () => card.ClearContainers(r));
    }

    // The card beneath is the test's; it outlives this wrapper.
    public void Dispose()
    {
    }

    private void Do(string operation, Action act) => Do(operation, () =>
    {
        act();
        return 0;
    });

    private T Do<T>(string operation, Func<T> act)
    {
        if (_pulled || ++_count == FailAt)
        {
            _pulled = true;
            throw new CardException(Refusal, $"{operation}: the card was pulled (test)");
        }

        var result = act();
        Operations.Add(operation);
        return result;
    }
}
