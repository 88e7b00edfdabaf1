using System.Globalization;
using OpenCM.Domain;

namespace OpenCM.Server.Portal;

/// <summary>How a request's next step reads: something to wait for, something to do now, done, or ended without a result.</summary>
public enum NextStepTone
{
    Waiting,
    Action,
    Done,
    Ended,
}

/// <summary>What a request page says first (issue #23.11): a headline in words, and a sentence on what happens next.</summary>
public sealed record NextStep(string Headline, string Detail, NextStepTone Tone);

/// <summary>
/// The facts about a request, as the caller sees it, that decide its next step: its state
/// (docs/state-machine.md), and what the page offers the caller now (each decided elsewhere,
/// by <see cref="Application.RequestOffers"/> and the key plan).
/// </summary>
public sealed record NextStepFacts(
    RequestType Type,
    RequestStatus Status,
    int ApprovalsNeeded,
    int Approvals,
    bool CanVote,
    bool HasKeyStep,
    bool KeysMadeInBrowser,
    bool WaitsForCardClient,
    bool CanComplete);

/// <summary>
/// The one place a request's state becomes the words the portal leads with (issue #23.11), so
/// that the page, its tests and any list say the same. Pure and total: every state has a sentence.
/// </summary>
public static class RequestNextStep
{
    public static NextStep Of(NextStepFacts facts)
    {
        ArgumentNullException.ThrowIfNull(facts);
        return facts.Status switch
        {
            RequestStatus.Pending when facts.CanVote => new("Your decision is needed",
                "Approve or deny this request below; the person who asked sees your decision and comment.", NextStepTone.Action),
            RequestStatus.Pending => new(WaitingFor(facts.ApprovalsNeeded - facts.Approvals),
                "An approver decides next; this page shows each decision as it is made. Nothing is issued before then.", NextStepTone.Waiting),
            RequestStatus.Approved or RequestStatus.Executing when facts.HasKeyStep => facts.KeysMadeInBrowser
                ? new("Approved: make your key now",
                    "Choose a password for the file below; your browser makes the key and saves it with your certificate. The request completes once the file is saved.", NextStepTone.Action)
                : new("Approved: get your keys now",
                    "Choose a password for the file below and save it; the request completes once the file is saved.", NextStepTone.Action),
            RequestStatus.Approved or RequestStatus.Executing when facts.WaitsForCardClient => new(
                facts.Status == RequestStatus.Approved ? "Approved: finish it at the card" : "In progress at the card",
                "Run the card client on the computer the card is in (the command is below); this page shows its progress.", NextStepTone.Action),
            RequestStatus.Executing when facts.CanComplete => new("Almost done: mark it complete",
                "Once your files are saved and installed, mark the request complete below.", NextStepTone.Action),
            RequestStatus.Approved => new("Approved",
                "The client that carries this request out starts it next (the server does so at once for a revocation, a reinstatement or a software retirement).", NextStepTone.Waiting),
            RequestStatus.Executing => new("In progress", "The request is being carried out; this page shows when it ends.", NextStepTone.Waiting),
            RequestStatus.Completed => new("Completed", CompletedDetail(facts.Type), NextStepTone.Done),
            RequestStatus.Denied => new("Denied", "An approver denied this request; nothing was issued or changed. Ask again with a new request if you still need it.", NextStepTone.Ended),
            RequestStatus.Canceled => new("Canceled", "This request was canceled; nothing more happens to it.", NextStepTone.Ended),
            RequestStatus.Abandoned => new("Abandoned", "This request was abandoned before it finished; nothing more happens to it.", NextStepTone.Ended),
            RequestStatus.Failed => new("Failed", "This request could not be carried out; start a new one, or ask the help desk.", NextStepTone.Ended),
            _ => new(facts.Status.ToString(), "Nothing more happens to this request.", NextStepTone.Ended),
        };
    }

    private static string WaitingFor(int remaining) => remaining switch
    {
        <= 0 => "Waiting for approval",
        1 => "Waiting for 1 more approval",
        _ => string.Create(CultureInfo.InvariantCulture, $"Waiting for {remaining} more approvals"),
    };

    private static string CompletedDetail(RequestType type) => type switch
    {
        RequestType.Revoke => "The certificates were revoked; the next CRL lists them.",
        RequestType.Reinstate => "The certificates are in force again.",
        RequestType.Retire => "The credential was retired and its certificates revoked.",
        RequestType.Unblock or RequestType.OfflineUnblock => "The card was unblocked with a new PIN.",
        _ => "Nothing more to do: the request is done.",
    };
}
