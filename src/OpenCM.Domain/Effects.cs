namespace OpenCM.Domain;

/// <summary>
/// What a request's move does beyond the request itself (SPEC §4, "Effects"). Decided here, as a
/// pure function of the move; carried out by the application through the unit of work's narrow
/// operations; storage only translates those operations into its own language.
/// </summary>
public abstract record Effect
{
    private Effect()
    {
    }

    /// <summary>Completed: the execution's new profile becomes Active and its certificates current.</summary>
    public sealed record Finalize(Guid Profile) : Effect;

    /// <summary>
    /// Canceled, Abandoned or Failed while executing: every certificate of the execution's new
    /// profile is revoked for <paramref name="Reason"/> at <paramref name="At"/> (reserved serials
    /// too: the CA may have signed them), and the profile is retired.
    /// </summary>
    public sealed record Undo(Guid Profile, int Reason, DateTimeOffset At) : Effect;

    /// <summary>Completed on a request that names an existing profile: the profile moves by compare-and-set, with what that does to its certificates.</summary>
    public sealed record ChangeProfile(ProfileTransition Transition, DateTimeOffset At) : Effect;

    /// <summary>
    /// A card moves by compare-and-set: the card bound to the request (Completed: Assigned → Active;
    /// Canceled, Abandoned, Failed: Assigned → New, free again), or the card the request names
    /// (Completed: as <see cref="SmartcardRules.OnCompletion"/> says).
    /// </summary>
    public sealed record MoveCard(Guid Card, SmartcardStatus From, SmartcardStatus To) : Effect;
}

/// <summary>The effects of SPEC §4 as a pure function of a move.</summary>
public static class ExecutionEffects
{
    /// <summary>The effects of moving a request from <paramref name="from"/> to <paramref name="to"/> at <paramref name="at"/>.</summary>
    /// <param name="newProfile">The profile the request's execution created, or empty.</param>
    /// <param name="oldProfile">What completing the request does to the existing profile it names (<see cref="ProfileRules.OnCompletion"/>), or null.</param>
    /// <param name="newCard">The card bound to the request by POST /smartcards, or empty.</param>
    /// <param name="oldCard">What completing the request does to the existing card it names (<see cref="SmartcardRules.OnCompletion"/>), or null.</param>
    /// <param name="linked">What completing it does beyond the card it names (<see cref="SmartcardRules.PermanentCardBack"/>).</param>
    public static IReadOnlyList<Effect> For(
        RequestStatus from, RequestStatus to, Guid newProfile, ProfileTransition? oldProfile, DateTimeOffset at, Guid newCard = default, CardTransition? oldCard = null,
        IReadOnlyList<Effect>? linked = null)
    {
        var effects = new List<Effect>(3);
        switch (from, to)
        {
            case (RequestStatus.Executing, RequestStatus.Completed):
                if (newProfile != Guid.Empty)
                {
                    effects.Add(new Effect.Finalize(newProfile));
                }

                if (oldProfile is not null)
                {
                    effects.Add(new Effect.ChangeProfile(oldProfile, at));
                }

                CardMove(effects, newCard, new CardCommand.Activate());
                if (oldCard is not null)
                {
                    effects.Add(new Effect.MoveCard(oldCard.Card, oldCard.From, oldCard.To));
                }

                effects.AddRange(linked ?? []);

                break;
            case (RequestStatus.Executing, RequestStatus.Canceled or RequestStatus.Abandoned or RequestStatus.Failed):
                if (newProfile != Guid.Empty)
                {
                    // RFC 5280 reason 5, cessationOfOperation: the credential was never put to use (SPEC §4).
                    effects.Add(new Effect.Undo(newProfile, ProfileRules.CessationOfOperation, at));
                }

                CardMove(effects, newCard, new CardCommand.Release());
                break;
        }

        return effects;
    }

    // The bound card moves as the card state machine says it does from Assigned.
    private static void CardMove(List<Effect> effects, Guid card, CardCommand command)
    {
        if (card != Guid.Empty && SmartcardLifecycle.Decide(SmartcardStatus.Assigned, command) is CardDecision.Move m)
        {
            effects.Add(new Effect.MoveCard(card, m.From, m.To));
        }
    }

    /// <summary>Whether a move from <paramref name="from"/> to <paramref name="to"/> needs to know what it does to the request's existing profile.</summary>
    public static bool ChangesOldProfile(RequestStatus from, RequestStatus to) => from == RequestStatus.Executing && to == RequestStatus.Completed;
}
