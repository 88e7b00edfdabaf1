using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.TestKit;

namespace OpenCM.Application.Tests;

public sealed class RequestOffersTests
{
    // type, on a card, status → whether the card's client acts next
    public static TheoryData<RequestType, bool, RequestStatus, bool> CardClientCases() => new()
    {
        { RequestType.Enroll, true, RequestStatus.Approved, true },
        { RequestType.Enroll, true, RequestStatus.Executing, true },
        { RequestType.Unblock, true, RequestStatus.Approved, true },
        { RequestType.Retire, true, RequestStatus.Approved, true },     // the client wipes the card
        { RequestType.Revoke, true, RequestStatus.Approved, false },    // run on the server
        { RequestType.Reinstate, true, RequestStatus.Approved, false },
        { RequestType.Enroll, true, RequestStatus.Pending, false },     // approvers act next
        { RequestType.Enroll, true, RequestStatus.Completed, false },
        { RequestType.Enroll, false, RequestStatus.Approved, false },   // software: the browser's key step
    };

    [Theory]
    [MemberData(nameof(CardClientCases))]
    public void WaitsForCardClient_TypeCardAndStatus_AsTheTableSays(RequestType type, bool onCard, RequestStatus status, bool expected)
    {
        var request = Samples.Request(status: status) with { RequestType = type, Flags = onCard ? RequestFlags.Smartcard : RequestFlags.None };
        Assert.Equal(expected, RequestOffers.WaitsForCardClient(request));
    }
}
