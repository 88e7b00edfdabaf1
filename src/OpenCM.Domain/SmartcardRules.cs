namespace OpenCM.Domain;

/// <summary>What a request on a smart card template needs (SPEC §3, §8).</summary>
public static class SmartcardRules
{
    /// <summary>
    /// A smart card request issues and completes only with its card bound (<c>NewSmartcardUuid</c>,
    /// set by POST /smartcards): a software CSR or PFX must never stand in for the card. Null when
    /// <paramref name="request"/> may go on.
    /// </summary>
    public static DomainError? RequireBoundCard(CmRequest request, string action)
    {
        ArgumentNullException.ThrowIfNull(request);
        return request.IsSmartcard && request.NewSmartcardUuid == Guid.Empty
            ? new DomainError(ErrorKind.Conflict, $"This request is for a smart card; {action} needs the card bound to it first (POST /smartcards).", "smartcard", request.Status)
            : null;
    }

    /// <summary>
    /// A physical card's id as OpenCM keys it: a GUID in canonical lower-case form (so that
    /// <c>BC88F13F-…</c> and <c>{bc88f13f-…}</c> are one card), anything else trimmed.
    /// </summary>
    public static string CanonicalCardId(string cardId)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(cardId);
        return Guid.TryParse(cardId.Trim(), out var id) ? id.ToString("D") : cardId.Trim();
    }
}
