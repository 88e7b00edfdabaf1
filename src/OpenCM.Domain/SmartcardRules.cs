namespace OpenCM.Domain;

/// <summary>A change of an existing card that completing a request makes (SPEC §3).</summary>
public sealed record CardTransition(Guid Card, SmartcardStatus From, SmartcardStatus To);

/// <summary>Card ids, ATRs, and what requests do to cards (SPEC §3, §8); per kind in <see cref="RequestKinds"/>.</summary>
public static class SmartcardRules
{
    /// <summary>The card a request's execution works on: the one bound to it, else the one it names in place; empty when none yet.</summary>
    public static Guid WorkingCard(CmRequest request) => RequestKinds.Of(request).WorkingCard(request);

    /// <summary>A smart card request issues and completes only with the card it works on known (<see cref="RequestKind.RequireCard"/>).</summary>
    public static DomainError? RequireBoundCard(CmRequest request, string action) => RequestKinds.Of(request).RequireCard(request, action);

    /// <summary>
    /// What ending a temporary card for good (Retire, or Revoke other than on hold) does to the
    /// permanent card it stood in for: the permanent card and its certificates come back into use
    /// (Suspended → Active, holds released). Nothing when the permanent card is not suspended.
    /// </summary>
    public static IReadOnlyList<Effect> PermanentCardBack(
        RequestType type, int revocationReason, Guid permanentCard, SmartcardStatus permanentStatus, Guid permanentProfile, ProfileStatus? profileStatus, DateTimeOffset at)
    {
        if (!RequestKinds.Of(type, Medium.Smartcard).EndsCard(revocationReason) || permanentCard == Guid.Empty || SmartcardLifecycle.Decide(permanentStatus, new CardCommand.Reinstate()) is not CardDecision.Move m)
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

    /// <summary>Which request types a card's status allows (<see cref="RequestKinds.AllowedOn(SmartcardStatus)"/>).</summary>
    public static IReadOnlyList<RequestType> AllowedTypes(SmartcardStatus status) => RequestKinds.AllowedOn(status);

    /// <summary>What completing a request of <paramref name="type"/> on a card does to that card (its kind's <see cref="RequestKind.CardOnCompletion"/>).</summary>
    /// <param name="revocationReason">For Revoke: certificateHold suspends, anything else disables.</param>
    public static CardTransition? OnCompletion(RequestType type, Guid card, SmartcardStatus status, int revocationReason = ProfileRules.Unspecified) =>
        RequestKinds.Of(type, Medium.Smartcard).CardOnCompletion(card, status, revocationReason);

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

    /// <summary>The shortest admin challenge answered: a Base CSP card's one 3DES block (SPEC §8).</summary>
    public const int MinChallengeLength = 8;

    /// <summary>The longest: a GIDS card's mutual authentication block R2 || R1 || Z1 (decision 0013).</summary>
    public const int MaxChallengeLength = 40;

    /// <summary>
    /// A card's admin challenge as the server answers it (decision 0013): 8 to 40 bytes, a whole
    /// number of 8-byte 3DES blocks. Anything else is a ValidationFailed naming <c>challenge</c>,
    /// checked before anything is filed or answered.
    /// </summary>
    public static byte[] CheckChallenge(byte[]? challenge) =>
        challenge is { Length: >= MinChallengeLength and <= MaxChallengeLength } && challenge.Length % 8 == 0
            ? challenge
            : throw new OpenCmException(DomainError.Validation("challenge",
                $"The challenge is the card's {MinChallengeLength} to {MaxChallengeLength} bytes (a multiple of 8: 8 for a Base CSP card, 40 for a GIDS card)."));
}
