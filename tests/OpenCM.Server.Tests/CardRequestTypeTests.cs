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
/// Issue #8.7-8.9: each card request type end to end over HTTP, with the emulated Base CSP card as
/// the client's card: what happens to the card, its certificates and the request, and the clear
/// 4xx for each step that is not allowed.
/// </summary>
public sealed class CardRequestTypeTests : IClassFixture<ServerFixture>
{
    private const string Pin = "135790";
    private static readonly byte[] DefaultKey = AdminKeys.FromHex("010203040506070801020304050607080102030405060708");
    private readonly ServerFixture _server;

    public CardRequestTypeTests(ServerFixture server) => _server = server;

    private sealed record Enrolled(OpenCmClient Client, Principal User, Guid Card, EmulatedCard Device, X509Certificate2 Certificate);

    private async Task<OpenCmClient> ClientAsync(Principal user) => new(_server.CreateClient(), await _server.TokenAsync(user));

    private async Task<OpenCmClient> HelpDeskAsync() =>
        await ClientAsync((await _server.Services.GetRequiredService<IDirectory>().FindByNameAsync("admin"))!);

    // A user with a virtual smart card in use, personalized through the walkthrough.
    private async Task<Enrolled> EnrolledAsync(string name)
    {
        var user = await _server.UserAsync(name);
        var client = await ClientAsync(user);
        var request = await client.CreateRequestAsync(new CreateRequestBody(WireRequestType.Enroll, ServerFixture.VirtualSmartcardVpn, [], Comment: ""));
        var device = EmulatedCard.CreateVirtual(DefaultKey);
        var (enrollment, _) = await new CardClient(client).PersonalizeAsync(request, device, Pin);
        return new Enrolled(client, user, enrollment.Card, device, Assert.Single(enrollment.Certificates));
    }

    private static Task<Guid> OnCardAsync(OpenCmClient client, RequestType type, Guid card, params DataItem[] data) =>
        client.CreateRequestAsync(new CreateRequestBody((WireRequestType)(int)type, null, [.. data.Select(d => new DataItemDto(d.Name, d.Value))], Comment: "", Smartcard: card));

    private async Task<int?> RevocationReasonAsync(X509Certificate2 certificate) =>
        (await _server.Services.GetRequiredService<ICertificateStore>().ListRevokedAsync(1))
            .FirstOrDefault(r => string.Equals(r.SerialHex, certificate.SerialNumber, StringComparison.OrdinalIgnoreCase))?.Reason;

    private static async Task<OpenCmApiException> RefusedAsync(Func<Task> call) => await Assert.ThrowsAsync<OpenCmApiException>(call);

    [Fact]
    public async Task Renew_CardInUse_NewCertificateOnTheSameCardOldOneSuperseded()
    {
        var e = await EnrolledAsync("renew");
        var request = await OnCardAsync(e.Client, RequestType.Renew, e.Card);
        var renewing = await e.Client.GetRequestAsync(request);
        Assert.Equal(((int)RequestStatus.Approved, e.Card), (renewing.Status, renewing.OldSmartcardUuid));

        // Renew works on the card it names: no card is bound, and the keys are made on that card.
        var bind = await RefusedAsync(() => e.Client.AssignSmartcardAsync(request, Guid.NewGuid().ToString(), ""));
        Assert.Equal((HttpStatusCode.Conflict, "requestid"), ((HttpStatusCode)bind.Status, bind.Field));
        var renewed = Assert.Single(await new CardClient(e.Client).IssueOntoCardAsync(request, e.Device, Pin));
        await e.Client.SetStatusAsync(request, WireRequestStatus.Completed);

        Assert.Equal((int)SmartcardStatus.Active, (await e.Client.GetSmartcardAsync(e.Card)).Status);
        // Both, in either order: the test clock gives them one issue time.
        Assert.Equal(new[] { e.Certificate.Thumbprint, renewed.Thumbprint }.Order(), (await e.Client.SmartcardCertificatesAsync(e.Card)).Select(c => c.Thumbprint).Order());
        Assert.Equal(ProfileRules.Superseded, await RevocationReasonAsync(e.Certificate));
        Assert.Null(await RevocationReasonAsync(renewed));
        Assert.Equal(2, e.Device.Certificates.Count);
    }

    [Fact]
    public async Task Duplicate_SecondCardPersonalized_BothActiveTheCopyNamesItsPrimary()
    {
        var e = await EnrolledAsync("dup");
        var request = await OnCardAsync(e.Client, RequestType.Duplicate, e.Card);
        using var copy = EmulatedCard.CreateVirtual(DefaultKey);

        // The primary itself cannot be the copy.
        var same = await RefusedAsync(() => e.Client.AssignSmartcardAsync(request, e.Device.CardId, e.Device.Atr));
        Assert.Equal((HttpStatusCode.Conflict, "cardid"), ((HttpStatusCode)same.Status, same.Field));

        var (enrollment, _) = await new CardClient(e.Client).PersonalizeAsync(request, copy, Pin);
        var duplicate = await e.Client.GetSmartcardAsync(enrollment.Card);
        Assert.Equal(((int)SmartcardStatus.Active, e.Card), (duplicate.Status, duplicate.PrimarySmartcardUuid));
        Assert.Equal((int)SmartcardStatus.Active, (await e.Client.GetSmartcardAsync(e.Card)).Status);
        Assert.NotEqual(e.Certificate.Thumbprint, Assert.Single(await e.Client.SmartcardCertificatesAsync(enrollment.Card)).Thumbprint);
        Assert.Equal(2, (await e.Client.SmartcardsAsync()).Count);
    }

    [Fact]
    public async Task Retire_ClientSaysTheCardIsWiped_CardRetiredCertificatesRevokedAndTheCardIdFreeAgain()
    {
        var e = await EnrolledAsync("retire");
        var request = await OnCardAsync(e.Client, RequestType.Retire, e.Card);

        // A card's Retire waits for its client (the server does not retire a card by itself).
        Assert.Equal((int)RequestStatus.Approved, (await e.Client.GetRequestAsync(request)).Status);

        // Only the status this request moves the card to.
        var wrong = await RefusedAsync(() => e.Client.SetSmartcardStatusAsync(request, e.Card, WireSmartcardStatus.Disabled));
        Assert.Equal((HttpStatusCode.BadRequest, "status"), ((HttpStatusCode)wrong.Status, wrong.Field));

        var retired = await e.Client.SetSmartcardStatusAsync(request, e.Card, WireSmartcardStatus.Retired);
        Assert.Equal(((int)SmartcardStatus.Retired, e.Card), (retired.Status, retired.Uuid));
        Assert.Equal((int)RequestStatus.Completed, (await e.Client.GetRequestAsync(request)).Status);
        Assert.Equal(ProfileRules.CessationOfOperation, await RevocationReasonAsync(e.Certificate));

        // Asking again is an idempotent success; a new request on a retired card is refused.
        Assert.Equal((int)SmartcardStatus.Retired, (await e.Client.SetSmartcardStatusAsync(request, e.Card, WireSmartcardStatus.Retired)).Status);
        var again = await RefusedAsync(() => OnCardAsync(e.Client, RequestType.Retire, e.Card));
        Assert.Equal((HttpStatusCode.Conflict, "smartcard"), ((HttpStatusCode)again.Status, again.Field));
        Assert.Empty(await e.Client.SmartcardOperationsAsync(e.Card));

        // The physical card may be enrolled again, as a new card record.
        var reenroll = await e.Client.CreateRequestAsync(new CreateRequestBody(WireRequestType.Enroll, ServerFixture.VirtualSmartcardVpn, [], Comment: ""));
        Assert.NotEqual(e.Card, await e.Client.AssignSmartcardAsync(reenroll, e.Device.CardId, e.Device.Atr));
    }

    [Fact]
    public async Task RevokeOnHoldThenReinstate_CardSuspendedThenActiveCertificateBackOffTheCrl()
    {
        var e = await EnrolledAsync("hold");
        var helpDesk = await HelpDeskAsync();

        // Revocation is not self-service in the sample; the help desk revokes a lost card, no card at hand.
        var self = await RefusedAsync(() => OnCardAsync(e.Client, RequestType.Revoke, e.Card));
        Assert.Equal(403, self.Status);
        var revoke = await OnCardAsync(helpDesk, RequestType.Revoke, e.Card, new DataItem("Revocation Reason", "certificateHold"));
        Assert.Equal((int)RequestStatus.Completed, (await helpDesk.GetRequestAsync(revoke)).Status);
        Assert.Equal((int)SmartcardStatus.Suspended, (await e.Client.GetSmartcardAsync(e.Card)).Status);
        Assert.Equal(ProfileRules.CertificateHold, await RevocationReasonAsync(e.Certificate));

        // While suspended the card cannot be unblocked; it can be reinstated.
        var unblock = await RefusedAsync(() => OnCardAsync(e.Client, RequestType.Unblock, e.Card));
        Assert.Equal((HttpStatusCode.Conflict, "smartcard"), ((HttpStatusCode)unblock.Status, unblock.Field));
        var reinstate = await OnCardAsync(helpDesk, RequestType.Reinstate, e.Card);
        Assert.Equal((int)RequestStatus.Completed, (await helpDesk.GetRequestAsync(reinstate)).Status);
        Assert.Equal((int)SmartcardStatus.Active, (await e.Client.GetSmartcardAsync(e.Card)).Status);
        Assert.Null(await RevocationReasonAsync(e.Certificate));

        // PUT with the status the server-executed request already set: idempotent.
        Assert.Equal((int)SmartcardStatus.Active, (await helpDesk.SetSmartcardStatusAsync(reinstate, e.Card, WireSmartcardStatus.Active)).Status);
    }

    [Fact]
    public async Task Revoke_KeyCompromise_CardDisabledOnlyRetireLeft()
    {
        var e = await EnrolledAsync("revoke");
        var helpDesk = await HelpDeskAsync();
        await OnCardAsync(helpDesk, RequestType.Revoke, e.Card, new DataItem("Revocation Reason", "keyCompromise"));
        Assert.Equal((int)SmartcardStatus.Disabled, (await e.Client.GetSmartcardAsync(e.Card)).Status);
        Assert.Equal(1, await RevocationReasonAsync(e.Certificate));
        Assert.Equal(["retire"], await e.Client.SmartcardOperationsAsync(e.Card));

        var reinstate = await RefusedAsync(() => OnCardAsync(helpDesk, RequestType.Reinstate, e.Card));
        Assert.Equal(409, reinstate.Status);
        var retire = await OnCardAsync(e.Client, RequestType.Retire, e.Card);
        Assert.Equal((int)SmartcardStatus.Retired, (await e.Client.SetSmartcardStatusAsync(retire, e.Card, WireSmartcardStatus.Retired)).Status);
    }

    [Fact]
    public async Task Unblock_BlockedPin_ServerAnswersTheCardsChallengeUserSetsANewPin()
    {
        var e = await EnrolledAsync("unblock");
        for (var i = 0; i < EmulatedCard.PinTries; i++)
        {
            Assert.Throws<CardException>(() => e.Device.VerifyPin("000000"));
        }

        Assert.True(e.Device.IsPinBlocked);
        var request = await OnCardAsync(e.Client, RequestType.Unblock, e.Card);

        // Unblock hands out no admin key; the challenge response is its execution.
        var key = await RefusedAsync(() => e.Client.DiversifiedKeyAsync(request, e.Card, e.Device.CardId));
        Assert.Equal((HttpStatusCode.Conflict, "smartcard"), ((HttpStatusCode)key.Status, key.Field));
        await new CardClient(e.Client).UnblockAsync(request, e.Card, e.Device, "864200");

        e.Device.VerifyPin("864200");
        Assert.Equal((int)RequestStatus.Completed, (await e.Client.GetRequestAsync(request)).Status);
        Assert.Equal((int)SmartcardStatus.Active, (await e.Client.GetSmartcardAsync(e.Card)).Status);
        var audit = await _server.Services.GetRequiredService<IAuditLog>().ForSubjectAsync(request);
        Assert.Contains(audit, a => a.Event.Kind == "AdminChallengeAnswered");
    }

    // Issue #17: a GET of a card secret changes nothing. Asked on an approved Unblock it used to
    // move the request to Executing and then answer 409.
    [Fact]
    public async Task CardSecrets_ApprovedUnblock_RefusedAndTheRequestStaysApproved()
    {
        var e = await EnrolledAsync("unblock-get");
        var request = await OnCardAsync(e.Client, RequestType.Unblock, e.Card);

        var key = await RefusedAsync(() => e.Client.DiversifiedKeyAsync(request, e.Card, e.Device.CardId));
        var pin = await RefusedAsync(() => e.Client.ProposedPinAsync(request, e.Card));

        Assert.Equal((409, 409), (key.Status, pin.Status));
        Assert.Equal((int)RequestStatus.Approved, (await e.Client.GetRequestAsync(request)).Status);
        var audit = await _server.Services.GetRequiredService<IAuditLog>().ForSubjectAsync(request);
        Assert.DoesNotContain(audit, a => a.Event.Kind == "StatusChanged");

        // Answering the card's challenge is the unblock's execution, and still starts it.
        await new CardClient(e.Client).UnblockAsync(request, e.Card, e.Device, "864200");
        Assert.Equal((int)RequestStatus.Completed, (await e.Client.GetRequestAsync(request)).Status);
    }

    // Issue #17: a kind that works on a card in place names that card in both OldSmartcardUuid
    // and NewSmartcardUuid (get-request.md, example 2, an Unblock); a kind that takes a new card
    // names the card it was created for in Old, and in New the card bound to it (none yet).
    [Fact]
    public async Task GetRequest_KindsOnACard_NameTheCardAsTheReferenceDoes()
    {
        var e = await EnrolledAsync("fields");
        foreach (var type in new[] { RequestType.Unblock, RequestType.Renew, RequestType.Retire })
        {
            var inPlace = await e.Client.GetRequestAsync(await OnCardAsync(e.Client, type, e.Card));
            Assert.Equal((type, e.Card, e.Card), (type, inPlace.OldSmartcardUuid, inPlace.NewSmartcardUuid));
            await e.Client.SetStatusAsync(inPlace.Uuid, WireRequestStatus.Canceled);
        }

        var duplicate = await e.Client.GetRequestAsync(await OnCardAsync(e.Client, RequestType.Duplicate, e.Card));
        Assert.Equal((e.Card, Guid.Empty), (duplicate.OldSmartcardUuid, duplicate.NewSmartcardUuid));
    }

    [Fact]
    public async Task OfflineUnblock_HelpDeskAnswersTheChallengeTheUserReadsOut()
    {
        var e = await EnrolledAsync("offline");
        var helpDesk = await HelpDeskAsync();

        // Not self-service: the user cannot ask for it; the help desk can.
        var self = await RefusedAsync(() => OnCardAsync(e.Client, RequestType.OfflineUnblock, e.Card));
        Assert.Equal(403, self.Status);
        var request = await OnCardAsync(helpDesk, RequestType.OfflineUnblock, e.Card);

        // The user reads the challenge off the card; the help desk reads back the response.
        var challenge = e.Device.GetChallenge();
        var response = await helpDesk.AuthenticationResponseAsync(request, e.Card, e.Device.CardId, challenge, diversified: true);
        e.Device.UnblockPin(response, "112233");
        await helpDesk.SetStatusAsync(request, WireRequestStatus.Completed);

        e.Device.VerifyPin("112233");
        Assert.Equal((int)RequestStatus.Completed, (await helpDesk.GetRequestAsync(request)).Status);
    }

    [Fact]
    public async Task OfflineUnblockRoute_HelpDeskInOneCall_RequestCompletedAndTheCardTakesTheNewPin()
    {
        var e = await EnrolledAsync("offline-one-call");
        var helpDesk = await HelpDeskAsync();

        // The route runs the help desk's use case: the user may not file the request, a challenge
        // that is not 8 bytes is refused before anything is filed.
        Assert.Equal(403, (await RefusedAsync(() => e.Client.OfflineUnblockAsync(e.Card, e.Device.GetChallenge()))).Status);
        var bad = await RefusedAsync(() => helpDesk.OfflineUnblockAsync(e.Card, [1, 2, 3]));
        Assert.Equal((400, "challenge"), (bad.Status, bad.Field));

        var (request, response) = await helpDesk.OfflineUnblockAsync(e.Card, e.Device.GetChallenge());
        e.Device.UnblockPin(response, "445566");
        e.Device.VerifyPin("445566");
        Assert.Equal((int)RequestStatus.Completed, (await helpDesk.GetRequestAsync(request)).Status);
    }

    // A card template with a signing certificate made on the card and an encryption certificate
    // whose key the server makes and archives (for a Recover onto a replacement card).
    private async Task<Guid> ArchivingCardTemplateAsync()
    {
        var template = Guid.NewGuid();
        await _server.Services.GetRequiredService<TemplateService>().ImportAsync($$"""
            uuid: {{template}}
            name: Archiving card {{template:N}}
            isSmartcardProfileTemplate: true
            policies:
              Enroll: { enabled: true, selfServiceEnabled: true }
              Recover: { enabled: true, selfServiceEnabled: true }
            certificates:
              - commonName: CardSigning
                subject: "CN={name},O=OpenCM"
                keyAlgorithm: RSA
                keySize: 2048
                keyUsages: [DigitalSignature]
              - commonName: CardEncryption
                subject: "CN={name},O=OpenCM"
                keyAlgorithm: RSA
                keySize: 2048
                keyUsages: [KeyEncipherment]
                serverGeneratesKey: true
            """, "archiving.yaml", Guid.Empty, "test");
        return template;
    }

    [Fact]
    public async Task Recover_LostCard_ReplacementGetsNewCertificatesAndTheArchivedKeyLostCardDisabled()
    {
        // 1. A card with a signing key made on it and an archived encryption key made on the server.
        var template = await ArchivingCardTemplateAsync();
        var user = await _server.UserAsync("lost");
        var client = await ClientAsync(user);
        using var lost = EmulatedCard.CreateVirtual(DefaultKey);
        var enroll = await client.CreateRequestAsync(new CreateRequestBody(WireRequestType.Enroll, template, [], Comment: ""));
        var (original, _) = await new CardClient(client).PersonalizeAsync(enroll, lost, Pin);
        Assert.Equal(2, original.Certificates.Count);
        var encryption = original.Certificates.Single(c => c.Extensions.OfType<X509KeyUsageExtension>().Single().KeyUsages.HasFlag(X509KeyUsageFlags.KeyEncipherment));

        // 2. The card is lost: Recover onto a replacement, through the same walkthrough.
        var recover = await OnCardAsync(client, RequestType.Recover, original.Card);
        using var replacement = EmulatedCard.CreateVirtual(DefaultKey);
        var (recovered, _) = await new CardClient(client).PersonalizeAsync(recover, replacement, Pin);

        // New signing and encryption certificates, and the archived one (key history) with its key.
        Assert.Equal(3, recovered.Certificates.Count);
        var history = replacement.Certificates.Single(c => c.Value.Thumbprint == encryption.Thumbprint);
        var data = "old mail"u8.ToArray();
        Assert.True(encryption.GetRSAPublicKey()!.VerifyData(data, replacement.Sign(history.Key, Pin, data), System.Security.Cryptography.HashAlgorithmName.SHA256,
            System.Security.Cryptography.RSASignaturePadding.Pkcs1));

        // 3. The replacement names the card it replaces; the lost card is disabled and its certificates revoked.
        var card = await client.GetSmartcardAsync(recovered.Card);
        Assert.Equal(((int)SmartcardStatus.Active, original.Card), (card.Status, card.ParentSmartcardUuid));
        Assert.Equal((int)SmartcardStatus.Disabled, (await client.GetSmartcardAsync(original.Card)).Status);
        Assert.All(original.Certificates, c => Assert.NotNull(RevocationReasonAsync(c).Result));
        Assert.All(recovered.Certificates.Where(c => c.Thumbprint != encryption.Thumbprint), c => Assert.Null(RevocationReasonAsync(c).Result));
        var audit = await _server.Services.GetRequiredService<IAuditLog>().ForSubjectAsync(recover);
        Assert.Contains(audit, a => a.Event.Detail.Contains("archived keys recovered: " + encryption.SerialNumber, StringComparison.OrdinalIgnoreCase));
    }

    // Issue #18.7: a card released by another user's request is bound again only by a CM
    // manager, as a record of the new user's; the released record stays the first user's.
    [Fact]
    public async Task Assign_CardReleasedByAnotherUsersRequest_ManagerBindsItAsTheNewUsersOwnRecord()
    {
        var firstUser = await _server.UserAsync("first");
        var first = await ClientAsync(firstUser);
        var secondUser = await _server.UserAsync("second");
        var second = await ClientAsync(secondUser);
        using var device = EmulatedCard.CreateVirtual(DefaultKey);
        var abandoned = await first.CreateRequestAsync(new CreateRequestBody(WireRequestType.Enroll, ServerFixture.VirtualSmartcardVpn, [], Comment: ""));
        var released = await first.AssignSmartcardAsync(abandoned, device.CardId, device.Atr);
        await first.SetStatusAsync(abandoned, WireRequestStatus.Abandoned);

        var request = await second.CreateRequestAsync(new CreateRequestBody(WireRequestType.Enroll, ServerFixture.VirtualSmartcardVpn, [], Comment: ""));
        var refused = await RefusedAsync(() => new CardClient(second).PersonalizeAsync(request, device, Pin));
        Assert.Equal((HttpStatusCode.Forbidden, "cardid"), ((HttpStatusCode)refused.Status, refused.Field));

        var (enrollment, _) = await new CardClient(await HelpDeskAsync()).PersonalizeAsync(request, device, Pin);
        Assert.NotEqual(released, enrollment.Card);
        var card = await second.GetSmartcardAsync(enrollment.Card);
        Assert.Equal(((int)SmartcardStatus.Active, secondUser.Uuid), (card.Status, card.AssignedUserUuid));
        var old = await first.GetSmartcardAsync(released);
        Assert.Equal(((int)SmartcardStatus.Retired, firstUser.Uuid), (old.Status, old.AssignedUserUuid));
        Assert.Equal(404, (await RefusedAsync(() => first.GetSmartcardAsync(enrollment.Card))).Status);
    }

    [Fact]
    public async Task TemporaryCard_StandsInForAForgottenCard_PermanentSuspendedUntilTheTemporaryOneIsRetired()
    {
        var e = await EnrolledAsync("forgot");
        var helpDesk = await HelpDeskAsync();

        // A temporary card names the permanent one; the help desk personalizes it at the desk.
        var missing = await RefusedAsync(() => helpDesk.CreateRequestAsync(new CreateRequestBody(WireRequestType.TemporaryCards, ServerFixture.VirtualSmartcardVpn, [], Comment: "")));
        Assert.Equal((HttpStatusCode.BadRequest, "smartcard"), ((HttpStatusCode)missing.Status, missing.Field));
        var request = await OnCardAsync(helpDesk, RequestType.TemporaryCards, e.Card);

        // The permanent card is suspended by the temporary one going into use, not by a PUT on its own.
        var early = await RefusedAsync(() => helpDesk.SetSmartcardStatusAsync(request, e.Card, WireSmartcardStatus.Suspended));
        Assert.Equal((HttpStatusCode.BadRequest, "status"), ((HttpStatusCode)early.Status, early.Field));
        using var temporary = EmulatedCard.CreateVirtual(DefaultKey);
        var (issued, _) = await new CardClient(helpDesk).PersonalizeAsync(request, temporary, Pin);

        // Its own, short expiry (the sample's 7 days); it names the permanent card, which is suspended, its certificate on hold.
        var certificate = Assert.Single(issued.Certificates);
        Assert.Equal(_server.Clock.GetUtcNow().AddDays(7).UtcDateTime, certificate.NotAfter.ToUniversalTime(), TimeSpan.FromSeconds(1));
        var card = await e.Client.GetSmartcardAsync(issued.Card);
        Assert.Equal(((int)SmartcardStatus.Active, e.Card), (card.Status, card.PermanentSmartcardUuid));
        Assert.Equal((int)SmartcardStatus.Suspended, (await e.Client.GetSmartcardAsync(e.Card)).Status);
        Assert.Equal(ProfileRules.CertificateHold, await RevocationReasonAsync(e.Certificate));
        Assert.Null(await RevocationReasonAsync(certificate));

        // The permanent card turns up: the temporary one is retired, and the permanent one is back with its certificate.
        var retire = await OnCardAsync(e.Client, RequestType.Retire, issued.Card);
        Assert.Equal((int)SmartcardStatus.Retired, (await e.Client.SetSmartcardStatusAsync(retire, issued.Card, WireSmartcardStatus.Retired)).Status);
        Assert.Equal((int)SmartcardStatus.Active, (await e.Client.GetSmartcardAsync(e.Card)).Status);
        Assert.Null(await RevocationReasonAsync(e.Certificate));
        Assert.Equal(ProfileRules.CessationOfOperation, await RevocationReasonAsync(certificate));
    }

    [Fact]
    public async Task Assign_OneCardRacedByEightRequests_ExactlyOneBindsTheRestConflictOnCardid()
    {
        var cardId = Guid.NewGuid().ToString();
        var clients = new List<(OpenCmClient Client, Guid Request)>();
        for (var i = 0; i < 8; i++)
        {
            var client = await ClientAsync(await _server.UserAsync($"race{i}"));
            clients.Add((client, await client.CreateRequestAsync(new CreateRequestBody(WireRequestType.Enroll, ServerFixture.VirtualSmartcardVpn, [], Comment: ""))));
        }

        var outcomes = await Task.WhenAll(clients.Select(async c =>
        {
            try
            {
                await c.Client.AssignSmartcardAsync(c.Request, cardId, EmulatedCard.VirtualSmartcardAtr);
                return "bound";
            }
            catch (OpenCmApiException e)
            {
                return $"{e.Status} {e.Field}";
            }
        }));
        Assert.Single(outcomes, o => o == "bound");
        Assert.All(outcomes.Where(o => o != "bound"), o => Assert.Equal("409 cardid", o));
    }

    [Fact]
    public async Task Cancel_AfterCertificatesWereIssuedOntoTheCard_CardFreeAgainCertificatesRevoked()
    {
        var user = await _server.UserAsync("cancel");
        var client = await ClientAsync(user);
        var request = await client.CreateRequestAsync(new CreateRequestBody(WireRequestType.Enroll, ServerFixture.VirtualSmartcardVpn, [], Comment: ""));
        using var device = EmulatedCard.CreateVirtual(DefaultKey);
        var card = await client.AssignSmartcardAsync(request, device.CardId, device.Atr);
        var cards = new CardClient(client);
        device.UnblockPin(await client.AuthenticationResponseAsync(request, card, device.CardId, device.GetChallenge(), diversified: false), Pin);
        var issued = Assert.Single(await cards.IssueOntoCardAsync(request, device, Pin));

        await client.SetStatusAsync(request, WireRequestStatus.Canceled);
        Assert.Equal(ProfileRules.CessationOfOperation, await RevocationReasonAsync(issued));
        Assert.Equal((int)SmartcardStatus.New, (await client.GetSmartcardAsync(card)).Status);
        Assert.Empty(await client.SmartcardOperationsAsync(card));
    }

    [Fact]
    public async Task CardRequests_NotYoursOrWrongCard_LookLikeNothingIsThere()
    {
        var e = await EnrolledAsync("owner");
        var eve = await ClientAsync(await _server.UserAsync("eve"));

        // Another user's card: unknown, as a card that does not exist.
        var mine = await RefusedAsync(() => OnCardAsync(eve, RequestType.Retire, e.Card));
        var none = await RefusedAsync(() => OnCardAsync(eve, RequestType.Retire, Guid.NewGuid()));
        Assert.Equal(((HttpStatusCode)mine.Status, mine.Field), ((HttpStatusCode)none.Status, none.Field));
        Assert.Equal((404, 404), ((await RefusedAsync(() => eve.SmartcardCertificatesAsync(e.Card))).Status, (await RefusedAsync(() => eve.SmartcardOperationsAsync(e.Card))).Status));

        // A card PUT under a request that does not name it; a request the caller cannot see.
        var retire = await OnCardAsync(e.Client, RequestType.Retire, e.Card);
        Assert.Equal(404, (await RefusedAsync(() => e.Client.SetSmartcardStatusAsync(retire, Guid.NewGuid(), WireSmartcardStatus.Retired))).Status);
        Assert.Equal(404, (await RefusedAsync(() => eve.SetSmartcardStatusAsync(retire, e.Card, WireSmartcardStatus.Retired))).Status);
        Assert.Equal((int)SmartcardStatus.Active, (await e.Client.GetSmartcardAsync(e.Card)).Status);

        // A card's profile is acted on through its card, never as a software profile.
        var profile = Assert.Single(await _server.Services.GetRequiredService<IProfileStore>().ForSmartcardAsync(e.Card));
        var asSoftware = await RefusedAsync(() => e.Client.CreateRequestAsync(new CreateRequestBody(WireRequestType.Retire, null, [], Comment: "", Profile: profile.Uuid)));
        Assert.Equal((HttpStatusCode.BadRequest, "profile"), ((HttpStatusCode)asSoftware.Status, asSoftware.Field));
    }
}
