namespace OpenCM.Domain;

/// <summary>A profile as a decision needs it: which one, and its status.</summary>
public sealed record ProfileFacts(Guid Uuid, ProfileStatus Status);

/// <summary>A card as a decision needs it: which one, and its status.</summary>
public sealed record CardFacts(Guid Uuid, SmartcardStatus Status);

/// <summary>
/// Everything a decision on a request reads, loaded once (issue #17): the request, its
/// template, the profile and card it names, and, when the named card is a temporary one, the
/// permanent card it stands in for with that card's live profile. What is not loaded is null;
/// the loader loads the named credential's facts whenever the command may complete the request.
/// </summary>
public sealed record RequestContext(
    CmRequest Request,
    ProfileTemplate? Template = null,
    ProfileFacts? NamedProfile = null,
    CardFacts? NamedCard = null,
    CardFacts? PermanentCard = null,
    ProfileFacts? PermanentProfile = null)
{
    /// <summary>The request's kind (<see cref="RequestKinds.Of(CmRequest)"/>).</summary>
    public RequestKind Kind => RequestKinds.Of(Request);
}

/// <summary>
/// A decision and what carrying it out does beyond the request (SPEC §4, "Effects"). The
/// profile and card transitions are the completion's part of <see cref="Effects"/>, kept apart
/// for the audit event.
/// </summary>
public sealed record Outcome(Decision Decision, IReadOnlyList<Effect> Effects, ProfileTransition? Profile = null, CardTransition? Card = null, bool PermanentCardBack = false)
{
    /// <summary>For the audit event: what moved beside the request; empty when nothing did.</summary>
    public string Describe() => string.Join("; ", new[]
    {
        Profile is null ? null : $"profile {Profile.Profile:D} {Profile.From} -> {Profile.To}",
        Card is null ? null : $"smartcard {Card.Card:D} {Card.From} -> {Card.To}",
        PermanentCardBack ? "permanent card reinstated" : null,
    }.Where(d => d is not null));
}
