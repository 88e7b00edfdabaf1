namespace OpenCM.Application;

/// <summary>
/// Card key operations the use cases need (SPEC §8), behind which the server's master admin key
/// stays: sealed at rest under the master key, never handed out, later an HSM's.
/// </summary>
public interface ISmartcardKeys
{
    /// <summary>
    /// A card's diversified 24-byte admin key, derived by the named algorithm from the master
    /// admin key, the card id and the card record's key generation (issue #18.7).
    /// </summary>
    Task<byte[]> DiversifiedKeyAsync(string algorithm, string cardId, int generation, CancellationToken ct = default);

    /// <summary>The Base CSP response to an 8-byte admin challenge under <paramref name="adminKey"/>.</summary>
    byte[] Respond(ReadOnlySpan<byte> adminKey, ReadOnlySpan<byte> challenge);

    /// <summary>A new PIN of <paramref name="length"/> digits from the CSPRNG.</summary>
    string ProposePin(int length);
}
