using OpenCM.Domain;

namespace OpenCM.Domain.Tests;

public class RequestLifecycleTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);
    private static readonly Guid Alice = Guid.Parse("0b4c8a61-1f55-4a0a-9c7e-0d0b3b5f7a01");
    private static readonly Guid Bob = Guid.Parse("0b4c8a61-1f55-4a0a-9c7e-0d0b3b5f7a02");

    // The oracle: SPEC §4's drawing, written out by hand rather than derived from the code.
    private static readonly HashSet<(RequestStatus, RequestStatus)> Drawn =
    [
        (RequestStatus.Executing, RequestStatus.Completed),
        (RequestStatus.Pending, RequestStatus.Canceled),
        (RequestStatus.Approved, RequestStatus.Canceled),
        (RequestStatus.Executing, RequestStatus.Canceled),
        (RequestStatus.Approved, RequestStatus.Abandoned),
        (RequestStatus.Executing, RequestStatus.Abandoned),
    ];

    private static readonly Dictionary<RequestStatus, RequestPermission> Needed = new()
    {
        [RequestStatus.Completed] = RequestPermission.Execute,
        [RequestStatus.Canceled] = RequestPermission.Cancel,
        [RequestStatus.Abandoned] = RequestPermission.Abandon,
    };

    public static TheoryData<RequestStatus, RequestStatus, RequestPermission> EveryPutCombination()
    {
        var data = new TheoryData<RequestStatus, RequestStatus, RequestPermission>();
        RequestPermission[] rights = [RequestPermission.Execute, RequestPermission.Cancel, RequestPermission.Abandon];
        foreach (var current in Enum.GetValues<RequestStatus>())
        {
            foreach (var target in Enum.GetValues<RequestStatus>())
            {
                for (var subset = 0; subset < 1 << rights.Length; subset++)
                {
                    var granted = RequestPermission.ReadProperty;
                    for (var i = 0; i < rights.Length; i++)
                    {
                        if ((subset & (1 << i)) != 0)
                        {
                            granted |= rights[i];
                        }
                    }

                    data.Add(current, target, granted);
                }
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(EveryPutCombination))]
    public void SetStatus_EveryStatusTargetAndRights_MatchesSpecDrawing(RequestStatus current, RequestStatus target, RequestPermission granted) =>
        AssertDrawn(current, target, granted, RequestLifecycle.Decide(new LifecycleState(current, 0, []), new LifecycleCommand.SetStatus(target), granted, Now));

    // The same oracle over the whole execution context (issue #17): a software request, a card
    // request with its card bound, and one without, which alone may not complete.
    [Theory]
    [MemberData(nameof(EveryPutCombination))]
    public void SetStatus_OverTheContext_MatchesSpecDrawingAndRefusesACardlessCompletion(RequestStatus current, RequestStatus target, RequestPermission granted)
    {
        foreach (var (flags, card) in new[] { (RequestFlags.None, Guid.Empty), (RequestFlags.Smartcard, Guid.NewGuid()), (RequestFlags.Smartcard, Guid.Empty) })
        {
            var request = new CmRequest { Uuid = Guid.NewGuid(), RequestType = RequestType.Enroll, Status = current, Flags = flags, NewSmartcardUuid = card };
            var outcome = RequestLifecycle.Decide(new RequestContext(request), new LifecycleCommand.SetStatus(target), granted, Now);
            var cardless = flags == RequestFlags.Smartcard && card == Guid.Empty;
            if (cardless && outcome.Decision is Decision.Refused { Error.Kind: ErrorKind.Conflict } r)
            {
                Assert.Equal((RequestStatus.Executing, RequestStatus.Completed, "smartcard"), (current, target, r.Error.Field));
                Assert.Empty(outcome.Effects);
                continue;
            }

            Assert.False(cardless && current == RequestStatus.Executing && target == RequestStatus.Completed && (granted & RequestPermission.Execute) != 0);
            AssertDrawn(current, target, granted, outcome.Decision);
            if (outcome.Decision is not Decision.Move)
            {
                Assert.Empty(outcome.Effects);
            }
        }
    }

    // Revoking a card on hold, completed over a context that holds the card, its profile and nothing else.
    [Theory]
    [InlineData("certificateHold", ProfileStatus.Suspended, SmartcardStatus.Suspended)]
    [InlineData("keyCompromise", ProfileStatus.Disabled, SmartcardStatus.Disabled)]
    public void Decide_CompletingACardRevoke_MovesTheNamedProfileAndCard(string reason, ProfileStatus profileTo, SmartcardStatus cardTo)
    {
        var (card, profile) = (Guid.NewGuid(), Guid.NewGuid());
        var request = new CmRequest
        {
            Uuid = Guid.NewGuid(), RequestType = RequestType.Revoke, Status = RequestStatus.Executing, Flags = RequestFlags.Smartcard,
            OldSmartcardUuid = card, OldProfileUuid = profile, DataCollection = [new DataItem(ProfileRules.RevocationReasonItem, reason)],
        };
        var context = new RequestContext(request, NamedProfile: new ProfileFacts(profile, ProfileStatus.Active), NamedCard: new CardFacts(card, SmartcardStatus.Active));

        var outcome = RequestLifecycle.Decide(context, new LifecycleCommand.FinishExecution(), RequestPermission.None, Now);

        Assert.IsType<Decision.Move>(outcome.Decision);
        Assert.Equal(profileTo, Assert.Single(outcome.Effects.OfType<Effect.ChangeProfile>()).Transition.To);
        Assert.Equal((card, SmartcardStatus.Active, cardTo), Assert.Single(outcome.Effects.OfType<Effect.MoveCard>()) is var m ? (m.Card, m.From, m.To) : default);
        Assert.Equal($"profile {profile:D} Active -> {profileTo}; smartcard {card:D} Active -> {cardTo}", outcome.Describe());
    }

    // Ending a temporary card for good brings its permanent card, and that card's profile, back.
    [Fact]
    public void Decide_RetiringATemporaryCard_ReinstatesThePermanentCard()
    {
        var (temporary, permanent, permanentProfile) = (Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());
        var request = new CmRequest { Uuid = Guid.NewGuid(), RequestType = RequestType.Retire, Status = RequestStatus.Executing, Flags = RequestFlags.Smartcard, OldSmartcardUuid = temporary };
        var context = new RequestContext(request, NamedCard: new CardFacts(temporary, SmartcardStatus.Active),
            PermanentCard: new CardFacts(permanent, SmartcardStatus.Suspended), PermanentProfile: new ProfileFacts(permanentProfile, ProfileStatus.Suspended));

        var outcome = RequestLifecycle.Decide(context, new LifecycleCommand.FinishExecution(), RequestPermission.None, Now);

        Assert.Contains(outcome.Effects, e => e is Effect.MoveCard { To: SmartcardStatus.Retired } c && c.Card == temporary);
        Assert.Contains(outcome.Effects, e => e is Effect.MoveCard { From: SmartcardStatus.Suspended, To: SmartcardStatus.Active } c && c.Card == permanent);
        Assert.Contains(outcome.Effects, e => e is Effect.ChangeProfile { Transition.To: ProfileStatus.Active } p && p.Transition.Profile == permanentProfile);
        Assert.EndsWith("permanent card reinstated", outcome.Describe());
    }

    private static void AssertDrawn(RequestStatus current, RequestStatus target, RequestPermission granted, Decision decision)
    {
        if (!Needed.TryGetValue(target, out var right))
        {
            Assert.Equal(ErrorKind.ValidationFailed, Assert.IsType<Decision.Refused>(decision).Error.Kind);
        }
        else if ((granted & right) == 0)
        {
            Assert.Equal(ErrorKind.Forbidden, Assert.IsType<Decision.Refused>(decision).Error.Kind);
        }
        else if (current == target)
        {
            Assert.Equal(target, Assert.IsType<Decision.Unchanged>(decision).Status);
        }
        else if (Drawn.Contains((current, target)))
        {
            var move = Assert.IsType<Decision.Move>(decision);
            Assert.Equal((current, target, (DateTimeOffset?)Now), (move.From, move.To, move.Completed));
        }
        else
        {
            var refused = Assert.IsType<Decision.Refused>(decision);
            Assert.Equal(ErrorKind.InvalidStatusTransition, refused.Error.Kind);
            Assert.Equal(current, refused.Error.CurrentStatus);
        }
    }

    [Theory]
    [InlineData(0, RequestStatus.Approved)]
    [InlineData(1, RequestStatus.Pending)]
    [InlineData(5, RequestStatus.Pending)]
    public void InitialStatus_ApprovalsNeeded_ApprovedOnlyWhenNone(int needed, RequestStatus expected) =>
        Assert.Equal(expected, RequestLifecycle.InitialStatus(needed));

    [Fact]
    public void Approve_FirstOfTwo_RecordsVoteAndStaysPending()
    {
        var d = RequestLifecycle.Decide(new LifecycleState(RequestStatus.Pending, 2, []), new LifecycleCommand.Approve(Alice, "ok"), RequestPermission.Approve, Now);
        Assert.Equal(Alice, Assert.IsType<Decision.Record>(d).Vote.Approver);
    }

    [Fact]
    public void Approve_SecondDistinctApprover_MovesToApproved()
    {
        var state = new LifecycleState(RequestStatus.Pending, 2, [new ApprovalVote(Alice, true, Now, "")]);
        var move = Assert.IsType<Decision.Move>(RequestLifecycle.Decide(state, new LifecycleCommand.Approve(Bob, ""), RequestPermission.Approve, Now));
        Assert.Equal((RequestStatus.Pending, RequestStatus.Approved, (DateTimeOffset?)null), (move.From, move.To, move.Completed));
        Assert.Equal(Bob, move.Vote!.Approver);
    }

    [Fact]
    public void Approve_SameApproverTwice_CountsOnce()
    {
        var state = new LifecycleState(RequestStatus.Pending, 2, [new ApprovalVote(Alice, true, Now, "")]);
        Assert.IsType<Decision.Unchanged>(RequestLifecycle.Decide(state, new LifecycleCommand.Approve(Alice, ""), RequestPermission.Approve, Now));
    }

    [Theory]
    [InlineData(RequestStatus.Approved)]
    [InlineData(RequestStatus.Executing)]
    [InlineData(RequestStatus.Canceled)]
    [InlineData(RequestStatus.Denied)]
    public void Approve_NotPending_InvalidStatusTransition(RequestStatus status)
    {
        var d = RequestLifecycle.Decide(new LifecycleState(status, 1, []), new LifecycleCommand.Approve(Alice, ""), RequestPermission.Approve, Now);
        Assert.Equal(ErrorKind.InvalidStatusTransition, Assert.IsType<Decision.Refused>(d).Error.Kind);
    }

    [Fact]
    public void Approve_WithoutRight_Forbidden()
    {
        var d = RequestLifecycle.Decide(new LifecycleState(RequestStatus.Pending, 1, []), new LifecycleCommand.Approve(Alice, ""), RequestPermission.Deny, Now);
        Assert.Equal(ErrorKind.Forbidden, Assert.IsType<Decision.Refused>(d).Error.Kind);
    }

    [Theory]
    [InlineData("approve")]
    [InlineData("deny")]
    public void Vote_ByTargetHoldingTheRight_ForbiddenForDualControl(string verb)
    {
        var state = new LifecycleState(RequestStatus.Pending, 1, [], Originator: Alice, Target: Bob);
        LifecycleCommand command = verb == "approve" ? new LifecycleCommand.Approve(Bob, "") : new LifecycleCommand.Deny(Bob, "");
        var refused = Assert.IsType<Decision.Refused>(RequestLifecycle.Decide(state, command, RequestPermission.Approve | RequestPermission.Deny, Now));
        Assert.Equal(ErrorKind.Forbidden, refused.Error.Kind);
    }

    [Fact]
    public void Deny_AfterOwnApproval_ConflictEachApproverVotesOnce()
    {
        var state = new LifecycleState(RequestStatus.Pending, 2, [new ApprovalVote(Bob, true, Now, "")], Originator: Alice);
        var refused = Assert.IsType<Decision.Refused>(RequestLifecycle.Decide(state, new LifecycleCommand.Deny(Bob, "changed my mind"), RequestPermission.Approve | RequestPermission.Deny, Now));
        Assert.Equal((ErrorKind.Conflict, "decision"), (refused.Error.Kind, refused.Error.Field));
    }

    [Fact]
    public void Approve_AfterOwnDenialOfAnotherPendingVote_Conflict()
    {
        // A denial is final for the request; a recorded denial (state kept Pending by hand) still counts as the vote.
        var state = new LifecycleState(RequestStatus.Pending, 2, [new ApprovalVote(Bob, false, Now, "")], Originator: Alice);
        var refused = Assert.IsType<Decision.Refused>(RequestLifecycle.Decide(state, new LifecycleCommand.Approve(Bob, ""), RequestPermission.Approve, Now));
        Assert.Equal(ErrorKind.Conflict, refused.Error.Kind);
    }

    [Fact]
    public void Approve_ByOriginatorHoldingTheRight_ForbiddenForDualControl()
    {
        var state = new LifecycleState(RequestStatus.Pending, 1, [], Originator: Alice);
        var approve = RequestLifecycle.Decide(state, new LifecycleCommand.Approve(Alice, ""), RequestPermission.Approve | RequestPermission.Deny, Now);
        var deny = RequestLifecycle.Decide(state, new LifecycleCommand.Deny(Alice, ""), RequestPermission.Approve | RequestPermission.Deny, Now);
        Assert.Equal(ErrorKind.Forbidden, Assert.IsType<Decision.Refused>(approve).Error.Kind);
        Assert.Equal(ErrorKind.Forbidden, Assert.IsType<Decision.Refused>(deny).Error.Kind);
        Assert.IsType<Decision.Move>(RequestLifecycle.Decide(state, new LifecycleCommand.Approve(Bob, ""), RequestPermission.Approve, Now));
    }

    [Fact]
    public void Deny_AfterOneApproval_MovesToDeniedWithCompletedTime()
    {
        var state = new LifecycleState(RequestStatus.Pending, 2, [new ApprovalVote(Alice, true, Now, "")]);
        var move = Assert.IsType<Decision.Move>(RequestLifecycle.Decide(state, new LifecycleCommand.Deny(Bob, "no"), RequestPermission.Deny, Now));
        Assert.Equal((RequestStatus.Denied, (DateTimeOffset?)Now, false), (move.To, move.Completed, move.Vote!.Approve));
    }

    [Fact]
    public void Deny_RepeatedBySameApprover_Unchanged()
    {
        var state = new LifecycleState(RequestStatus.Denied, 2, [new ApprovalVote(Bob, false, Now, "")]);
        Assert.IsType<Decision.Unchanged>(RequestLifecycle.Decide(state, new LifecycleCommand.Deny(Bob, ""), RequestPermission.Deny, Now));
    }

    [Fact]
    public void Deny_WithoutRight_Forbidden()
    {
        var d = RequestLifecycle.Decide(new LifecycleState(RequestStatus.Pending, 1, []), new LifecycleCommand.Deny(Bob, ""), RequestPermission.Approve, Now);
        Assert.Equal(ErrorKind.Forbidden, Assert.IsType<Decision.Refused>(d).Error.Kind);
    }

    [Theory]
    [InlineData(RequestStatus.Approved, "Move")]
    [InlineData(RequestStatus.Executing, "Unchanged")]
    [InlineData(RequestStatus.Pending, "Refused")]
    [InlineData(RequestStatus.Completed, "Refused")]
    public void BeginExecution_ByStatus_OnlyFromApproved(RequestStatus status, string outcome)
    {
        var d = RequestLifecycle.Decide(new LifecycleState(status, 0, []), new LifecycleCommand.BeginExecution(), RequestPermission.Execute, Now);
        Assert.Equal(outcome, d.GetType().Name);
    }

    [Theory]
    [InlineData(RequestStatus.Executing, true)]
    [InlineData(RequestStatus.Approved, false)]
    [InlineData(RequestStatus.Completed, false)]
    public void FailExecution_OnlyWhileExecuting_SetsCompletedTime(RequestStatus status, bool moves)
    {
        var d = RequestLifecycle.Decide(new LifecycleState(status, 0, []), new LifecycleCommand.FailExecution(), RequestPermission.None, Now);
        if (moves)
        {
            var move = Assert.IsType<Decision.Move>(d);
            Assert.Equal((RequestStatus.Failed, (DateTimeOffset?)Now), (move.To, move.Completed));
        }
        else
        {
            Assert.IsType<Decision.Refused>(d);
        }
    }

    [Fact]
    public void FinishExecution_Executing_Completes()
    {
        var d = RequestLifecycle.Decide(new LifecycleState(RequestStatus.Executing, 0, []), new LifecycleCommand.FinishExecution(), RequestPermission.None, Now);
        Assert.Equal(RequestStatus.Completed, Assert.IsType<Decision.Move>(d).To);
    }

    [Theory]
    [InlineData(RequestStatus.Completed, true)]
    [InlineData(RequestStatus.Canceled, true)]
    [InlineData(RequestStatus.Abandoned, true)]
    [InlineData(RequestStatus.Denied, true)]
    [InlineData(RequestStatus.Failed, true)]
    [InlineData(RequestStatus.Pending, false)]
    [InlineData(RequestStatus.Approved, false)]
    [InlineData(RequestStatus.Executing, false)]
    public void IsTerminal_Status_PerSpec(RequestStatus status, bool terminal) => Assert.Equal(terminal, status.IsTerminal());
}

public class ExecutionEffectsTests
{
    private static readonly Guid NewProfile = Guid.NewGuid();
    private static readonly ProfileTransition OldProfile = new(Guid.NewGuid(), ProfileStatus.Active, ProfileStatus.Retired, ProfileRules.Superseded);
    private static readonly DateTimeOffset At = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);

    // The hand-written oracle of SPEC §4 "Effects": what each move does, with and without a new and an old profile.
    public static TheoryData<RequestStatus, RequestStatus, bool, bool, string> Cases => new()
    {
        { RequestStatus.Executing, RequestStatus.Completed, true, false, "Finalize" },
        { RequestStatus.Executing, RequestStatus.Completed, true, true, "Finalize,ChangeProfile" },
        { RequestStatus.Executing, RequestStatus.Completed, false, true, "ChangeProfile" },
        { RequestStatus.Executing, RequestStatus.Completed, false, false, "" },
        { RequestStatus.Executing, RequestStatus.Canceled, true, true, "Undo" },
        { RequestStatus.Executing, RequestStatus.Abandoned, true, false, "Undo" },
        { RequestStatus.Executing, RequestStatus.Failed, true, false, "Undo" },
        { RequestStatus.Executing, RequestStatus.Canceled, false, true, "" },
        { RequestStatus.Approved, RequestStatus.Canceled, true, true, "" },
        { RequestStatus.Approved, RequestStatus.Executing, true, true, "" },
        { RequestStatus.Pending, RequestStatus.Approved, false, true, "" },
        { RequestStatus.Pending, RequestStatus.Denied, false, true, "" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void For_Move_MatchesSpecEffects(RequestStatus from, RequestStatus to, bool hasNew, bool hasOld, string expected)
    {
        var effects = ExecutionEffects.For(from, to, hasNew ? NewProfile : Guid.Empty, hasOld ? OldProfile : null, At);
        Assert.Equal(expected, string.Join(",", effects.Select(e => e.GetType().Name)));
        foreach (var effect in effects)
        {
            switch (effect)
            {
                case Effect.Finalize f:
                    Assert.Equal(NewProfile, f.Profile);
                    break;
                case Effect.Undo u:
                    Assert.Equal((NewProfile, ProfileRules.CessationOfOperation, At), (u.Profile, u.Reason, u.At));
                    break;
                case Effect.ChangeProfile c:
                    Assert.Equal((OldProfile, At), (c.Transition, c.At));
                    break;
            }
        }
    }
}

public class CardEffectsTests
{
    [Theory]
    [InlineData(RequestStatus.Completed, SmartcardStatus.Active)]
    [InlineData(RequestStatus.Canceled, SmartcardStatus.New)]
    [InlineData(RequestStatus.Abandoned, SmartcardStatus.New)]
    [InlineData(RequestStatus.Failed, SmartcardStatus.New)]
    public void For_ExecutingRequestWithACard_TheCardMovesFromAssigned(RequestStatus to, SmartcardStatus cardTo)
    {
        var card = Guid.NewGuid();
        var move = Assert.Single(ExecutionEffects.For(RequestStatus.Executing, to, Guid.Empty, null, DateTimeOffset.UnixEpoch, card).OfType<Effect.MoveCard>());
        Assert.Equal((card, SmartcardStatus.Assigned, cardTo), (move.Card, move.From, move.To));
    }

    [Fact]
    public void For_NoCard_NoCardEffect() =>
        Assert.Empty(ExecutionEffects.For(RequestStatus.Executing, RequestStatus.Completed, Guid.Empty, null, DateTimeOffset.UnixEpoch));
}

public class ProfileRulesTests
{
    [Theory]
    [InlineData(ProfileStatus.Active, RequestType.Revoke, true)]
    [InlineData(ProfileStatus.Active, RequestType.Renew, true)]
    [InlineData(ProfileStatus.Active, RequestType.Reinstate, false)]
    [InlineData(ProfileStatus.Suspended, RequestType.Reinstate, true)]
    [InlineData(ProfileStatus.Disabled, RequestType.Retire, true)]
    [InlineData(ProfileStatus.Disabled, RequestType.Revoke, false)]
    [InlineData(ProfileStatus.New, RequestType.Retire, false)]
    [InlineData(ProfileStatus.Retired, RequestType.Retire, false)]
    public void AllowedTypes_ByStatus(ProfileStatus status, RequestType type, bool allowed) =>
        Assert.Equal(allowed, ProfileRules.AllowedTypes(status).Contains(type));

    [Theory]
    [InlineData(RequestType.Revoke, ProfileStatus.Disabled, 0)]
    [InlineData(RequestType.Retire, ProfileStatus.Retired, 5)]
    [InlineData(RequestType.Renew, ProfileStatus.Retired, 4)]
    [InlineData(RequestType.OnlineUpdate, ProfileStatus.Retired, 4)]
    public void OnCompletion_Type_ChangesOldProfile(RequestType type, ProfileStatus to, int reason)
    {
        var id = Guid.NewGuid();
        Assert.Equal(new ProfileTransition(id, ProfileStatus.Active, to, reason), ProfileRules.OnCompletion(type, id, ProfileStatus.Active));
    }

    [Theory]
    [InlineData("certificateHold", 6, ProfileStatus.Suspended)]
    [InlineData("KEYCOMPROMISE", 1, ProfileStatus.Disabled)]
    [InlineData("nonsense", 0, ProfileStatus.Disabled)]
    [InlineData(null, 0, ProfileStatus.Disabled)]
    public void Revoke_Reason_HoldSuspendsOthersDisable(string? reason, int code, ProfileStatus to)
    {
        IReadOnlyList<DataItem> data = reason is null ? [] : [new DataItem(ProfileRules.RevocationReasonItem, reason)];
        Assert.Equal(code, ProfileRules.RevocationReason(data));
        Assert.Equal(to, ProfileRules.OnCompletion(RequestType.Revoke, Guid.NewGuid(), ProfileStatus.Active, code)!.To);
    }

    [Fact]
    public void Reinstate_SuspendedProfile_ActiveAndHoldsReleased()
    {
        var t = ProfileRules.OnCompletion(RequestType.Reinstate, Guid.NewGuid(), ProfileStatus.Suspended)!;
        Assert.Equal((ProfileStatus.Active, (int?)null, true), (t.To, t.RevocationReason, t.ReleaseHolds));
    }

    [Theory]
    [InlineData(RequestType.Enroll)]
    [InlineData(RequestType.Duplicate)]
    [InlineData(RequestType.Recover)]
    public void OnCompletion_TypesThatLeaveTheOldProfile_None(RequestType type) => Assert.Null(ProfileRules.OnCompletion(type, Guid.NewGuid(), ProfileStatus.Active));
}
