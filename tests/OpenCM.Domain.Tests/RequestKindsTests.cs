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
        var supported = type == RequestType.Enroll || (onCard ? SmartcardRules.IsSupported(type) : ProfileRules.IsSupported(type));
        var keys = ProfileRules.IsKeyRecovery(type, onCard) ? "recover"
            : ProfileRules.IssuesNewProfile(type, onCard) ? (type == RequestType.Recover && onCard ? "issue+history" : "issue")
            : "-";
        var server = ProfileRules.IsServerExecuted(type, onCard) ? "server" : "client";
        var binding = !onCard ? "-" : SmartcardRules.TakesNewCard(type) ? "new" : SmartcardRules.WorksInPlace(type) ? "in place" : "-";
        var unblock = onCard && SmartcardRules.IsUnblock(type) ? "unblock" : "-";
        string Profile(int reason) => ProfileRules.OnCompletion(type, Id, ProfileStatus.Active, reason, onCard)?.To.ToString() ?? "-";
        string Card(int reason) => onCard ? SmartcardRules.OnCompletion(type, Id, SmartcardStatus.Active, reason)?.To.ToString() ?? "-" : "-";
        var put = onCard
            ? string.Join(",", new[] { SmartcardStatus.Active, SmartcardStatus.Suspended, SmartcardStatus.Disabled, SmartcardStatus.Retired }
                .Where(s => SmartcardLifecycle.CommandFor(type, s) is not null))
            : "";
        var from = string.Concat(new[] { ("A", 0), ("S", 1), ("D", 2) }.Select(s => Allows(type, onCard, s.Item2) ? s.Item1 : "-"));
        return string.Join("|", supported ? "yes" : "no", keys, server, binding, unblock,
            $"{Profile(ProfileRules.Unspecified)}/{Profile(ProfileRules.CertificateHold)}",
            $"{Card(ProfileRules.Unspecified)}/{Card(ProfileRules.CertificateHold)}",
            put.Length == 0 ? "-" : put, from);
    }

    private static readonly SmartcardStatus[] CardStatuses = [SmartcardStatus.Active, SmartcardStatus.Suspended, SmartcardStatus.Disabled];
    private static readonly ProfileStatus[] ProfileStatuses = [ProfileStatus.Active, ProfileStatus.Suspended, ProfileStatus.Disabled];

    private static bool Allows(RequestType type, bool onCard, int status) => onCard
        ? SmartcardRules.AllowedTypes(CardStatuses[status]).Contains(type)
        : ProfileRules.AllowedTypes(ProfileStatuses[status]).Contains(type);
}
