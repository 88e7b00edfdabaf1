using System.Net;
using Microsoft.Extensions.DependencyInjection;
using OpenCM.Application;
using OpenCM.Cards;
using OpenCM.Client;
using OpenCM.Contracts;
using OpenCM.Domain;
using OpenCM.Smartcards;

namespace OpenCM.Server.Tests;

/// <summary>
/// Issue #8.8: OnlineUpdate of a card, in its own server because it publishes a new version of
/// the sample card template (which other tests' expectations would see).
/// </summary>
public sealed class CardOnlineUpdateTests : IClassFixture<ServerFixture>
{
    private readonly ServerFixture _server;

    public CardOnlineUpdateTests(ServerFixture server) => _server = server;

    [Fact]
    public async Task OnlineUpdate_OnlyAfterTheTemplateChanges_ThenNewCertificatesOnTheSameCardOldOnesSuperseded()
    {
        var user = await _server.UserAsync("update");
        using var client = new OpenCmClient(_server.CreateClient(), await _server.TokenAsync(user));
        using var device = EmulatedCard.CreateVirtual(AdminKeys.FromHex(SmartcardConfiguration.BaseCspDefaultAdminKeyHex));
        var enroll = await client.CreateRequestAsync(new CreateRequestBody(WireRequestType.Enroll, ServerFixture.VirtualSmartcardVpn, [], Comment: ""));
        var (enrollment, pin) = await new CardClient(client).PersonalizeAsync(enroll, device, "505050");

        // Nothing to update while the card follows the template's current version.
        Assert.DoesNotContain("onlineupdate", await client.SmartcardOperationsAsync(enrollment.Card));
        var early = await Assert.ThrowsAsync<OpenCmApiException>(() =>
            client.CreateRequestAsync(new CreateRequestBody(WireRequestType.OnlineUpdate, null, [], Comment: "", Smartcard: enrollment.Card)));
        Assert.Equal((HttpStatusCode.Conflict, "smartcard"), ((HttpStatusCode)early.Status, early.Field));

        // A new version of the template (the sample, imported again) makes the update available.
        await using (var stream = typeof(Composition.Bootstrapper).Assembly.GetManifestResourceStream("OpenCM.Samples.Templates.virtual-smartcard-vpn.yaml")!)
        using (var reader = new StreamReader(stream))
        {
            await _server.Services.GetRequiredService<TemplateService>().ImportAsync(await reader.ReadToEndAsync(), "virtual-smartcard-vpn.yaml", Guid.Empty, "test");
        }

        Assert.Contains("onlineupdate", await client.SmartcardOperationsAsync(enrollment.Card));
        var update = await client.CreateRequestAsync(new CreateRequestBody(WireRequestType.OnlineUpdate, null, [], Comment: "", Smartcard: enrollment.Card));
        var updated = Assert.Single(await new CardClient(client).IssueOntoCardAsync(update, device, pin));
        await client.SetStatusAsync(update, WireRequestStatus.Completed);

        // The same card, in use, with the new certificate; the old one superseded; the card follows the new version.
        var card = await client.GetSmartcardAsync(enrollment.Card);
        Assert.Equal(((int)SmartcardStatus.Active, 2), (card.Status, card.ProfileTemplateVersion));
        var revoked = await _server.Services.GetRequiredService<ICertificateStore>().ListRevokedAsync(1);
        Assert.Contains(revoked, r => r.SerialHex == enrollment.Certificates[0].SerialNumber && r.Reason == ProfileRules.Superseded);
        Assert.DoesNotContain(revoked, r => r.SerialHex == updated.SerialNumber);
        Assert.DoesNotContain("onlineupdate", await client.SmartcardOperationsAsync(enrollment.Card));
    }
}
