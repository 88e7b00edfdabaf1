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
    /// <c>BC88F13F-…</c> and <c>{bc88f13f-…}</c> are one card), anything else trimmed. Blank,
    /// over 128 characters or holding control characters is a ValidationFailed naming <c>cardid</c>.
    /// </summary>
    public static string CanonicalCardId(string? cardId)
    {
        var trimmed = cardId?.Trim() ?? "";
        if (trimmed.Length is 0 or > 128 || trimmed.Any(char.IsControl))
        {
            throw new OpenCmException(DomainError.Validation("cardid", "'cardid' is required: the card's id, at most 128 printable characters."));
        }

        return Guid.TryParse(trimmed, out var id) ? id.ToString("D") : trimmed;
    }

    /// <summary>
    /// A card's answer-to-reset as OpenCM keeps it: upper-case hex of at most 33 bytes (ISO 7816-3),
    /// spaces or colons between bytes allowed on input; absent is empty. Anything else is a
    /// ValidationFailed naming <c>atr</c>.
    /// </summary>
    public static string CanonicalAtr(string? atr)
    {
        var hex = string.Concat((atr ?? "").Where(c => c is not (' ' or ':'))).ToUpperInvariant();
        return hex.Length <= 66 && hex.Length % 2 == 0 && hex.All(char.IsAsciiHexDigit)
            ? hex
            : throw new OpenCmException(DomainError.Validation("atr", "'atr' is the card's answer-to-reset in hex, at most 33 bytes."));
    }
}
