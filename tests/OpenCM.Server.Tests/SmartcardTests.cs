using System.Net;
using System.Net.Http.Json;
using Microsoft.Extensions.DependencyInjection;
using OpenCM.Application;
using OpenCM.Domain;

namespace OpenCM.Server.Tests;

/// <summary>Issue #8.2: POST /smartcards binds a card to a smart card request (walkthrough steps 14-15).</summary>
public sealed class SmartcardTests : IClassFixture<ServerFixture>
{
    private readonly ServerFixture _server;

    public SmartcardTests(ServerFixture server) => _server = server;

    private static StringContent Assign(Guid request, string cardId, string atr = "3B8D0180FBA000000397425446590301C8") =>
        Http.Json($$"""{"requestid":" {{request.ToString().ToUpperInvariant()}}","cardid":"{{cardId}}","atr":"{{atr}}"}""");

    private async Task<(HttpClient Client, Guid Request)> CardRequestAsync(string name = "carda")
    {
        var client = await _server.ClientAsync(await _server.UserAsync(name));
        return (client, await client.CreateIdAsync(ServerFixture.VirtualSmartcardVpn, """[{"Request Reason":"VPN"}]"""));
    }

    [Fact]
    public async Task Assign_FreshCard_201RequestExecutingWithTheCard()
    {
        var (client, request) = await CardRequestAsync();
        var cardId = Guid.NewGuid().ToString().ToUpperInvariant();
        var response = await client.PostAsync($"{ServerFixture.Api}/smartcards", Assign(request, cardId));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var relative = await response.Content.ReadFromJsonAsync<string>();
        Assert.Matches("^api/v1\\.0/smartcards/[0-9a-f-]{36}$", relative);
        Assert.Equal($"/CertificateManagement/{relative}", response.Headers.Location!.OriginalString);
        var uuid = Guid.Parse(relative!.Split('/')[^1]);
        var json = await (await client.GetAsync($"{ServerFixture.Api}/requests/{request}")).JsonAsync();
        Assert.Equal(((int)RequestStatus.Executing, uuid.ToString("D")), (json.GetProperty("Status").GetInt32(), json.GetProperty("NewSmartcardUuid").GetString()));
        var card = await _server.Services.GetRequiredService<ISmartcardStore>().FindAsync(uuid);
        Assert.Equal((SmartcardStatus.Assigned, cardId.ToLowerInvariant(), request), (card!.Status, card.CardId, card.RequestUuid));
    }

    [Fact]
    public async Task Assign_CardBoundElsewhere_409NamingCardidUntilThatRequestEnds()
    {
        var (first, one) = await CardRequestAsync("first");
        var (second, two) = await CardRequestAsync("second");
        var cardId = Guid.NewGuid().ToString();
        Assert.Equal(HttpStatusCode.Created, (await first.PostAsync($"{ServerFixture.Api}/smartcards", Assign(one, cardId))).StatusCode);

        var taken = await second.PostAsync($"{ServerFixture.Api}/smartcards", Assign(two, "{" + cardId.ToUpperInvariant() + "}"));
        var json = await taken.JsonAsync();
        Assert.Equal((HttpStatusCode.Conflict, "cardid"), (taken.StatusCode, json.GetProperty("field").GetString()));
        Assert.Equal((int)RequestStatus.Approved, (await (await second.GetAsync($"{ServerFixture.Api}/requests/{two}")).JsonAsync()).GetProperty("Status").GetInt32());

        // The first request is abandoned: its card is released. The first user held it, so the
        // second user may not bind it; a CM manager may, as a new record (issue #18.7).
        Assert.Equal(HttpStatusCode.OK, (await first.PutStatusAsync(one, "Abandoned")).StatusCode);
        var notTheirs = await second.PostAsync($"{ServerFixture.Api}/smartcards", Assign(two, cardId));
        Assert.Equal((HttpStatusCode.Forbidden, "cardid"), (notTheirs.StatusCode, (await notTheirs.JsonAsync()).GetProperty("field").GetString()));
        var admin = await _server.AdminAsync();
        Assert.Equal(HttpStatusCode.Created, (await admin.PostAsync($"{ServerFixture.Api}/smartcards", Assign(two, cardId))).StatusCode);
    }

    // Issue #18.7: the key depended on the card id alone, so whoever bound a released or retired
    // card id next got the previous holder's admin key, and the released record (its uuid) moved
    // to the new user. Each binding now has a key generation of its own, and another user's card
    // is bound by a manager as a record of its own.
    [Fact]
    public async Task Assign_CardIdHeldBefore_NewKeyEachBindingAndTheOldHoldersRecordStaysTheirs()
    {
        var (first, one) = await CardRequestAsync("held1");
        var cardId = Guid.NewGuid().ToString();
        var firstCard = Guid.Parse((await (await first.PostAsync($"{ServerFixture.Api}/smartcards", Assign(one, cardId))).Content.ReadFromJsonAsync<string>())!.Split('/')[^1]);
        string KeyRoute(Guid request, Guid card) => $"{ServerFixture.Api}/requests/{request}/smartcards/{card}/diversifiedkey?cardid={cardId}";
        var firstKey = (await first.GetFromJsonAsync<string>(KeyRoute(one, firstCard)))!;
        Assert.Equal(HttpStatusCode.OK, (await first.PutStatusAsync(one, "Abandoned")).StatusCode);

        // The same user binds the released card again: the same record, the next generation, another key.
        var again = await first.CreateIdAsync(ServerFixture.VirtualSmartcardVpn, """[{"Request Reason":"VPN"}]""");
        var rebound = Guid.Parse((await (await first.PostAsync($"{ServerFixture.Api}/smartcards", Assign(again, cardId))).Content.ReadFromJsonAsync<string>())!.Split('/')[^1]);
        Assert.Equal(firstCard, rebound);
        var secondKey = (await first.GetFromJsonAsync<string>(KeyRoute(again, rebound)))!;
        Assert.NotEqual(firstKey, secondKey);
        Assert.Equal(HttpStatusCode.OK, (await first.PutStatusAsync(again, "Abandoned")).StatusCode);

        // Another user's request, bound by a manager: a record of its own with a key of its own;
        // the first user's record is retired and still theirs.
        var (other, three) = await CardRequestAsync("held2");
        var admin = await _server.AdminAsync();
        var otherCard = Guid.Parse((await (await admin.PostAsync($"{ServerFixture.Api}/smartcards", Assign(three, cardId))).Content.ReadFromJsonAsync<string>())!.Split('/')[^1]);
        Assert.NotEqual(firstCard, otherCard);
        var store = _server.Services.GetRequiredService<ISmartcardStore>();
        var old = (await store.FindAsync(firstCard))!;
        var fresh = (await store.FindAsync(otherCard))!;
        Assert.Equal((SmartcardStatus.Retired, SmartcardStatus.Assigned), (old.Status, fresh.Status));
        Assert.NotEqual(old.UserUuid, fresh.UserUuid);
        Assert.Equal((2, 3), (old.KeyGeneration, fresh.KeyGeneration));
        var thirdKey = (await other.GetFromJsonAsync<string>(KeyRoute(three, otherCard)))!;
        Assert.Equal(3, new[] { firstKey, secondKey, thirdKey }.Distinct().Count());
    }

    [Fact]
    public async Task Assign_SecondCardForTheSameRequest_409()
    {
        var (client, request) = await CardRequestAsync();
        Assert.Equal(HttpStatusCode.Created, (await client.PostAsync($"{ServerFixture.Api}/smartcards", Assign(request, Guid.NewGuid().ToString()))).StatusCode);
        var again = await client.PostAsync($"{ServerFixture.Api}/smartcards", Assign(request, Guid.NewGuid().ToString()));
        Assert.Equal((HttpStatusCode.Conflict, "InvalidStatusTransition"), (again.StatusCode, await again.ErrorCodeAsync()));
    }

    [Fact]
    public async Task Assign_SoftwareRequestUnknownOrNotYours_RefusedWithoutAnOracle()
    {
        var (client, _) = await CardRequestAsync();
        var software = await client.CreateIdAsync(ServerFixture.UserCertificate);
        var notCard = await client.PostAsync($"{ServerFixture.Api}/smartcards", Assign(software, Guid.NewGuid().ToString()));
        Assert.Equal((HttpStatusCode.Conflict, "requestid"), (notCard.StatusCode, (await notCard.JsonAsync()).GetProperty("field").GetString()));

        var eve = await _server.ClientAsync(await _server.UserAsync("eve"));
        var (_, someoneElses) = await CardRequestAsync("other");
        Assert.Equal(HttpStatusCode.NotFound, (await eve.PostAsync($"{ServerFixture.Api}/smartcards", Assign(someoneElses, Guid.NewGuid().ToString()))).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await eve.PostAsync($"{ServerFixture.Api}/smartcards", Assign(Guid.NewGuid(), Guid.NewGuid().ToString()))).StatusCode);
    }

    [Theory]
    [InlineData("""{"cardid":"x"}""", "requestid")]
    [InlineData("""{"requestid":"{id}"}""", "cardid")]
    [InlineData("""{"requestid":"{id}","cardid":"  "}""", "cardid")]
    [InlineData("""{"requestid":"{id}","cardid":"x","atr":"XYZ"}""", "atr")]
    [InlineData("""{"requestid":"{id}","cardid":"x","atr":"3B8"}""", "atr")]
    [InlineData("""{"requestid":"not-a-guid","cardid":"x"}""", "requestid")]
    public async Task Assign_BadBody_400NamingTheField(string body, string field)
    {
        var (client, request) = await CardRequestAsync();
        var response = await client.PostAsync($"{ServerFixture.Api}/smartcards", Http.Json(body.Replace("{id}", request.ToString(), StringComparison.Ordinal)));
        var json = await response.JsonAsync();
        Assert.Equal((HttpStatusCode.BadRequest, field), (response.StatusCode, json.GetProperty("field").GetString()));
    }

    [Fact]
    public async Task Get_BoundCard_ReferenceShapeByIdAndByCardIdOwnerOnly()
    {
        var (client, request) = await CardRequestAsync("owner");
        var cardId = Guid.NewGuid().ToString();
        var relative = await (await client.PostAsync($"{ServerFixture.Api}/smartcards", Assign(request, cardId))).Content.ReadFromJsonAsync<string>();
        var uuid = relative!.Split('/')[^1];

        var json = await (await client.GetAsync($"{ServerFixture.Api}/smartcards/{uuid.ToUpperInvariant()}")).JsonAsync();
        Assert.Equal(["Uuid", "Status", "Flags", "ParentSmartcardUuid", "PrimarySmartcardUuid", "PermanentSmartcardUuid", "AssignedUserUuid",
            "ProfileTemplateUuid", "ProfileTemplateVersion", "Comment", "SerialNumber", "Middleware", "Atr"], json.EnumerateObject().Select(p => p.Name));
        Assert.Equal((uuid, (int)SmartcardStatus.Assigned, 1, "{" + cardId + "}", "3b8d0180fba000000397425446590301c8"),
            (json.GetProperty("Uuid").GetString(), json.GetProperty("Status").GetInt32(), json.GetProperty("Flags").GetInt32(),
             json.GetProperty("SerialNumber").GetString(), json.GetProperty("Atr").GetString()));
        Assert.Equal(ServerFixture.VirtualSmartcardVpn.ToString("D"), json.GetProperty("ProfileTemplateUuid").GetString());

        var byCardId = await (await client.GetAsync($"{ServerFixture.Api}/smartcards?cardid={cardId.ToUpperInvariant()}")).JsonAsync();
        Assert.Equal(uuid, byCardId.GetProperty("Uuid").GetString());
        Assert.Contains((await (await client.GetAsync($"{ServerFixture.Api}/smartcards")).JsonAsync()).EnumerateArray(), c => c.GetProperty("Uuid").GetString() == uuid);

        // Not the caller's: exactly as absent.
        var eve = await _server.ClientAsync(await _server.UserAsync("eve"));
        Assert.Equal(HttpStatusCode.NotFound, (await eve.GetAsync($"{ServerFixture.Api}/smartcards/{uuid}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await eve.GetAsync($"{ServerFixture.Api}/smartcards?cardid={cardId}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await eve.GetAsync($"{ServerFixture.Api}/smartcards/{Guid.NewGuid()}")).StatusCode);
        Assert.Empty((await (await eve.GetAsync($"{ServerFixture.Api}/smartcards")).JsonAsync()).EnumerateArray());
        Assert.Equal(HttpStatusCode.BadRequest, (await eve.GetAsync($"{ServerFixture.Api}/smartcards?cardid=%00x")).StatusCode);

        // A manager reads it.
        Assert.Equal(HttpStatusCode.OK, (await (await _server.AdminAsync()).GetAsync($"{ServerFixture.Api}/smartcards/{uuid}")).StatusCode);
    }

    private async Task<(HttpClient Client, Guid Request, string Card, string CardId)> BoundCardAsync(string name)
    {
        var (client, request) = await CardRequestAsync(name);
        var cardId = Guid.NewGuid().ToString();
        var relative = await (await client.PostAsync($"{ServerFixture.Api}/smartcards", Assign(request, cardId))).Content.ReadFromJsonAsync<string>();
        return (client, request, relative!.Split('/')[^1], cardId);
    }

    private static async Task<byte[]> OpensslDes3Async(byte[] key, byte[] challenge)
    {
        using var dir = new TestKit.TempDirectory();
        await File.WriteAllBytesAsync(dir.File("c.bin"), challenge);
        await TestKit.OpenSsl.CheckAsync(dir.Path, "enc", "-des-ede3-ecb", "-nopad", "-K", Convert.ToHexString(key), "-in", "c.bin", "-out", "r.bin");
        return await File.ReadAllBytesAsync(dir.File("r.bin"));
    }

    [Fact]
    public async Task CardKeys_Walkthrough17To20_DiversifiedKeyAndBothChallengeResponsesAsOpensslComputes()
    {
        var (client, request, card, cardId) = await BoundCardAsync("keys");
        var keyRoute = $"{ServerFixture.Api}/requests/{request}/smartcards/{card}/diversifiedkey?cardid={cardId.ToUpperInvariant()}";

        // Step 18: the card's own admin key: 24 bytes with DES parity, the same on every ask.
        var key = Convert.FromBase64String((await client.GetFromJsonAsync<string>(keyRoute))!);
        Assert.Equal(24, key.Length);
        Assert.All(key, b => Assert.Equal(1, System.Numerics.BitOperations.PopCount(b) % 2));
        Assert.Equal(key, Convert.FromBase64String((await client.GetFromJsonAsync<string>(keyRoute))!));

        // Step 19: the admin challenge, under the default key (a blank card) and under the diversified one.
        var challenge = Convert.FromBase64String("1hFD+cz/0so=");
        string Route(bool diversified) =>
            $"{ServerFixture.Api}/requests/{request}/smartcards/{card}/authenticationresponse?cardid={cardId}&challenge={Uri.EscapeDataString("1hFD+cz/0so=")}&diversified={diversified}";
        Assert.Equal(await OpensslDes3Async(Convert.FromHexString("010203040506070801020304050607080102030405060708"), challenge),
            Convert.FromBase64String((await client.GetFromJsonAsync<string>(Route(false)))!));
        Assert.Equal(await OpensslDes3Async(key, challenge), Convert.FromBase64String((await client.GetFromJsonAsync<string>(Route(true)))!));

        // Audited as handed out, never with a key in it.
        var events = await _server.Services.GetRequiredService<IAuditLog>().ForSubjectAsync(request);
        Assert.Contains(events, e => e.Event.Kind == "AdminKeyIssued");
        Assert.Contains(events, e => e.Event.Kind == "AdminChallengeAnswered");
        Assert.DoesNotContain(events, e => e.Event.Detail.Contains(Convert.ToBase64String(key), StringComparison.Ordinal) || e.Event.Detail.Contains(Convert.ToHexString(key), StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public async Task CardKeys_WrongCardOtherUserOrEndedRequest_Refused()
    {
        var (client, request, card, cardId) = await BoundCardAsync("keys2");
        string KeyRoute(string id) => $"{ServerFixture.Api}/requests/{request}/smartcards/{card}/diversifiedkey?cardid={id}";

        var wrong = await client.GetAsync(KeyRoute(Guid.NewGuid().ToString()));
        Assert.Equal((HttpStatusCode.Conflict, "cardid"), (wrong.StatusCode, (await wrong.JsonAsync()).GetProperty("field").GetString()));
        Assert.Equal(HttpStatusCode.BadRequest, (await client.GetAsync($"{ServerFixture.Api}/requests/{request}/smartcards/{card}/diversifiedkey")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"{ServerFixture.Api}/requests/{request}/smartcards/{Guid.NewGuid()}/diversifiedkey?cardid={cardId}")).StatusCode);

        var eve = await _server.ClientAsync(await _server.UserAsync("eve"));
        Assert.Equal(HttpStatusCode.NotFound, (await eve.GetAsync(KeyRoute(cardId))).StatusCode);

        string ChallengeRoute(string challenge, string diversified) =>
            $"{ServerFixture.Api}/requests/{request}/smartcards/{card}/authenticationresponse?cardid={cardId}&challenge={challenge}&diversified={diversified}";
        Assert.Equal("challenge", (await (await client.GetAsync(ChallengeRoute("AAAAAAAAAA%3D%3D", "true"))).JsonAsync()).GetProperty("field").GetString());
        Assert.Equal("challenge", (await (await client.GetAsync(ChallengeRoute("not-base64!", "true"))).JsonAsync()).GetProperty("field").GetString());
        Assert.Equal("diversified", (await (await client.GetAsync(ChallengeRoute("AAAAAAAAAAA%3D", "maybe"))).JsonAsync()).GetProperty("field").GetString());

        // The request ends: its card is released and no key is handed out any more.
        Assert.Equal(HttpStatusCode.OK, (await client.PutStatusAsync(request, "Abandoned")).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await client.GetAsync(KeyRoute(cardId))).StatusCode);
    }

    [Fact]
    public async Task ProposedPin_ServerProposedPolicy_DigitsOncePerExecutionAndNeverInTheAudit()
    {
        // A card template whose policy has the server propose PINs.
        var template = Guid.NewGuid();
        await _server.Services.GetRequiredService<TemplateService>().ImportAsync($$"""
            uuid: {{template}}
            name: Server PIN card {{template:N}}
            isVirtualSmartcardProfileTemplate: true
            policies:
              Enroll:
                enabled: true
                selfServiceEnabled: true
            smartcard:
              userPinOption: ServerProposed
              minimumPinLength: 6
              maximumPinLength: 8
            """, "pin.yaml", Guid.Empty, "test");
        var client = await _server.ClientAsync(await _server.UserAsync("pin"));
        var request = await client.CreateIdAsync(template);
        var cardId = Guid.NewGuid().ToString();
        var card = (await (await client.PostAsync($"{ServerFixture.Api}/smartcards", Assign(request, cardId))).Content.ReadFromJsonAsync<string>())!.Split('/')[^1];

        var eve = await _server.ClientAsync(await _server.UserAsync("eve"));
        Assert.Equal(HttpStatusCode.NotFound, (await eve.GetAsync($"{ServerFixture.Api}/smartcards/{card}/serverproposedpin")).StatusCode);

        var response = await client.GetAsync($"{ServerFixture.Api}/smartcards/{card}/serverproposedpin");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var pin = await response.Content.ReadFromJsonAsync<string>();
        Assert.Matches("^[0-9]{8}$", pin);

        // Once per execution, by either route.
        Assert.Equal(HttpStatusCode.Conflict, (await client.GetAsync($"{ServerFixture.Api}/smartcards/{card}/serverproposedpin")).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await client.GetAsync($"{ServerFixture.Api}/requests/{request}/smartcards/{card}/serverproposedpin")).StatusCode);
        var events = await _server.Services.GetRequiredService<IAuditLog>().ForSubjectAsync(request);
        Assert.Single(events, e => e.Event.Kind == "PinProposed");
        Assert.DoesNotContain(events, e => e.Event.Detail.Contains(pin!, StringComparison.Ordinal));
    }

    [Fact]
    public async Task ProposedPin_UserProvidedPolicy_409()
    {
        var (client, request, card, _) = await BoundCardAsync("userpin");
        var response = await client.GetAsync($"{ServerFixture.Api}/requests/{request}/smartcards/{card}/serverproposedpin");
        Assert.Equal((HttpStatusCode.Conflict, "smartcard"), (response.StatusCode, (await response.JsonAsync()).GetProperty("field").GetString()));
    }

    // Hostile values on every card read and key route: a 4xx that reveals nothing, never a 5xx.
    public static TheoryData<string> HostileCardRoutes() => new()
    {
        "/smartcards/not-a-guid",
        "/smartcards?cardid=%20%20",
        "/smartcards?cardid=%00",
        "/smartcards?cardid=" + new string('x', 5000),
        "/smartcards/{card}/serverproposedpin?x=1",
        "/smartcards/" + Guid.NewGuid() + "/serverproposedpin",
        "/requests/not-a-guid/smartcards/{card}/diversifiedkey?cardid=x",
        "/requests/{request}/smartcards/{card}/diversifiedkey?cardid=%20",
        "/requests/{request}/smartcards/{card}/diversifiedkey?cardid=%E2%80%AE",
        "/requests/{request}/smartcards/{card}/authenticationresponse?cardid=%20&challenge=AAAAAAAAAAA%3D&diversified=true",
        "/requests/{request}/smartcards/{card}/authenticationresponse?cardid={cardid}&challenge=" + new string('A', 4000) + "&diversified=true",
        "/requests/{request}/smartcards/{card}/serverproposedpin",
        "/profiletemplates/not-a-guid/configuration/smartcards",
        "/smartcards/not-a-guid/operations",
        "/smartcards/not-a-guid/certificates",
        "/smartcards/" + Guid.NewGuid() + "/operations",
        "/smartcards/" + Guid.NewGuid() + "/certificates",
    };

    [Theory]
    [MemberData(nameof(HostileCardRoutes))]
    public async Task CardRoutes_HostileValues_4xxNever5xx(string route)
    {
        var (_, request, card, cardId) = await BoundCardAsync("hostile");
        var eve = await _server.ClientAsync(await _server.UserAsync("eve"));
        var owner = await _server.ClientAsync((await _server.Services.GetRequiredService<IDirectory>().FindAsync(
            (await _server.Services.GetRequiredService<ISmartcardStore>().FindAsync(Guid.Parse(card)))!.UserUuid))!);
        var path = ServerFixture.Api + route.Replace("{request}", request.ToString(), StringComparison.Ordinal)
            .Replace("{card}", card, StringComparison.Ordinal).Replace("{cardid}", cardId, StringComparison.Ordinal);
        foreach (var client in new[] { owner, eve })
        {
            var response = await client.GetAsync(path);
            var text = await response.Content.ReadAsStringAsync();
            Assert.True((int)response.StatusCode is >= 400 and < 500, $"{(int)response.StatusCode} for {route}: {text}");
            Assert.DoesNotContain("Exception", text, StringComparison.Ordinal);
        }
    }
}
