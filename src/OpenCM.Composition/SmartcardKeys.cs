using System.Security.Cryptography;
using OpenCM.Application;
using OpenCM.Smartcards;
using OpenCM.Storage;

namespace OpenCM.Composition;

/// <summary>
/// The card key operations over OpenCM.Smartcards, with the server's master admin key (256 random
/// bits) kept in the secret store, sealed under the master key, made on first use (SPEC §8).
/// </summary>
internal sealed class SmartcardKeys : ISmartcardKeys, IDisposable
{
    public const string SecretName = "smartcard-master-admin-key";
    private readonly SecretStore _secrets;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private byte[]? _master;

    public SmartcardKeys(SecretStore secrets) => _secrets = secrets;

    public async Task<byte[]> DiversifiedKeyAsync(string algorithm, string cardId, int generation, CancellationToken ct = default)
    {
        if (algorithm != AdminKeys.Sp800108HmacSha256)
        {
            throw new NotSupportedException($"The admin key diversification '{algorithm}' is not implemented.");
        }

        return AdminKeys.Diversify(await MasterAsync(ct).ConfigureAwait(false), cardId, generation);
    }

    public byte[] Respond(ReadOnlySpan<byte> adminKey, ReadOnlySpan<byte> challenge) => ChallengeResponse.Respond(adminKey, challenge);

    public string ProposePin(int length) => Pins.Propose(length);

    public void Dispose()
    {
        _gate.Dispose();
        if (_master is { } master)
        {
            CryptographicOperations.ZeroMemory(master);
        }
    }

    private async Task<byte[]> MasterAsync(CancellationToken ct)
    {
        if (_master is { } known)
        {
            return known;
        }

        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            return _master ??= await _secrets.GetOrCreateAsync(SecretName, () => RandomNumberGenerator.GetBytes(32), ct).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }
}
