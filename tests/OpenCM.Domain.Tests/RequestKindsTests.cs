using OpenCM.Domain;

namespace OpenCM.Domain.Tests;

/// <summary>
/// Every request kind (type × software or card) pinned, column by column, to what the
/// type-keyed predicates answered before the kind table replaced them (issue #17). The
/// expectations were written from those predicates and checked against them first.
/// </summary>
public class RequestKindsTests
{
    private static readonly Guid Id = Guid.Parse("17cf063d-e337-4aa9-a822-346554ddd3c9");

    // type, on a card → supported, keys, server-executed, card binding, unblock,
    // profile on completion (unspecified reason / certificateHold), card on completion (same),
    // card statuses a PUT /requests/{rid}/smartcards/{id} may ask for,
    // statuses (Active, Suspended, Disabled) of the named credential that allow it.
    public static TheoryData<RequestType, bool, string> Rows() => new()
    {
        { RequestType.Enroll, false, "yes|issue|client|-|-|-/-|-/-|-|---" },
        { RequestType.Duplicate, false, "yes|issue|client|-|-|-/-|-/-|-|A--" },
        { RequestType.OnlineUpdate, false, "yes|issue|client|-|-|Retired/Retired|-/-|-|A--" },
        { RequestType.TemporaryCards, false, "no|-|client|-|-|-/-|-/-|-|---" },
        { RequestType.Unblock, false, "no|-|client|-|-|-/-|-/-|-|---" },
        { RequestType.Retire, false, "yes|-|server|-|-|Retired/Retired|-/-|-|ASD" },
        { RequestType.Revoke, false, "yes|-|server|-|-|Disabled/Suspended|-/-|-|A--" },
        { RequestType.Recover, false, "yes|recover|client|-|-|-/-|-/-|-|A--" },
        { RequestType.RecoverOnBehalf, false, "yes|recover|client|-|-|-/-|-/-|-|A--" },
        { RequestType.Renew, false, "yes|issue|client|-|-|Retired/Retired|-/-|-|A--" },
        { RequestType.Reinstate, false, "yes|-|server|-|-|Active/Active|-/-|-|-S-" },
        { RequestType.OfflineUnblock, false, "no|-|client|-|-|-/-|-/-|-|---" },

        { RequestType.Enroll, true, "yes|issue|client|new|-|-/-|-/-|-|---" },
        { RequestType.Duplicate, true, "yes|issue|client|new|-|-/-|-/-|-|A--" },
        { RequestType.OnlineUpdate, true, "yes|issue|client|in place|-|Retired/Retired|-/-|-|A--" },
        { RequestType.TemporaryCards, true, "yes|issue|client|new|-|Suspended/Suspended|Suspended/Suspended|-|A--" },
        { RequestType.Unblock, true, "yes|-|client|in place|unblock|-/-|-/-|-|A--" },
        { RequestType.Retire, true, "yes|-|client|in place|-|Retired/Retired|Retired/Retired|Retired|ASD" },
        { RequestType.Revoke, true, "yes|-|server|in place|-|Disabled/Suspended|Disabled/Suspended|Suspended,Disabled|A--" },
        { RequestType.Recover, true, "yes|issue+history|client|new|-|Disabled/Disabled|Disabled/Disabled|-|A--" },
        { RequestType.RecoverOnBehalf, true, "no|recover|client|-|-|-/-|-/-|-|---" },
        { RequestType.Renew, true, "yes|issue|client|in place|-|Retired/Retired|-/-|-|A--" },
        { RequestType.Reinstate, true, "yes|-|server|in place|-|Active/Active|-/-|Active|-S-" },
        { RequestType.OfflineUnblock, true, "yes|-|client|in place|unblock|-/-|-/-|-|A--" },
    };

    [Theory]
    [MemberData(nameof(Rows))]
    public void Kind_EveryTypeOnSoftwareOrCard_AsBeforeTheTable(RequestType type, bool onCard, string expected) =>
        Assert.Equal(expected, Describe(type, onCard));

    // The columns of a kind, in the order of the rows above.
    private static string Describe(RequestType type, bool onCard)
    {
        var kind = RequestKinds.Of(type, onCard ? Medium.Smartcard : Medium.Software);
        var keys = kind.Keys switch
        {
            KeyWork.RecoverArchived => "recover",
            KeyWork.Issue => "issue",
            KeyWork.IssueWithKeyHistory => "issue+history",
            _ => "-",
        };
        var binding = kind.Binding switch
        {
            CardBinding.NewCard => "new",
            CardBinding.InPlace => "in place",
            _ => "-",
        };
        string Profile(int reason) => kind.ProfileOnCompletion(Id, ProfileStatus.Active, reason)?.To.ToString() ?? "-";
        string Card(int reason) => kind.CardOnCompletion(Id, SmartcardStatus.Active, reason)?.To.ToString() ?? "-";
        var put = string.Join(",", new[] { SmartcardStatus.Active, SmartcardStatus.Suspended, SmartcardStatus.Disabled, SmartcardStatus.Retired }
            .Where(s => kind.CommandFor(s) is not null));
        var from = string.Concat(new[] { ("A", AllowedFrom.Active), ("S", AllowedFrom.Suspended), ("D", AllowedFrom.Disabled) }.Select(s => kind.Allows(s.Item2) ? s.Item1 : "-"));
        return string.Join("|", kind.Supported ? "yes" : "no", keys, kind.ServerExecutes ? "server" : "client", binding, kind.AnswersCardChallenge ? "unblock" : "-",
            $"{Profile(ProfileRules.Unspecified)}/{Profile(ProfileRules.CertificateHold)}",
            $"{Card(ProfileRules.Unspecified)}/{Card(ProfileRules.CertificateHold)}",
            put.Length == 0 ? "-" : put, from);
    }

    // The statuses a card's and a profile's status allow are read off the rows, in the rows' order.
    [Theory]
    [InlineData(SmartcardStatus.Active, "OnlineUpdate,Renew,Duplicate,Recover,Retire,Revoke,Unblock,OfflineUnblock,TemporaryCards")]
    [InlineData(SmartcardStatus.Suspended, "Reinstate,Retire")]
    [InlineData(SmartcardStatus.Disabled, "Retire")]
    [InlineData(SmartcardStatus.Retired, "")]
    public void AllowedOn_CardStatus_InOfferOrder(SmartcardStatus status, string expected) =>
        Assert.Equal(expected, string.Join(",", RequestKinds.AllowedOn(status)));

    [Theory]
    [InlineData(ProfileStatus.Active, "OnlineUpdate,Renew,Duplicate,Recover,RecoverOnBehalf,Revoke,Retire")]
    [InlineData(ProfileStatus.Suspended, "Reinstate,Retire")]
    [InlineData(ProfileStatus.Disabled, "Retire")]
    [InlineData(ProfileStatus.Retired, "")]
    public void AllowedOn_ProfileStatus_InOfferOrder(ProfileStatus status, string expected) =>
        Assert.Equal(expected, string.Join(",", RequestKinds.AllowedOn(status)));

    // The rest of each row: what it acts on, how a new card points at the named one, who may execute.
    [Theory]
    [InlineData(RequestType.Enroll, false, ActsOn.NewCredential, CardLink.None, true, false)]
    [InlineData(RequestType.Enroll, true, ActsOn.NewCredential, CardLink.None, true, false)]
    [InlineData(RequestType.TemporaryCards, false, ActsOn.NewCredential, CardLink.None, true, false)]
    [InlineData(RequestType.TemporaryCards, true, ActsOn.Card, CardLink.Permanent, true, true)]
    [InlineData(RequestType.Recover, true, ActsOn.Card, CardLink.Parent, true, false)]
    [InlineData(RequestType.Duplicate, true, ActsOn.Card, CardLink.Primary, true, false)]
    [InlineData(RequestType.Renew, false, ActsOn.SoftwareProfile, CardLink.None, true, false)]
    [InlineData(RequestType.Unblock, false, ActsOn.SoftwareProfile, CardLink.None, true, false)]
    [InlineData(RequestType.RecoverOnBehalf, false, ActsOn.SoftwareProfile, CardLink.None, false, false)]
    [InlineData(RequestType.RecoverOnBehalf, true, ActsOn.Card, CardLink.None, false, false)]
    public void Kind_ActsOnLinkAndWhoExecutes_AsTheRowSays(RequestType type, bool onCard, ActsOn actsOn, CardLink link, bool targetExecutes, bool capsValidity)
    {
        var kind = RequestKinds.Of(type, onCard ? Medium.Smartcard : Medium.Software);
        Assert.Equal((actsOn, link, targetExecutes, capsValidity), (kind.ActsOn, kind.Link, kind.TargetMayExecute, kind.CapsValidity));
    }

    [Fact]
    public void NeedsNewerTemplate_OnlyOnlineUpdate() =>
        Assert.Equal(["OnlineUpdate/Software", "OnlineUpdate/Smartcard"], RequestKinds.All.Where(k => k.NeedsNewerTemplate).Select(k => $"{k.Type}/{k.Medium}"));

    [Fact]
    public void Of_EveryTypeOnEveryMedium_OneRow()
    {
        foreach (var type in Enum.GetValues<RequestType>().Where(t => t != RequestType.None))
        {
            Assert.Single(RequestKinds.All, k => k.Type == type && k.Medium == Medium.Software);
            Assert.Single(RequestKinds.All, k => k.Type == type && k.Medium == Medium.Smartcard);
        }
    }

    // Bug B (issue #17): a kind on a card in place names the card in both wire fields, as
    // get-request.md's example 2 (an Unblock) does; a kind that takes a new card names the bound card in New.
    [Theory]
    [InlineData(RequestType.Unblock, false, "named", "named")]
    [InlineData(RequestType.Renew, false, "named", "named")]
    [InlineData(RequestType.Retire, false, "named", "named")]
    [InlineData(RequestType.Revoke, false, "named", "named")]
    [InlineData(RequestType.Duplicate, false, "none", "named")]
    [InlineData(RequestType.Duplicate, true, "bound", "named")]
    [InlineData(RequestType.Enroll, true, "bound", "none")]
    public void WireCards_CardKinds_NameTheCardAsTheReference(RequestType type, bool bound, string expectedNew, string expectedOld)
    {
        var (named, boundCard) = (Guid.NewGuid(), Guid.NewGuid());
        var request = new CmRequest
        {
            Uuid = Guid.NewGuid(), RequestType = type, Status = RequestStatus.Approved, Flags = RequestFlags.Smartcard,
            OldSmartcardUuid = type == RequestType.Enroll ? Guid.Empty : named, NewSmartcardUuid = bound ? boundCard : Guid.Empty,
        };
        var (n, o) = RequestKinds.Of(request).WireCards(request);
        string Name(Guid g) => g == named ? "named" : g == boundCard ? "bound" : g == Guid.Empty ? "none" : "?";
        Assert.Equal((expectedNew, expectedOld), (Name(n), Name(o)));
    }
}
