namespace OpenCM.Domain;

/// <summary>A change of an existing card that completing a request makes (SPEC §3).</summary>
public sealed record CardTransition(Guid Card, SmartcardStatus From, SmartcardStatus To);

/// <summary>What a request on a smart card template needs (SPEC §3, §8).</summary>
public static class SmartcardRules
{
    /// <summary>
    /// Types whose execution puts a new card into use, bound by POST /smartcards: Enroll, a
    /// Duplicate of a card, a Recover onto a replacement card, and a temporary card.
    /// </summary>
    public static bool TakesNewCard(RequestType type) =>
        type is RequestType.Enroll or RequestType.Duplicate or RequestType.Recover or RequestType.TemporaryCards;

    /// <summary>
    /// Types that work on the card the request names (<c>OldSmartcardUuid</c>), in place: new
    /// certificates onto it (Renew, OnlineUpdate), a PIN unblocked on it, or its status changed.
    /// </summary>
    public static bool WorksInPlace(RequestType type) =>
        type is RequestType.Renew or RequestType.OnlineUpdate or RequestType.Unblock or RequestType.OfflineUnblock
            or RequestType.Retire or RequestType.Revoke or RequestType.Reinstate;

    /// <summary>Types whose execution is the card's admin challenge answered (walkthrough step 19) for a new PIN.</summary>
    public static bool IsUnblock(RequestType type) => type is RequestType.Unblock or RequestType.OfflineUnblock;

    /// <summary>The card a request's execution works on: the one bound to it, else the one it names in place; empty when none yet.</summary>
    public static Guid WorkingCard(CmRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return request.NewSmartcardUuid != Guid.Empty ? request.NewSmartcardUuid
            : WorksInPlace(request.RequestType) ? request.OldSmartcardUuid
            : Guid.Empty;
    }

    /// <summary>
    /// A smart card request issues and completes only with the card it works on known (bound by
    /// POST /smartcards, or named in place): a software CSR or PFX must never stand in for the
    /// card. Null when <paramref name="request"/> may go on.
    /// </summary>
    public static DomainError? RequireBoundCard(CmRequest request, string action)
    {
        ArgumentNullException.ThrowIfNull(request);
        return request.IsSmartcard && WorkingCard(request) == Guid.Empty
            ? new DomainError(ErrorKind.Conflict, $"This request is for a smart card; {action} needs the card bound to it first (POST /smartcards).", "smartcard", request.Status)
            : null;
    }

    /// <summary>
    /// What ending a temporary card for good (Retire, or Revoke other than on hold) does to the
    /// permanent card it stood in for: the permanent card and its certificates come back into use
    /// (Suspended → Active, holds released). Nothing when the permanent card is not suspended.
    /// </summary>
    public static IReadOnlyList<Effect> PermanentCardBack(
        RequestType type, int revocationReason, Guid permanentCard, SmartcardStatus permanentStatus, Guid permanentProfile, ProfileStatus? profileStatus, DateTimeOffset at)
    {
        var ends = type is RequestType.Retire || (type is RequestType.Revoke && revocationReason != ProfileRules.CertificateHold);
        if (!ends || permanentCard == Guid.Empty || SmartcardLifecycle.Decide(permanentStatus, new CardCommand.Reinstate()) is not CardDecision.Move m)
        {
            return [];
        }

        var effects = new List<Effect>(2);
        if (profileStatus is ProfileStatus.Suspended && ProfileRules.OnCompletion(RequestType.Reinstate, permanentProfile, ProfileStatus.Suspended) is { } back)
        {
            effects.Add(new Effect.ChangeProfile(back, at));
        }

        effects.Add(new Effect.MoveCard(permanentCard, m.From, m.To));
        return effects;
    }

    /// <summary>Types OpenCM executes on an existing smart card today; the rest are refused at creation.</summary>
    public static bool IsSupported(RequestType type) =>
        WorksInPlace(type) || type is RequestType.Duplicate or RequestType.Recover or RequestType.TemporaryCards;

    /// <summary>Which request types a card's status allows (as <see cref="ProfileRules.AllowedTypes"/> for profiles).</summary>
    public static IReadOnlyList<RequestType> AllowedTypes(SmartcardStatus status) => status switch
    {
        SmartcardStatus.Active =>
        [
            RequestType.OnlineUpdate, RequestType.Renew, RequestType.Duplicate, RequestType.Recover, RequestType.Retire, RequestType.Revoke,
            RequestType.Unblock, RequestType.OfflineUnblock, RequestType.TemporaryCards,
        ],
        SmartcardStatus.Suspended => [RequestType.Reinstate, RequestType.Retire],
        SmartcardStatus.Disabled => [RequestType.Retire],
        _ => [],
    };

    /// <summary>
    /// What completing a request of <paramref name="type"/> does to the card it names, by the card
    /// state machine; null when the card keeps its status (Renew, OnlineUpdate, Unblock,
    /// OfflineUnblock, Duplicate).
    /// </summary>
    /// <param name="revocationReason">For Revoke: certificateHold suspends, anything else disables.</param>
    public static CardTransition? OnCompletion(RequestType type, Guid card, SmartcardStatus status, int revocationReason = ProfileRules.Unspecified)
    {
        CardCommand? command = type switch
        {
            RequestType.Retire => new CardCommand.Retire(),
            RequestType.Revoke when revocationReason == ProfileRules.CertificateHold => new CardCommand.Suspend(),
            RequestType.Revoke or RequestType.Recover => new CardCommand.Disable(),

            // The permanent card is out of use while its temporary card is out.
            RequestType.TemporaryCards => new CardCommand.Suspend(),
            RequestType.Reinstate => new CardCommand.Reinstate(),
            _ => null,
        };
        return command is not null && SmartcardLifecycle.Decide(status, command) is CardDecision.Move m ? new CardTransition(card, m.From, m.To) : null;
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
