using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.DependencyInjection;
using OpenCM.Application;
using OpenCM.Cards;
using OpenCM.Client;
using OpenCM.Contracts;
using OpenCM.Domain;
using OpenCM.Smartcards;

namespace OpenCM.Server.Tests;

/// <summary>
/// Issue #22: the card client's flows over any card device (enroll, online and offline unblock,
/// renew, retire) against the real server, with the emulated card and with a card pulled at each
/// step (<see cref="FaultyCard"/>): nothing is acknowledged to the server that the card did not do,
/// and the request stays where the server had it. Also the server's side of decision 0013: any
/// challenge of 8 to 40 bytes, a multiple of 8, is answered; anything else is a 400.
/// </summary>
public sealed class CardClientFlowTests : IClassFixture<ServerFixture>
{
    private const string Pin = "135790";
    private static readonly byte[] DefaultKey = AdminKeys.FromHex("010203040506070801020304050607080102030405060708");
    private readonly ServerFixture _server;

    public CardClientFlowTests(ServerFixture server) => _server = server;

    private sealed record Enrolled(OpenCmClient Client, Guid Card, EmulatedCard Device, X509Certificate2 Certificate);

    private async Task<OpenCmClient> ClientAsync(Principal user) => new(_server.CreateClient(), await _server.TokenAsync(user));

    private async Task<OpenCmClient> HelpDeskAsync() =>
        await ClientAsync((await _server.Services.GetRequiredService<IDirectory>().FindByNameAsync("admin"))!);

    private async Task<Enrolled> EnrolledAsync(string name)
    {
        var client = await ClientAsync(await _server.UserAsync(name));
        var request = await client.CreateRequestAsync(new CreateRequestBody(WireRequestType.Enroll, ServerFixture.VirtualSmartcardVpn, [], Comment: ""));
        var device = EmulatedCard.CreateVirtual(DefaultKey);
        var (enrollment, _) = await new CardClient(client).PersonalizeAsync(request, device, Pin);
        return new Enrolled(client, enrollment.Card, device, Assert.Single(enrollment.Certificates));
    }

    private static Task<Guid> OnCardAsync(OpenCmClient client, WireRequestType type, Guid card) =>
        client.CreateRequestAsync(new CreateRequestBody(type, null, [], Comment: "", Smartcard: card));

    private async Task<int?> RevocationReasonAsync(X509Certificate2 certificate) =>
        (await _server.Services.GetRequiredService<ICertificateStore>().ListRevokedAsync(1))
            .FirstOrDefault(r => string.Equals(r.SerialHex, certificate.SerialNumber, StringComparison.OrdinalIgnoreCase))?.Reason;

    private static async Task<int> StatusAsync(OpenCmClient client, Guid request) => (await client.GetRequestAsync(request)).Status;

    // The card answers the policy's default admin key again: one admin operation under its response proves it.
    private static void AssertDefaultAdminKey(EmulatedCard device) =>
        device.ClearContainers(ChallengeResponse.Respond(DefaultKey, device.GetChallenge()));

    // Enrollment's card operations: 1 challenge, 2 admin key changed, 3 challenge, 4 PIN set,
    // 5 key made and CSR signed, 6 public key read, 7 certificate installed.
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(7)]
    public async Task Personalize_CardPulledAtStepN_RequestNotCompletedCardNotActiveAndItCanBeAbandoned(int failAt)
    {
        var client = await ClientAsync(await _server.UserAsync("pulled"));
        var request = await client.CreateRequestAsync(new CreateRequestBody(WireRequestType.Enroll, ServerFixture.VirtualSmartcardVpn, [], Comment: ""));
        using var inner = EmulatedCard.CreateVirtual(DefaultKey);
        var card = new FaultyCard(inner, failAt);

        var pulled = await Assert.ThrowsAsync<CardException>(() => new CardClient(client).PersonalizeAsync(request, card, Pin));

        Assert.Equal((CardRefusal.CardRemoved, failAt - 1), (pulled.Refusal, card.Operations.Count));
        Assert.Equal((int)RequestStatus.Executing, await StatusAsync(client, request));
        var bound = (await client.GetRequestAsync(request)).NewSmartcardUuid;
        Assert.Equal((int)SmartcardStatus.Assigned, (await client.GetSmartcardAsync(bound)).Status);
        Assert.Empty(inner.Certificates);

        // The user may abandon what the card did not finish.
        Assert.Equal((int)RequestStatus.Abandoned, (await client.SetStatusAsync(request, WireRequestStatus.Abandoned)).Status);
    }

    // A card already bound to another user: the server refuses the binding, the card is not touched, the request stays Approved.
    [Fact]
    public async Task Personalize_CardInUseByAnotherUser_RefusedBeforeTheCardIsTouchedRequestStaysApproved()
    {
        var owner = await EnrolledAsync("owner");
        var other = await ClientAsync(await _server.UserAsync("taker"));
        var request = await other.CreateRequestAsync(new CreateRequestBody(WireRequestType.Enroll, ServerFixture.VirtualSmartcardVpn, [], Comment: ""));
        var card = new FaultyCard(owner.Device, failAt: 0);

        var refused = await Assert.ThrowsAsync<OpenCmApiException>(() => new CardClient(other).PersonalizeAsync(request, card, Pin));

        Assert.Equal((409, "cardid"), (refused.Status, refused.Field));
        Assert.Empty(card.Operations);
        Assert.Equal((int)RequestStatus.Approved, await StatusAsync(other, request));
        Assert.Equal((int)SmartcardStatus.Active, (await owner.Client.GetSmartcardAsync(owner.Card)).Status);
        Assert.Single(owner.Device.Certificates);
    }

    [Fact]
    public async Task Retire_CardInUse_CardBlankAdminKeyBackToTheDefaultCardRetiredCertificateRevoked()
    {
        var e = await EnrolledAsync("retire-flow");
        var request = await OnCardAsync(e.Client, WireRequestType.Retire, e.Card);
        var steps = new List<CardStep>();

        await new CardClient(e.Client, new Collect(steps)).RetireAsync(request, e.Device);

        Assert.Empty(e.Device.Certificates);
        AssertDefaultAdminKey(e.Device);
        Assert.Equal((int)RequestStatus.Completed, await StatusAsync(e.Client, request));
        Assert.Equal((int)SmartcardStatus.Retired, (await e.Client.GetSmartcardAsync(e.Card)).Status);
        Assert.Equal(ProfileRules.CessationOfOperation, await RevocationReasonAsync(e.Certificate));
        Assert.Equal([7, 12, 19, 20, 28], steps.Select(s => s.Number));
        var audit = await _server.Services.GetRequiredService<IAuditLog>().ForSubjectAsync(request);
        Assert.Equal(2, audit.Count(a => a.Event.Kind == "AdminChallengeAnswered"));
    }

    // Retire's card operations: 1 challenge, 2 containers cleared, 3 challenge, 4 admin key set back.
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public async Task Retire_CardPulledAtStepN_RequestStaysApprovedCardActiveAndARetryFinishesIt(int failAt)
    {
        var e = await EnrolledAsync("retire-pulled");
        var request = await OnCardAsync(e.Client, WireRequestType.Retire, e.Card);
        var card = new FaultyCard(e.Device, failAt);

        var pulled = await Assert.ThrowsAsync<CardException>(() => new CardClient(e.Client).RetireAsync(request, card));

        Assert.Equal(CardRefusal.CardRemoved, pulled.Refusal);
        Assert.Equal((int)RequestStatus.Approved, await StatusAsync(e.Client, request));
        Assert.Equal((int)SmartcardStatus.Active, (await e.Client.GetSmartcardAsync(e.Card)).Status);
        Assert.Null(await RevocationReasonAsync(e.Certificate));

        // The card back in the reader: the same request runs again to the end.
        await new CardClient(e.Client).RetireAsync(request, e.Device);
        Assert.Equal((int)RequestStatus.Completed, await StatusAsync(e.Client, request));
        Assert.Empty(e.Device.Certificates);
        AssertDefaultAdminKey(e.Device);
    }

    [Fact]
    public async Task Retire_AnotherCardInTheReader_WrongCardAndNothingAskedOfTheServer()
    {
        var e = await EnrolledAsync("retire-wrong");
        var request = await OnCardAsync(e.Client, WireRequestType.Retire, e.Card);
        using var other = EmulatedCard.CreateVirtual(DefaultKey);

        var wrong = await Assert.ThrowsAsync<CardException>(() => new CardClient(e.Client).RetireAsync(request, other));

        Assert.Equal(CardRefusal.WrongCard, wrong.Refusal);
        Assert.Equal((int)RequestStatus.Approved, await StatusAsync(e.Client, request));
        var audit = await _server.Services.GetRequiredService<IAuditLog>().ForSubjectAsync(request);
        Assert.DoesNotContain(audit, a => a.Event.Kind == "AdminChallengeAnswered");
    }

    [Fact]
    public async Task Renew_SameCard_NewCertificateBesideTheOldRequestCompletedOldSuperseded()
    {
        var e = await EnrolledAsync("renew-flow");
        var request = await OnCardAsync(e.Client, WireRequestType.Renew, e.Card);

        var renewed = Assert.Single(await new CardClient(e.Client).RenewAsync(request, e.Device, Pin));

        Assert.Equal((int)RequestStatus.Completed, await StatusAsync(e.Client, request));
        Assert.Equal(ProfileRules.Superseded, await RevocationReasonAsync(e.Certificate));
        Assert.Null(await RevocationReasonAsync(renewed));
        Assert.Contains(e.Device.Certificates.Values, c => c.Thumbprint == renewed.Thumbprint);
    }

    [Theory]
    [InlineData("other card", CardRefusal.WrongCard)]
    [InlineData("wrong PIN", CardRefusal.WrongPin)]
    [InlineData("pulled", CardRefusal.CardRemoved)]
    public async Task Renew_CardRefuses_RequestStaysApprovedNothingIssued(string what, CardRefusal refusal)
    {
        var e = await EnrolledAsync("renew-refused");
        var request = await OnCardAsync(e.Client, WireRequestType.Renew, e.Card);
        using var other = EmulatedCard.CreateVirtual(DefaultKey);
        ICardDevice card = what switch
        {
            "other card" => other,
            "pulled" => new FaultyCard(e.Device, 1),
            _ => e.Device,
        };

        var refused = await Assert.ThrowsAsync<CardException>(() => new CardClient(e.Client).RenewAsync(request, card, what == "wrong PIN" ? "000000" : Pin));

        Assert.Equal(refusal, refused.Refusal);
        Assert.Equal((int)RequestStatus.Approved, await StatusAsync(e.Client, request));
        Assert.Single(await e.Client.SmartcardCertificatesAsync(e.Card));
    }

    [Fact]
    public async Task OfflineUnblock_ClientReadsTheChallengeHelpDeskAnswersCardTakesTheNewPin()
    {
        var e = await EnrolledAsync("offline-flow");
        for (var i = 0; i < EmulatedCard.PinTries; i++)
        {
            Assert.Throws<CardException>(() => e.Device.VerifyPin("000000"));
        }

        var challenge = CardClient.OfflineUnblockChallenge(e.Device);
        var (_, response) = await (await HelpDeskAsync()).OfflineUnblockAsync(e.Card, challenge);

        // A response of another length is refused before the card sees it.
        Assert.Throws<ArgumentException>(() => CardClient.CompleteOfflineUnblock(e.Device, challenge, response[..7], "246810"));
        CardClient.CompleteOfflineUnblock(e.Device, challenge, response, "246810");
        e.Device.VerifyPin("246810");
    }

    // Decision 0013: a Base CSP card's 8 bytes, a GIDS card's 40, and whole blocks between are
    // answered with 3DES-EDE-CBC under a zero IV (here under the default key, as diversified=false
    // asks; openssl checks the cipher in SmartcardCryptoTests); other lengths are 400 naming
    // challenge. A Retire's challenges are reads: the request stays Approved either way.
    [Theory]
    [InlineData(0, 400)]
    [InlineData(1, 400)]
    [InlineData(7, 400)]
    [InlineData(8, 200)]
    [InlineData(9, 400)]
    [InlineData(16, 200)]
    [InlineData(39, 400)]
    [InlineData(40, 200)]
    [InlineData(41, 400)]
    [InlineData(48, 400)]
    [InlineData(4096, 400)]
    public async Task AuthenticationResponse_ChallengeLength_WholeBlocksFrom8To40AnsweredElse400(int length, int status)
    {
        var e = await EnrolledAsync("lengths");
        var request = await OnCardAsync(e.Client, WireRequestType.Retire, e.Card);
        var challenge = new byte[length];
        new Random(length).NextBytes(challenge);

        if (status == 200)
        {
            var response = await e.Client.AuthenticationResponseAsync(request, e.Card, e.Device.CardId, challenge, diversified: false);
            Assert.Equal(Convert.ToHexString(ChallengeResponse.Respond(DefaultKey, challenge)), Convert.ToHexString(response));
        }
        else
        {
            var refused = await Assert.ThrowsAsync<OpenCmApiException>(() => e.Client.AuthenticationResponseAsync(request, e.Card, e.Device.CardId, challenge, diversified: false));
            Assert.Equal((status, "challenge"), (refused.Status, refused.Field));
        }

        Assert.Equal((int)RequestStatus.Approved, await StatusAsync(e.Client, request));
    }

    [Fact]
    public async Task AuthenticationResponse_SomeoneElsesApprovedRetire_404LikeUnknownAndNothingAnswered()
    {
        // A Retire's challenges are answered while it is Approved (decision 0013): to its executor only.
        var e = await EnrolledAsync("retire-owner");
        var request = await OnCardAsync(e.Client, WireRequestType.Retire, e.Card);
        using var http = await _server.ClientAsync(await _server.UserAsync("retire-stranger"));
        var challenge = Uri.EscapeDataString(Convert.ToBase64String(new byte[40]));
        string Url(Guid r) => $"{ServerFixture.Api}/requests/{r:D}/smartcards/{e.Card:D}/authenticationresponse?cardid={Uri.EscapeDataString(e.Device.CardId)}&diversified=true&challenge={challenge}";

        using var theirs = await http.GetAsync(new Uri(Url(request), UriKind.Relative));
        using var unknown = await http.GetAsync(new Uri(Url(Guid.NewGuid()), UriKind.Relative));

        Assert.Equal((HttpStatusCode.NotFound, HttpStatusCode.NotFound), (theirs.StatusCode, unknown.StatusCode));
        Assert.DoesNotContain(e.Device.CardId, await theirs.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);
        var audit = await _server.Services.GetRequiredService<IAuditLog>().ForSubjectAsync(request);
        Assert.DoesNotContain(audit, a => a.Event.Kind == "AdminChallengeAnswered");
        Assert.Equal((int)RequestStatus.Approved, await StatusAsync(e.Client, request));
    }

    [Theory]
    [InlineData("not base64!")]
    [InlineData("AAAA====")]
    [InlineData("%00%01")]
    public async Task AuthenticationResponse_ChallengeNotBase64_400NamingChallenge(string challenge)
    {
        var e = await EnrolledAsync("hostile");
        var request = await OnCardAsync(e.Client, WireRequestType.Retire, e.Card);
        using var http = await _server.ClientAsync(await _server.UserAsync("hostile-http"));

        var url = $"{ServerFixture.Api}/requests/{request:D}/smartcards/{e.Card:D}/authenticationresponse?cardid={Uri.EscapeDataString(e.Device.CardId)}&diversified=false&challenge={challenge}";
        using var answer = await http.GetAsync(new Uri(url, UriKind.Relative));

        // Someone else's request is not theirs to read, and a bad challenge never gets that far: 4xx either way, never 5xx.
        Assert.Equal(HttpStatusCode.BadRequest, answer.StatusCode);
        Assert.Contains("challenge", await answer.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(7)]
    [InlineData(41)]
    [InlineData(48)]
    public async Task OfflineUnblockRoute_ChallengeNotWholeBlocksUpTo40_400AndNothingFiled(int length)
    {
        var e = await EnrolledAsync("offline-lengths");
        var helpDesk = await HelpDeskAsync();
        var before = (await e.Client.ListRequestsAsync()).Items.Count;

        var refused = await Assert.ThrowsAsync<OpenCmApiException>(() => helpDesk.OfflineUnblockAsync(e.Card, new byte[length]));

        Assert.Equal((400, "challenge"), (refused.Status, refused.Field));
        Assert.Equal(before, (await e.Client.ListRequestsAsync()).Items.Count);
        var (request, response) = await helpDesk.OfflineUnblockAsync(e.Card, new byte[40]);
        Assert.Equal((40, (int)RequestStatus.Completed), (response.Length, await StatusAsync(helpDesk, request)));
    }

    // Steps in order, on the caller's thread.
    private sealed class Collect(List<CardStep> steps) : IProgress<CardStep>
    {
        public void Report(CardStep value) => steps.Add(value);
    }
}
