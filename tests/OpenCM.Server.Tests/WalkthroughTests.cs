using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using OpenCM.Cards;
using OpenCM.Domain;
using OpenCM.Smartcards;
using OpenCM.TestKit;

namespace OpenCM.Server.Tests;

/// <summary>
/// Issue #8: Microsoft's sample enrollment walkthrough (sample-enrollment-walkthrough.md), all 28
/// steps, over raw HTTP as the page writes them, with a software-emulated Base CSP card playing
/// the virtual smart card and openssl checking what ends up on it. Written without OpenCM's own
/// client, so that it checks the wire and not our reading of it.
/// </summary>
public sealed class WalkthroughTests : IClassFixture<ServerFixture>, IDisposable
{
    private const string Root = "/CertificateManagement/api/v1.0";
    private readonly ServerFixture _server;
    private readonly TempDirectory _dir = new();

    public WalkthroughTests(ServerFixture server) => _server = server;

    public void Dispose() => _dir.Dispose();

    private static async Task<T> OkAsync<T>(HttpResponseMessage response)
    {
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        return (await response.Content.ReadFromJsonAsync<T>())!;
    }

    [Fact]
    public async Task Walkthrough_VirtualSmartcardSelfService_AllTwentyEightStepsEndWithAnActiveCardOpensslVerifies()
    {
        var user = await _server.UserAsync("vsc");
        using var http = await _server.ClientAsync(user);

        // 1-2. The templates the user may enroll for; the user picks "Virtual Smartcard VPN".
        var templates = await OkAsync<JsonElement>(await http.GetAsync($"{Root}/profiletemplates"));
        var vsc = templates.EnumerateArray().Single(t => t.GetProperty("Name").GetString() == "Virtual Smartcard VPN");
        Assert.True(vsc.GetProperty("IsVirtualSmartcardProfileTemplate").GetBoolean());
        var templateId = vsc.GetProperty("Uuid").GetString()!.ToUpperInvariant();
        Assert.Equal("97CD65FA-AF4B-4587-9309-0DD6BFD8B4E1", templateId);

        // 3-4. The enroll policy: one data item, "Request Reason" (the reference names the field PolicyDataCollection); no comments collected.
        var policy = await OkAsync<JsonElement>(await http.GetAsync($"{Root}/profiletemplates/{templateId}/policies/enroll"));
        Assert.Equal("Request Reason", policy.GetProperty("PolicyDataCollection").EnumerateArray().Single().GetProperty("Name").GetString());
        Assert.False(policy.GetProperty("CollectComments").GetBoolean());

        // 5-6. The request, with the reason; the server answers its URI.
        var created = await http.PostAsync($"{Root}/requests", Http.Json($$"""
            {"datacollection":"[{\"Request Reason\":\"Need VPN Certs\"}]","type":"Enroll","profiletemplateuuid":"{{templateId}}","comment":""}
            """));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var requestUri = await created.Content.ReadFromJsonAsync<string>();
        var requestId = requestUri!.Split('/')[^1];

        // 7-9. The request is approved and has no card yet.
        var request = await OkAsync<JsonElement>(await http.GetAsync($"{Root}/requests/{requestId}"));
        Assert.Equal((int)RequestStatus.Approved, request.GetProperty("Status").GetInt32());
        Assert.Equal(Guid.Empty, request.GetProperty("NewSmartcardUuid").GetGuid());

        // 10-13. The client creates a virtual card with the policy's default admin key.
        var cardPolicy = await OkAsync<JsonElement>(await http.GetAsync($"{Root}/profiletemplates/{templateId}/configuration/smartcards"));
        var defaultKey = Convert.FromHexString(cardPolicy.GetProperty("DefaultAdminKeyHex").GetString()!);
        using var card = EmulatedCard.CreateVirtual(defaultKey);

        // 14-15. The card is assigned to the request; the server answers the card's URI.
        var assigned = await http.PostAsync($"{Root}/smartcards", Http.Json($$"""{"requestid":" {{requestId.ToUpperInvariant()}}","cardid":"{{card.CardId}}",}"""));
        Assert.Equal(HttpStatusCode.Created, assigned.StatusCode);
        var cardUri = await assigned.Content.ReadFromJsonAsync<string>();
        Assert.StartsWith("api/v1.0/smartcards/", cardUri, StringComparison.Ordinal);
        var cardUuid = cardUri!.Split('/')[^1];

        // 16. The card object: assigned to the user, for this template.
        var smartcard = await OkAsync<JsonElement>(await http.GetAsync($"{Root}/smartcards/{cardUuid}"));
        Assert.Equal(((int)SmartcardStatus.Assigned, user.Uuid), (smartcard.GetProperty("Status").GetInt32(), smartcard.GetProperty("AssignedUserUuid").GetGuid()));

        // 17-18. The policy diversifies: the card's own admin key.
        Assert.True(cardPolicy.GetProperty("DiversifyAdminKey").GetBoolean());
        var cardRoute = $"{Root}/requests/{requestId}/smartcards/{cardUuid}";
        var diversified = Convert.FromBase64String(await OkAsync<string>(await http.GetAsync($"{cardRoute}/diversifiedkey?cardid={card.CardId}")));

        // 19-20. The card's challenge, answered under the default key, lets the client set the new key.
        async Task<byte[]> AnswerAsync(bool underDiversifiedKey)
        {
            var challenge = Uri.EscapeDataString(Convert.ToBase64String(card.GetChallenge()));
            return Convert.FromBase64String(await OkAsync<string>(await http.GetAsync(
                $"{cardRoute}/authenticationresponse?cardid={card.CardId}&challenge={challenge}&diversified={(underDiversifiedKey ? "true" : "false")}")));
        }

        card.ChangeAdminKey(await AnswerAsync(underDiversifiedKey: false), diversified);

        // 21-23. The user chooses the PIN; an answer under the diversified key lets the client set it.
        Assert.Equal((int)UserPinOption.UserProvided, cardPolicy.GetProperty("UserPinOption").GetInt32());
        const string pin = "246810";
        card.UnblockPin(await AnswerAsync(underDiversifiedKey: true), pin);

        // 24-25. How to make the key and the request.
        var options = (await OkAsync<JsonElement>(await http.GetAsync($"{Root}/requests/{requestId}/certificaterequestgenerationoptions"))).EnumerateArray().Single();
        Assert.Equal(("RSA", 2048), (options.GetProperty("KeyAlgorithmName").GetString(), options.GetProperty("KeySize").GetInt32()));
        var csr = card.CreateCertificateRequest("vpn", pin, options.GetProperty("Subject").GetString()!, "RSA", 2048, options.GetProperty("HashAlgorithmName").GetString()!);

        // 26-27. The request goes in; a PKCS#7 comes back, installed on the card beside its key.
        var issued = await OkAsync<JsonElement>(await http.PostAsync($"{Root}/requests/{requestId}/certificatedata",
            Http.Json($$"""{"pfxpassword":"","certificaterequests":["{{Convert.ToBase64String(csr)}}"]}""")));
        var delivery = issued.EnumerateArray().Single();
        Assert.True(delivery.GetProperty("isPkcs7").GetBoolean());
        var cms = new SignedCms();
        cms.Decode(Convert.FromBase64String(delivery.GetProperty("Pkcs7").GetString()!));
        var leaf = cms.Certificates.Single(c => c.PublicKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(card.PublicKey("vpn")));
        card.InstallCertificate("vpn", leaf.RawData, pin);

        // 28. The request is completed.
        var completed = await OkAsync<JsonElement>(await http.PutAsync($"{Root}/requests/{requestId}", Http.Json("""{"status":"Completed"}""")));
        Assert.Equal((int)RequestStatus.Completed, completed.GetProperty("Status").GetInt32());

        // After: the card is Active, lists its certificate, and openssl verifies it against the CA.
        smartcard = await OkAsync<JsonElement>(await http.GetAsync($"{Root}/smartcards/{cardUuid}"));
        Assert.Equal((int)SmartcardStatus.Active, smartcard.GetProperty("Status").GetInt32());
        var listed = (await OkAsync<JsonElement>(await http.GetAsync($"{Root}/smartcards/{cardUuid}/certificates"))).EnumerateArray().Single();
        Assert.Equal(leaf.Thumbprint, listed.GetProperty("Thumbprint").GetString());
        Assert.Equal("OpenCMVirtualSmartcardVpn", listed.GetProperty("TemplateCommonName").GetString());
        await File.WriteAllTextAsync(_dir.File("leaf.pem"), leaf.ExportCertificatePem());
        var caDer = await _server.CreateClient().GetByteArrayAsync("/CertificateManagement/ca/OpenCM-Root-CA.crt");
        await File.WriteAllTextAsync(_dir.File("ca.pem"), PemEncoding.WriteString("CERTIFICATE", caDer));
        Assert.Contains("leaf.pem: OK", await OpenSsl.CheckAsync(_dir.Path, ["verify", .. OpenSsl.At(_server.Clock.GetUtcNow()), "-CAfile", "ca.pem", "-purpose", "sslclient", "leaf.pem"]), StringComparison.Ordinal);

        // The key is on the card: what the card signs verifies under the certificate.
        var data = "walkthrough"u8.ToArray();
        Assert.True(leaf.GetRSAPublicKey()!.VerifyData(data, card.Sign("vpn", pin, data), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));

        // And the user can now act on the card: the operations the sample template allows them.
        var operations = (await OkAsync<JsonElement>(await http.GetAsync($"{Root}/smartcards/{cardUuid}/operations"))).EnumerateArray().Select(o => o.GetString()).ToList();
        Assert.Equal(["renew", "duplicate", "retire", "unblock"], operations);
    }
}
