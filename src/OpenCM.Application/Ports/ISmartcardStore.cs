using OpenCM.Domain;

namespace OpenCM.Application;

/// <summary>
/// A smart card, as stored (SPEC §3). <see cref="CardId"/> is the physical card's id;
/// <see cref="RequestUuid"/> the request that bound it last. <see cref="ParentUuid"/> is the card it
/// replaced (Recover), <see cref="PermanentUuid"/> the card it stands in for (TemporaryCards),
/// <see cref="PrimaryUuid"/> the card it duplicates (Duplicate); each empty when not so.
/// <see cref="KeyGeneration"/> is the issuance's admin key diversifier (issue #18.7): one more
/// than the last of any record of the same physical card each time the card is bound, so that
/// whoever binds a card id next never gets the previous holder's admin key; 0 on records from
/// before it, whose key stays the one derived from the card id alone.
/// </summary>
public sealed record StoredSmartcard(
    Guid Uuid, string CardId, string Atr, SmartcardStatus Status, Guid UserUuid, Guid TemplateUuid, int TemplateVersion,
    Guid RequestUuid, Guid ParentUuid, Guid PermanentUuid, DateTimeOffset Created, Guid PrimaryUuid = default, int KeyGeneration = 0);

/// <summary>Reading smart cards (writes happen in a unit of work, <see cref="ICardWrites"/>).</summary>
public interface ISmartcardStore
{
    Task<StoredSmartcard?> FindAsync(Guid uuid, CancellationToken ct = default);

    /// <summary>The card record for a physical card that is not retired, if any.</summary>
    Task<StoredSmartcard?> FindByCardIdAsync(string cardId, CancellationToken ct = default);

    /// <summary>
    /// The newest record of a physical card, retired or not (the highest key generation): who
    /// held the card id last, and the generation the next binding follows. Null for a card id
    /// never seen.
    /// </summary>
    Task<StoredSmartcard?> LastByCardIdAsync(string cardId, CancellationToken ct = default);

    /// <summary>The cards assigned to a user, oldest first.</summary>
    Task<IReadOnlyList<StoredSmartcard>> ForUserAsync(Guid user, CancellationToken ct = default);
}
