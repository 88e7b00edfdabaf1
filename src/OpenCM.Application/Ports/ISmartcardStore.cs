using OpenCM.Domain;

namespace OpenCM.Application;

/// <summary>
/// A smart card, as stored (SPEC §3). <see cref="CardId"/> is the physical card's id;
/// <see cref="RequestUuid"/> the request that bound it last. <see cref="ParentUuid"/> is the card it
/// replaced (Recover), <see cref="PermanentUuid"/> the card it stands in for (TemporaryCards),
/// <see cref="PrimaryUuid"/> the card it duplicates (Duplicate); each empty when not so.
/// </summary>
public sealed record StoredSmartcard(
    Guid Uuid, string CardId, string Atr, SmartcardStatus Status, Guid UserUuid, Guid TemplateUuid, int TemplateVersion,
    Guid RequestUuid, Guid ParentUuid, Guid PermanentUuid, DateTimeOffset Created, Guid PrimaryUuid = default);

/// <summary>Reading smart cards (writes happen in a unit of work, <see cref="ICardWrites"/>).</summary>
public interface ISmartcardStore
{
    Task<StoredSmartcard?> FindAsync(Guid uuid, CancellationToken ct = default);

    /// <summary>The card record for a physical card that is not retired, if any.</summary>
    Task<StoredSmartcard?> FindByCardIdAsync(string cardId, CancellationToken ct = default);

    /// <summary>The cards assigned to a user, oldest first.</summary>
    Task<IReadOnlyList<StoredSmartcard>> ForUserAsync(Guid user, CancellationToken ct = default);
}
