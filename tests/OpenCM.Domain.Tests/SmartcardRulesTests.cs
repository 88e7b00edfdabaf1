using OpenCM.Domain;

namespace OpenCM.Domain.Tests;

/// <summary>What requests do to the cards they name (SPEC §3), against hand-written tables.</summary>
public class SmartcardRulesTests
{
    private static readonly Guid Card = Guid.Parse("17cf063d-e337-4aa9-a822-346554ddd3c9");

    [Theory]
    [InlineData(RequestFlags.Smartcard, false, true)]
    [InlineData(RequestFlags.Smartcard, true, false)]
    [InlineData(RequestFlags.None, false, false)]
    [InlineData(RequestFlags.EnrollmentAgent, false, false)]
    public void RequireBoundCard_SmartcardRequest_RefusedUntilACardIsBound(RequestFlags flags, bool cardBound, bool refused)
    {
        var request = new CmRequest { Uuid = Guid.NewGuid(), RequestType = RequestType.Enroll, Status = RequestStatus.Executing, Flags = flags, NewSmartcardUuid = cardBound ? Guid.NewGuid() : Guid.Empty };
        var error = SmartcardRules.RequireBoundCard(request, "completing it");
        Assert.Equal(refused, error is not null);
        if (error is not null)
        {
            Assert.Equal((ErrorKind.Conflict, "smartcard", (RequestStatus?)RequestStatus.Executing), (error.Kind, error.Field, error.CurrentStatus));
        }
    }

    // Completing a request of each type on a card in each status: "→X" the card moves to X,
    // "-" it keeps its status (the type works on it without moving it, or cannot move it from there).
    [Theory]
    [InlineData(RequestType.Retire, ProfileRules.Unspecified, "-", "→Retired", "→Retired", "→Retired", "-")]
    [InlineData(RequestType.Revoke, ProfileRules.Unspecified, "-", "→Disabled", "→Disabled", "-", "-")]
    [InlineData(RequestType.Revoke, 1, "-", "→Disabled", "→Disabled", "-", "-")]
    [InlineData(RequestType.Revoke, ProfileRules.CertificateHold, "-", "→Suspended", "-", "-", "-")]
    [InlineData(RequestType.Recover, ProfileRules.Unspecified, "-", "→Disabled", "→Disabled", "-", "-")]
    [InlineData(RequestType.Reinstate, ProfileRules.Unspecified, "-", "-", "→Active", "-", "-")]
    [InlineData(RequestType.Renew, ProfileRules.Unspecified, "-", "-", "-", "-", "-")]
    [InlineData(RequestType.OnlineUpdate, ProfileRules.Unspecified, "-", "-", "-", "-", "-")]
    [InlineData(RequestType.Unblock, ProfileRules.Unspecified, "-", "-", "-", "-", "-")]
    [InlineData(RequestType.OfflineUnblock, ProfileRules.Unspecified, "-", "-", "-", "-", "-")]
    [InlineData(RequestType.Duplicate, ProfileRules.Unspecified, "-", "-", "-", "-", "-")]
    [InlineData(RequestType.TemporaryCards, ProfileRules.Unspecified, "-", "→Suspended", "-", "-", "-")]
    public void OnCompletion_TypeFromEachStatus_MatchesTable(RequestType type, int reason, string assigned, string active, string suspended, string disabled, string retired)
    {
        var expected = new Dictionary<SmartcardStatus, string>
        {
            [SmartcardStatus.Assigned] = assigned,
            [SmartcardStatus.Active] = active,
            [SmartcardStatus.Suspended] = suspended,
            [SmartcardStatus.Disabled] = disabled,
            [SmartcardStatus.Retired] = retired,
        };
        foreach (var (status, want) in expected)
        {
            var t = SmartcardRules.OnCompletion(type, Card, status, reason);
            Assert.Equal(want, t is null ? "-" : $"→{t.To}");
            Assert.True(t is null || (t.Card, t.From) == (Card, status));
        }
    }

    [Theory]
    [InlineData(SmartcardStatus.Active, "OnlineUpdate,Renew,Duplicate,Recover,Retire,Revoke,Unblock,OfflineUnblock,TemporaryCards")]
    [InlineData(SmartcardStatus.Suspended, "Reinstate,Retire")]
    [InlineData(SmartcardStatus.Disabled, "Retire")]
    [InlineData(SmartcardStatus.Retired, "")]
    [InlineData(SmartcardStatus.Assigned, "")]
    [InlineData(SmartcardStatus.New, "")]
    public void AllowedTypes_ByStatus(SmartcardStatus status, string expected) =>
        Assert.Equal(expected, string.Join(",", SmartcardRules.AllowedTypes(status)));

    [Theory]
    [InlineData(RequestType.Enroll, true, false, "new")]
    [InlineData(RequestType.Duplicate, true, true, "new")]
    [InlineData(RequestType.Duplicate, false, true, "none")]
    [InlineData(RequestType.Renew, false, true, "old")]
    [InlineData(RequestType.Unblock, false, true, "old")]
    [InlineData(RequestType.Retire, false, true, "old")]
    [InlineData(RequestType.Enroll, false, false, "none")]
    public void WorkingCard_BoundElseNamedInPlace(RequestType type, bool bound, bool named, string expected)
    {
        var (newCard, oldCard) = (Guid.NewGuid(), Guid.NewGuid());
        var request = new CmRequest
        {
            Uuid = Guid.NewGuid(), RequestType = type, Status = RequestStatus.Executing, Flags = RequestFlags.Smartcard,
            NewSmartcardUuid = bound ? newCard : Guid.Empty, OldSmartcardUuid = named ? oldCard : Guid.Empty,
        };
        var working = SmartcardRules.WorkingCard(request);
        Assert.Equal(expected, working == newCard ? "new" : working == oldCard ? "old" : working == Guid.Empty ? "none" : "?");
        Assert.Equal(expected == "none", SmartcardRules.RequireBoundCard(request, "x") is not null);
    }

    [Theory]
    [InlineData(RequestType.Retire, false, true)]
    [InlineData(RequestType.Retire, true, false)]
    [InlineData(RequestType.Revoke, true, true)]
    [InlineData(RequestType.Reinstate, true, true)]
    [InlineData(RequestType.Unblock, true, false)]
    [InlineData(RequestType.Renew, false, false)]
    public void IsServerExecuted_RetiringACardWaitsForItsClient(RequestType type, bool onCard, bool expected) =>
        Assert.Equal(expected, RequestKinds.Of(type, onCard ? Medium.Smartcard : Medium.Software).ServerExecutes);

    // A card's Recover is a replacement card with new certificates (and the lost card's archived
    // keys); a software profile's Recover returns its archived keys only.
    [Theory]
    [InlineData(RequestType.Recover, false, false, true, "-")]
    [InlineData(RequestType.Recover, true, true, false, "→Disabled")]
    [InlineData(RequestType.RecoverOnBehalf, false, false, true, "-")]
    [InlineData(RequestType.Renew, false, true, false, "→Retired")]
    [InlineData(RequestType.Renew, true, true, false, "→Retired")]
    [InlineData(RequestType.Duplicate, true, true, false, "-")]
    [InlineData(RequestType.TemporaryCards, true, true, false, "→Suspended")]
    public void Recover_OnCardOrSoftware_IssuesOrReturnsKeys(RequestType type, bool onCard, bool issues, bool keyRecovery, string profile)
    {
        var kind = RequestKinds.Of(type, onCard ? Medium.Smartcard : Medium.Software);
        Assert.Equal((issues, keyRecovery), (kind.IssuesNewProfile, kind.RecoversKeys));
        var t = kind.ProfileOnCompletion(Card, ProfileStatus.Active, ProfileRules.Unspecified);
        Assert.Equal(profile, t is null ? "-" : $"→{t.To}");
    }

    // Ending a temporary card for good brings its suspended permanent card back, holds released.
    [Theory]
    [InlineData(RequestType.Retire, ProfileRules.Unspecified, SmartcardStatus.Suspended, ProfileStatus.Suspended, "profile Suspended→Active; card Suspended→Active")]
    [InlineData(RequestType.Revoke, 1, SmartcardStatus.Suspended, ProfileStatus.Suspended, "profile Suspended→Active; card Suspended→Active")]
    [InlineData(RequestType.Revoke, ProfileRules.CertificateHold, SmartcardStatus.Suspended, ProfileStatus.Suspended, "")]
    [InlineData(RequestType.Renew, ProfileRules.Unspecified, SmartcardStatus.Suspended, ProfileStatus.Suspended, "")]
    [InlineData(RequestType.Retire, ProfileRules.Unspecified, SmartcardStatus.Active, ProfileStatus.Active, "")]
    [InlineData(RequestType.Retire, ProfileRules.Unspecified, SmartcardStatus.Disabled, ProfileStatus.Disabled, "")]
    [InlineData(RequestType.Retire, ProfileRules.Unspecified, SmartcardStatus.Suspended, null, "card Suspended→Active")]
    public void PermanentCardBack_TemporaryCardEnds_PermanentReinstated(RequestType type, int reason, SmartcardStatus permanent, ProfileStatus? profile, string expected)
    {
        var effects = SmartcardRules.PermanentCardBack(type, reason, Card, permanent, Guid.NewGuid(), profile, DateTimeOffset.UnixEpoch);
        Assert.Equal(expected, string.Join("; ", effects.Select(e => e switch
        {
            Effect.ChangeProfile { Transition: var t } when t.ReleaseHolds => $"profile {t.From}→{t.To}",
            Effect.MoveCard m when m.Card == Card => $"card {m.From}→{m.To}",
            _ => "unexpected " + e,
        })));
    }

    [Fact]
    public void ExecutionEffects_CompletedWithANamedCard_MovesItAfterTheProfile()
    {
        var profile = new ProfileTransition(Guid.NewGuid(), ProfileStatus.Active, ProfileStatus.Retired, ProfileRules.CessationOfOperation);
        var card = new CardTransition(Card, SmartcardStatus.Active, SmartcardStatus.Retired);
        var effects = ExecutionEffects.For(RequestStatus.Executing, RequestStatus.Completed, Guid.Empty, profile, DateTimeOffset.UnixEpoch, oldCard: card);
        Assert.Equal([new Effect.ChangeProfile(profile, DateTimeOffset.UnixEpoch), new Effect.MoveCard(Card, SmartcardStatus.Active, SmartcardStatus.Retired)], effects);

        // Ending without completing leaves the named card alone.
        Assert.Empty(ExecutionEffects.For(RequestStatus.Executing, RequestStatus.Canceled, Guid.Empty, null, DateTimeOffset.UnixEpoch, oldCard: card));
    }
}
