using OpenCM.Domain;
using OpenCM.Server.Portal;

namespace OpenCM.Server.Tests;

/// <summary>Issue #23.11 and #23.13: the words the portal leads with, and the lists it offers, each decided in one pure place.</summary>
public sealed class PortalNextStepTests
{
    // The facts (type, status, approvals needed and given, may vote, key step, browser keys, waits for the card client, may complete) → headline, tone.
    public static TheoryData<NextStepFacts, string, NextStepTone> States => new()
    {
        { new(RequestType.Enroll, RequestStatus.Pending, 2, 0, false, false, false, false, false), "Waiting for 2 more approvals", NextStepTone.Waiting },
        { new(RequestType.Enroll, RequestStatus.Pending, 2, 1, false, false, false, false, false), "Waiting for 1 more approval", NextStepTone.Waiting },
        { new(RequestType.Enroll, RequestStatus.Pending, 0, 0, false, false, false, false, false), "Waiting for approval", NextStepTone.Waiting },
        { new(RequestType.Enroll, RequestStatus.Pending, 2, 1, true, false, false, false, false), "Your decision is needed", NextStepTone.Action },
        { new(RequestType.Enroll, RequestStatus.Approved, 2, 2, false, true, true, false, false), "Approved: make your key now", NextStepTone.Action },
        { new(RequestType.Recover, RequestStatus.Approved, 0, 0, false, true, false, false, false), "Approved: get your keys now", NextStepTone.Action },
        { new(RequestType.Enroll, RequestStatus.Approved, 0, 0, false, false, false, true, false), "Approved: finish it at the card", NextStepTone.Action },
        { new(RequestType.Enroll, RequestStatus.Executing, 0, 0, false, false, false, true, false), "In progress at the card", NextStepTone.Action },
        { new(RequestType.Enroll, RequestStatus.Executing, 0, 0, false, false, false, false, true), "Almost done: mark it complete", NextStepTone.Action },
        { new(RequestType.Enroll, RequestStatus.Approved, 0, 0, false, false, false, false, false), "Approved", NextStepTone.Waiting },
        { new(RequestType.Enroll, RequestStatus.Executing, 0, 0, false, false, false, false, false), "In progress", NextStepTone.Waiting },
        { new(RequestType.Enroll, RequestStatus.Completed, 0, 0, false, false, false, false, false), "Completed", NextStepTone.Done },
        { new(RequestType.Revoke, RequestStatus.Completed, 1, 1, false, false, false, false, false), "Completed", NextStepTone.Done },
        { new(RequestType.Enroll, RequestStatus.Denied, 2, 0, false, false, false, false, false), "Denied", NextStepTone.Ended },
        { new(RequestType.Enroll, RequestStatus.Canceled, 2, 0, false, false, false, false, false), "Canceled", NextStepTone.Ended },
        { new(RequestType.Enroll, RequestStatus.Abandoned, 0, 0, false, false, false, false, false), "Abandoned", NextStepTone.Ended },
        { new(RequestType.Enroll, RequestStatus.Failed, 0, 0, false, false, false, false, false), "Failed", NextStepTone.Ended },
        { new(RequestType.Enroll, RequestStatus.None, 0, 0, false, false, false, false, false), "None", NextStepTone.Ended },
    };

    [Theory]
    [MemberData(nameof(States))]
    public void NextStep_State_HeadlineAndTone(NextStepFacts facts, string headline, NextStepTone tone)
    {
        var next = RequestNextStep.Of(facts);
        Assert.Equal((headline, tone), (next.Headline, next.Tone));
        Assert.False(string.IsNullOrWhiteSpace(next.Detail));
    }

    [Fact]
    public void NextStep_EveryStatusAndType_SaysSomething()
    {
        foreach (var type in Enum.GetValues<RequestType>())
        {
            foreach (var status in Enum.GetValues<RequestStatus>())
            {
                var next = RequestNextStep.Of(new NextStepFacts(type, status, 1, 0, false, false, false, false, false));
                Assert.False(string.IsNullOrWhiteSpace(next.Headline), $"{type} {status}");
                Assert.False(string.IsNullOrWhiteSpace(next.Detail), $"{type} {status}");
            }
        }
    }

    // Each reason offered is one the request's data names as RFC 5280 codes it (ProfileRules reads it back), none twice, removeFromCRL never.
    [Theory]
    [InlineData("unspecified", 0)]
    [InlineData("keyCompromise", 1)]
    [InlineData("affiliationChanged", 3)]
    [InlineData("superseded", 4)]
    [InlineData("cessationOfOperation", 5)]
    [InlineData("certificateHold", 6)]
    [InlineData("privilegeWithdrawn", 9)]
    public void RevocationReasons_Offered_ReadBackAsTheirRfc5280Code(string value, int code)
    {
        var choice = Assert.Single(RevocationReasons.All, r => r.Value == value);
        Assert.DoesNotContain(value, choice.Label.Split(' ')[0], StringComparison.Ordinal); // words first, not the camelCase name
        Assert.Equal(code, ProfileRules.RevocationReason([new DataItem(ProfileRules.RevocationReasonItem, choice.Value)]));
    }

    [Fact]
    public void RevocationReasons_All_SevenDistinctNoRemoveFromCrl()
    {
        Assert.Equal(7, RevocationReasons.All.Select(r => r.Value).Distinct(StringComparer.OrdinalIgnoreCase).Count());
        Assert.DoesNotContain(RevocationReasons.All, r => r.Value.Equals("removeFromCRL", StringComparison.OrdinalIgnoreCase));
        Assert.True(RevocationReasons.IsReasonItem("revocation reason"));
        Assert.False(RevocationReasons.IsReasonItem("Request Reason"));
    }

    [Theory]
    [InlineData("3f2a1b4c-0d9e-4f11-8a2b-1c2d3e4f5a6b", "3f2a1b4c")]
    [InlineData("00000000-0000-0000-0000-000000000000", "00000000")]
    [InlineData("ABCDEF01-2345-6789-ABCD-EF0123456789", "abcdef01")]
    public void ShortId_Uuid_FirstEightHexLowerCase(string uuid, string shortId) => Assert.Equal(shortId, PortalText.ShortId(Guid.Parse(uuid)));
}
