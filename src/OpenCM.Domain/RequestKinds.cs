namespace OpenCM.Domain;

/// <summary>What a request's credential lives on: a software profile's keys, or a smart card.</summary>
public enum Medium
{
    Software,
    Smartcard,
}

/// <summary>What a request acts on (SPEC §2): a credential it creates, or an existing one it names.</summary>
public enum ActsOn
{
    /// <summary>A credential the request creates (Enroll; the create body names a template).</summary>
    NewCredential,

    /// <summary>An existing software profile, named in the create body's <c>profile</c>.</summary>
    SoftwareProfile,

    /// <summary>An existing card in use, named in the create body's <c>smartcard</c>.</summary>
    Card,
}

/// <summary>What executing a request does with keys (SPEC §7).</summary>
public enum KeyWork
{
    None,

    /// <summary>New certificates through POST certificatedata, in a new profile.</summary>
    Issue,

    /// <summary>As <see cref="Issue"/>, and the named credential's archived keys returned as key history.</summary>
    IssueWithKeyHistory,

    /// <summary>The named profile's archived keys returned (PFX), nothing issued.</summary>
    RecoverArchived,
}

/// <summary>
/// A step of a request's execution and who takes it (SPEC §4): a client call, or the server
/// by itself as soon as the request is Approved.
/// </summary>
public enum Step
{
    /// <summary>OpenCM does not execute the kind.</summary>
    None,

    /// <summary>The server, as soon as the request is Approved.</summary>
    Server,

    /// <summary>The client's POST /requests/{id}/certificatedata.</summary>
    CertificateData,

    /// <summary>The card's client binding a new card: POST /smartcards (walkthrough step 14).</summary>
    CardBinding,

    /// <summary>The card's client asking for the answer to the card's admin challenge: GET …/authenticationresponse (walkthrough step 19).</summary>
    CardChallenge,

    /// <summary>The card's client saying it did the card's part: PUT /requests/{rid}/smartcards/{id}.</summary>
    CardStatus,

    /// <summary>The client's PUT /requests/{id} with status Completed.</summary>
    ClientCompletes,
}

/// <summary>How a request gets the card its execution works on.</summary>
public enum CardBinding
{
    /// <summary>No card: a software request, or a card request OpenCM does not execute.</summary>
    None,

    /// <summary>A new card, bound by POST /smartcards.</summary>
    NewCard,

    /// <summary>The card the request names, worked on in place.</summary>
    InPlace,
}

/// <summary>How a new card bound to a request points at the card the request names.</summary>
public enum CardLink
{
    None,

    /// <summary>A replacement: <c>ParentSmartcardUuid</c>.</summary>
    Parent,

    /// <summary>A temporary card: <c>PermanentSmartcardUuid</c>.</summary>
    Permanent,

    /// <summary>A copy: <c>PrimarySmartcardUuid</c>.</summary>
    Primary,
}

/// <summary>What completing a request does to the profile and card it names (SPEC §3, §4).</summary>
public enum Completion
{
    /// <summary>The named credential keeps its status.</summary>
    None,

    /// <summary>The old profile retired, its certificates revoked as superseded (Renew, OnlineUpdate).</summary>
    Supersede,

    /// <summary>Certificates revoked: certificateHold suspends the profile and card, any other reason disables them.</summary>
    Revoke,

    /// <summary>Suspended → Active, holds released.</summary>
    Reinstate,

    /// <summary>Retired, certificates revoked (cessationOfOperation).</summary>
    Retire,

    /// <summary>The lost card and its profile disabled, certificates revoked (a card's Recover).</summary>
    ReplaceLostCard,

    /// <summary>The permanent card and its profile suspended, certificates on hold, while the temporary card is out.</summary>
    StandIn,
}

/// <summary>Statuses of the named profile or card (their Active, Suspended and Disabled) that allow a kind.</summary>
[Flags]
public enum AllowedFrom
{
    None = 0,
    Active = 1,
    Suspended = 2,
    Disabled = 4,
}

/// <summary>
/// One request kind: a request type on one medium, and everything OpenCM does differently for
/// it. Read by the use cases through <see cref="RequestKinds"/>; a new kind is one row there.
/// </summary>
/// <param name="Supported">Whether OpenCM executes the kind; the rest are refused at creation.</param>
/// <param name="Start">The step that moves it Approved → Executing.</param>
/// <param name="Finish">The step that moves it Executing → Completed.</param>
/// <param name="From">The named credential's statuses that allow creating it.</param>
/// <param name="TargetMayExecute">
/// Whether the user the request is for may execute it. Not for RecoverOnBehalf: its keys go to
/// whoever recovers on the user's behalf, else a user could recover for themselves what the
/// policy keeps from self-service (issue #7.4).
/// </param>
/// <param name="CapsValidity">Its certificates last at most the card policy's <c>temporaryCardValidityDays</c>.</param>
/// <param name="NeedsNewerTemplate">It moves the credential to its template's current version, so only a credential on an older one allows it (OnlineUpdate).</param>
public sealed record RequestKind(
    RequestType Type,
    Medium Medium,
    ActsOn ActsOn,
    bool Supported,
    KeyWork Keys,
    Step Start,
    Step Finish,
    CardBinding Binding,
    CardLink Link,
    Completion Completion,
    AllowedFrom From,
    bool TargetMayExecute = true,
    bool CapsValidity = false,
    bool NeedsNewerTemplate = false)
{
    /// <summary>Its execution issues a new profile through certificate data, as Enroll does.</summary>
    public bool IssuesNewProfile => Keys is KeyWork.Issue or KeyWork.IssueWithKeyHistory;

    /// <summary>Its execution returns the named profile's archived keys instead of issuing.</summary>
    public bool RecoversKeys => Keys == KeyWork.RecoverArchived;

    /// <summary>The server executes it by itself as soon as it is Approved.</summary>
    public bool ServerExecutes => Start == Step.Server;

    /// <summary>Its execution is the card's admin challenge answered for a new PIN (Unblock, OfflineUnblock).</summary>
    public bool AnswersCardChallenge => Start == Step.CardChallenge;

    /// <summary>
    /// Its client wipes the card it names before saying so (a card's Retire, issue #22): the
    /// card's admin challenges are answered while it is Approved, as reads that start nothing;
    /// the card status the client sets starts and ends it.
    /// </summary>
    public bool WipesCard => Medium == Medium.Smartcard && Binding == CardBinding.InPlace && Completion == Completion.Retire && Start == Step.CardStatus;

    /// <summary>
    /// Whether <c>NewSmartcardUuid</c> on the wire names the card the request was created for: a
    /// kind that works on a card in place names it in both fields (get-request.md, example 2).
    /// </summary>
    public bool NamesCardInBothFields => Binding == CardBinding.InPlace;

    /// <summary>The named profile's or card's status allows creating the kind.</summary>
    public bool Allows(AllowedFrom status) => Supported && (From & status) != 0;

    /// <summary>The card the execution works on: the one bound to it, else the one it names in place; empty when none yet.</summary>
    public Guid WorkingCard(CmRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return request.NewSmartcardUuid != Guid.Empty ? request.NewSmartcardUuid
            : Binding == CardBinding.InPlace ? request.OldSmartcardUuid
            : Guid.Empty;
    }

    /// <summary>
    /// A smart card request issues and completes only with the card it works on known (bound by
    /// POST /smartcards, or named in place): a software CSR or PFX must never stand in for the
    /// card. Null when <paramref name="request"/> may go on.
    /// </summary>
    public DomainError? RequireCard(CmRequest request, string action)
    {
        ArgumentNullException.ThrowIfNull(request);
        return Medium == Medium.Smartcard && WorkingCard(request) == Guid.Empty
            ? new DomainError(ErrorKind.Conflict, $"This request is for a smart card; {action} needs the card bound to it first (POST /smartcards).", "smartcard", request.Status)
            : null;
    }

    /// <summary>The card fields of the request on the wire: New the card bound to it, or the named card when worked on in place; Old the named card.</summary>
    public (Guid New, Guid Old) WireCards(CmRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var named = NamesCardInBothFields && request.NewSmartcardUuid == Guid.Empty ? request.OldSmartcardUuid : request.NewSmartcardUuid;
        return (named, request.OldSmartcardUuid);
    }

    /// <summary>What completing it does to the profile it names.</summary>
    /// <param name="revocationReason">For Revoke: certificateHold suspends, anything else disables.</param>
    public ProfileTransition? ProfileOnCompletion(Guid profile, ProfileStatus status, int revocationReason = ProfileRules.Unspecified) => Completion switch
    {
        Completion.Supersede => new ProfileTransition(profile, status, ProfileStatus.Retired, ProfileRules.Superseded),
        Completion.Revoke when revocationReason == ProfileRules.CertificateHold => new ProfileTransition(profile, status, ProfileStatus.Suspended, ProfileRules.CertificateHold),
        Completion.Revoke or Completion.ReplaceLostCard => new ProfileTransition(profile, status, ProfileStatus.Disabled, revocationReason),
        Completion.Reinstate => new ProfileTransition(profile, status, ProfileStatus.Active, null, ReleaseHolds: true),
        Completion.Retire => new ProfileTransition(profile, status, ProfileStatus.Retired, ProfileRules.CessationOfOperation),
        Completion.StandIn => new ProfileTransition(profile, status, ProfileStatus.Suspended, ProfileRules.CertificateHold),
        _ => null,
    };

    /// <summary>What completing it does to the card it names, by the card state machine; null when the card keeps its status.</summary>
    public CardTransition? CardOnCompletion(Guid card, SmartcardStatus status, int revocationReason = ProfileRules.Unspecified) =>
        CardCommandOnCompletion(revocationReason) is { } command && SmartcardLifecycle.Decide(status, command) is CardDecision.Move m
            ? new CardTransition(card, m.From, m.To)
            : null;

    /// <summary>
    /// The command a PUT /requests/{rid}/smartcards/{id} asking for <paramref name="target"/>
    /// stands for; null when the kind does not move its card to that status. Only the kinds that
    /// work on the named card and nothing else (Retire, Revoke, Reinstate) take it: a temporary
    /// card suspends its permanent card only by completing with the temporary card personalized.
    /// </summary>
    public CardCommand? CommandFor(SmartcardStatus target) => (Medium, Binding, Completion, target) switch
    {
        (Medium.Smartcard, CardBinding.InPlace, Completion.Retire, SmartcardStatus.Retired) => new CardCommand.Retire(),
        (Medium.Smartcard, CardBinding.InPlace, Completion.Revoke, SmartcardStatus.Disabled) => new CardCommand.Disable(),
        (Medium.Smartcard, CardBinding.InPlace, Completion.Revoke, SmartcardStatus.Suspended) => new CardCommand.Suspend(),
        (Medium.Smartcard, CardBinding.InPlace, Completion.Reinstate, SmartcardStatus.Active) => new CardCommand.Reinstate(),
        _ => null,
    };

    /// <summary>Completing it ends a card for good (Retire, or Revoke other than on hold): a temporary card's permanent card comes back.</summary>
    public bool EndsCard(int revocationReason) =>
        Medium == Medium.Smartcard && (Completion == Completion.Retire || (Completion == Completion.Revoke && revocationReason != ProfileRules.CertificateHold));

    private CardCommand? CardCommandOnCompletion(int revocationReason) => Medium != Medium.Smartcard ? null : Completion switch
    {
        Completion.Retire => new CardCommand.Retire(),
        Completion.Revoke when revocationReason == ProfileRules.CertificateHold => new CardCommand.Suspend(),
        Completion.Revoke or Completion.ReplaceLostCard => new CardCommand.Disable(),

        // The permanent card is out of use while its temporary card is out.
        Completion.StandIn => new CardCommand.Suspend(),
        Completion.Reinstate => new CardCommand.Reinstate(),
        _ => null,
    };
}

/// <summary>
/// The request kinds (issue #17): one row per request type on software and on a card, saying
/// what each acts on, what it does with keys, which step starts and which finishes its
/// execution, how it gets its card, and what completing it does. Every use case asks here; a
/// new request type is one row per medium and its tests (<c>RequestKindsTests</c>).
/// </summary>
public static class RequestKinds
{
    private const AllowedFrom A = AllowedFrom.Active;
    private const AllowedFrom S = AllowedFrom.Suspended;
    private const AllowedFrom Any = AllowedFrom.Active | AllowedFrom.Suspended | AllowedFrom.Disabled;

    // Within a medium, rows are in the order GET …/operations lists what a status allows.
    private static readonly RequestKind[] Rows =
    [
        // Software: a new profile, or the profile the request names.
        new(RequestType.Enroll, Medium.Software, ActsOn.NewCredential, true, KeyWork.Issue, Step.CertificateData, Step.ClientCompletes, CardBinding.None, CardLink.None, Completion.None, AllowedFrom.None),
        new(RequestType.OnlineUpdate, Medium.Software, ActsOn.SoftwareProfile, true, KeyWork.Issue, Step.CertificateData, Step.ClientCompletes, CardBinding.None, CardLink.None, Completion.Supersede, A, NeedsNewerTemplate: true),
        new(RequestType.Renew, Medium.Software, ActsOn.SoftwareProfile, true, KeyWork.Issue, Step.CertificateData, Step.ClientCompletes, CardBinding.None, CardLink.None, Completion.Supersede, A),
        new(RequestType.Duplicate, Medium.Software, ActsOn.SoftwareProfile, true, KeyWork.Issue, Step.CertificateData, Step.ClientCompletes, CardBinding.None, CardLink.None, Completion.None, A),
        new(RequestType.Recover, Medium.Software, ActsOn.SoftwareProfile, true, KeyWork.RecoverArchived, Step.CertificateData, Step.ClientCompletes, CardBinding.None, CardLink.None, Completion.None, A),
        new(RequestType.RecoverOnBehalf, Medium.Software, ActsOn.SoftwareProfile, true, KeyWork.RecoverArchived, Step.CertificateData, Step.ClientCompletes, CardBinding.None, CardLink.None, Completion.None, A,
            TargetMayExecute: false),
        new(RequestType.Revoke, Medium.Software, ActsOn.SoftwareProfile, true, KeyWork.None, Step.Server, Step.Server, CardBinding.None, CardLink.None, Completion.Revoke, A),
        new(RequestType.Reinstate, Medium.Software, ActsOn.SoftwareProfile, true, KeyWork.None, Step.Server, Step.Server, CardBinding.None, CardLink.None, Completion.Reinstate, S),
        new(RequestType.Retire, Medium.Software, ActsOn.SoftwareProfile, true, KeyWork.None, Step.Server, Step.Server, CardBinding.None, CardLink.None, Completion.Retire, Any),
        Unsupported(RequestType.TemporaryCards, Medium.Software, ActsOn.NewCredential),
        Unsupported(RequestType.Unblock, Medium.Software, ActsOn.SoftwareProfile),
        Unsupported(RequestType.OfflineUnblock, Medium.Software, ActsOn.SoftwareProfile),

        // Smart cards: a new card, or the card in use the request names (and its live profile).
        new(RequestType.Enroll, Medium.Smartcard, ActsOn.NewCredential, true, KeyWork.Issue, Step.CardBinding, Step.ClientCompletes, CardBinding.NewCard, CardLink.None, Completion.None, AllowedFrom.None),
        new(RequestType.OnlineUpdate, Medium.Smartcard, ActsOn.Card, true, KeyWork.Issue, Step.CertificateData, Step.ClientCompletes, CardBinding.InPlace, CardLink.None, Completion.Supersede, A, NeedsNewerTemplate: true),
        new(RequestType.Renew, Medium.Smartcard, ActsOn.Card, true, KeyWork.Issue, Step.CertificateData, Step.ClientCompletes, CardBinding.InPlace, CardLink.None, Completion.Supersede, A),
        new(RequestType.Duplicate, Medium.Smartcard, ActsOn.Card, true, KeyWork.Issue, Step.CardBinding, Step.ClientCompletes, CardBinding.NewCard, CardLink.Primary, Completion.None, A),
        new(RequestType.Recover, Medium.Smartcard, ActsOn.Card, true, KeyWork.IssueWithKeyHistory, Step.CardBinding, Step.ClientCompletes, CardBinding.NewCard, CardLink.Parent, Completion.ReplaceLostCard, A),
        new(RequestType.Reinstate, Medium.Smartcard, ActsOn.Card, true, KeyWork.None, Step.Server, Step.Server, CardBinding.InPlace, CardLink.None, Completion.Reinstate, S),

        // Retiring a card waits for its client, which wipes the card and then says so; revoking
        // or reinstating one needs no card at hand (a lost card is revoked).
        new(RequestType.Retire, Medium.Smartcard, ActsOn.Card, true, KeyWork.None, Step.CardStatus, Step.CardStatus, CardBinding.InPlace, CardLink.None, Completion.Retire, Any),
        new(RequestType.Revoke, Medium.Smartcard, ActsOn.Card, true, KeyWork.None, Step.Server, Step.Server, CardBinding.InPlace, CardLink.None, Completion.Revoke, A),
        new(RequestType.Unblock, Medium.Smartcard, ActsOn.Card, true, KeyWork.None, Step.CardChallenge, Step.ClientCompletes, CardBinding.InPlace, CardLink.None, Completion.None, A),
        new(RequestType.OfflineUnblock, Medium.Smartcard, ActsOn.Card, true, KeyWork.None, Step.CardChallenge, Step.ClientCompletes, CardBinding.InPlace, CardLink.None, Completion.None, A),
        new(RequestType.TemporaryCards, Medium.Smartcard, ActsOn.Card, true, KeyWork.Issue, Step.CardBinding, Step.ClientCompletes, CardBinding.NewCard, CardLink.Permanent, Completion.StandIn, A,
            CapsValidity: true),
        Unsupported(RequestType.RecoverOnBehalf, Medium.Smartcard, ActsOn.Card) with { Keys = KeyWork.RecoverArchived, TargetMayExecute = false },
    ];

    private static readonly Dictionary<(RequestType, Medium), RequestKind> ByKey = Rows.ToDictionary(r => (r.Type, r.Medium));

    /// <summary>Every kind, software first, each medium in the order its operations are listed.</summary>
    public static IReadOnlyList<RequestKind> All => Rows;

    /// <summary>The kind of <paramref name="type"/> on <paramref name="medium"/>; an unsupported one for a type OpenCM does not know.</summary>
    public static RequestKind Of(RequestType type, Medium medium) =>
        ByKey.TryGetValue((type, medium), out var kind) ? kind : Unsupported(type, medium, ActsOn.NewCredential);

    /// <summary>The kind of <paramref name="request"/>: its type on a card when it is a smart card request, else on software.</summary>
    public static RequestKind Of(CmRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return Of(request.RequestType, request.IsSmartcard ? Medium.Smartcard : Medium.Software);
    }

    /// <summary>The request types a profile's status allows, in the order they are offered.</summary>
    public static IReadOnlyList<RequestType> AllowedOn(ProfileStatus status) => Allowed(Medium.Software, From(status));

    /// <summary>The request types a card's status allows, in the order they are offered.</summary>
    public static IReadOnlyList<RequestType> AllowedOn(SmartcardStatus status) => Allowed(Medium.Smartcard, From(status));

    private static RequestType[] Allowed(Medium medium, AllowedFrom status) =>
        [.. Rows.Where(r => r.Medium == medium && r.Allows(status)).Select(r => r.Type)];

    private static AllowedFrom From(ProfileStatus status) => status switch
    {
        ProfileStatus.Active => AllowedFrom.Active,
        ProfileStatus.Suspended => AllowedFrom.Suspended,
        ProfileStatus.Disabled => AllowedFrom.Disabled,
        _ => AllowedFrom.None,
    };

    private static AllowedFrom From(SmartcardStatus status) => status switch
    {
        SmartcardStatus.Active => AllowedFrom.Active,
        SmartcardStatus.Suspended => AllowedFrom.Suspended,
        SmartcardStatus.Disabled => AllowedFrom.Disabled,
        _ => AllowedFrom.None,
    };

    private static RequestKind Unsupported(RequestType type, Medium medium, ActsOn actsOn) =>
        new(type, medium, actsOn, false, KeyWork.None, Step.None, Step.None, CardBinding.None, CardLink.None, Completion.None, AllowedFrom.None);
}
