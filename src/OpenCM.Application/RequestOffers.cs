using OpenCM.Domain;

namespace OpenCM.Application;

/// <summary>
/// What a front-end may offer a caller on a request now (the portal's buttons and queue), asked
/// of the same state machine and rights that decide when the caller acts; they decide again then.
/// </summary>
public static class RequestOffers
{
    /// <summary>The caller may approve or deny: the request is pending, the caller holds a voting right, has not voted, and the state machine would take the vote.</summary>
    public static bool MayVote(CmRequest request, RequestPermission rights, Caller caller, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(caller);
        return request.Status == RequestStatus.Pending
            && (rights & (RequestPermission.Approve | RequestPermission.Deny)) != 0
            && request.Votes.All(v => v.Approver != caller.UserUuid)
            && RequestLifecycle.Decide(new RequestContext(request), new LifecycleCommand.Approve(caller.UserUuid, ""), rights, now).Decision is not Decision.Refused;
    }

    /// <summary>
    /// The caller may move the request to <paramref name="target"/> now (PUT /requests/{id}): the
    /// same decision the API takes, so a smart card request is not offered completion before its card is known.
    /// </summary>
    public static bool MayMove(CmRequest request, RequestStatus target, RequestPermission rights, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(request);
        return RequestLifecycle.Decide(new RequestContext(request), new LifecycleCommand.SetStatus(target), rights, now).Decision is Decision.Move;
    }

    /// <summary>
    /// The request is a smart card request whose next step belongs to the card's client (binding
    /// the card, its keys, its PIN): a front-end without the card can only follow it. Revoke and
    /// Reinstate run on the server and need no card.
    /// </summary>
    public static bool WaitsForCardClient(CmRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return request.IsSmartcard
            && request.Status is RequestStatus.Approved or RequestStatus.Executing
            && !RequestKinds.Of(request).ServerExecutes;
    }
}
