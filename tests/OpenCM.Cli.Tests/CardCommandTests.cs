using OpenCM.Cards;
using OpenCM.Client;
using OpenCM.Contracts;
using OpenCM.Domain;
using OpenCM.Smartcards;
using OpenCM.TestKit;

namespace OpenCM.Cli.Tests;

/// <summary><c>opencm card …</c> against the real server on Kestrel (issue #8.10).</summary>
public sealed class CardCommandTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Data => _dir.File("data");

    private async Task<string> TokenAsync(string user)
    {
        if (user != "admin")
        {
            await Cli.RunAsync("users", "add", "--data", Data, "--name", user);
        }

        return (await Cli.RunAsync("token", "--data", Data, "--user", user)).Out.Trim();
    }

    [Fact]
    public async Task Simulate_VirtualSmartcardTemplate_WalksTheStepsAndLeavesAnActiveCardListAndShowFind()
    {
        await using var server = await KestrelServer.StartAsync(Data);
        var token = await TokenAsync("dana");

        var (exit, output, err) = await Cli.RunAsync("card", "simulate", "--server", server.Address, "--token", token, "--template", "Virtual Smartcard VPN",
            "--data-item", "Request Reason=VPN", "--show-pin");
        Assert.True(exit == 0, err);

        // Every step of the walkthrough, in order, on stderr (issue #23.8); the results on stdout.
        var steps = err.Split('\n').Where(l => l.StartsWith('[')).Select(l => int.Parse(l[1..3], System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(Enumerable.Range(1, 28), steps.Distinct());
        Assert.Equal(steps.Order(), steps);
        Assert.Contains("[ 6] request", err, StringComparison.Ordinal);
        Assert.Contains("[23] The card took a PIN made up here", err, StringComparison.Ordinal);
        Assert.DoesNotContain("[", output, StringComparison.Ordinal);

        // --show-pin: the PIN it set, on stdout.
        var pin = output.Split('\n').Single(l => l.StartsWith("PIN: ", StringComparison.Ordinal))["PIN: ".Length..].Trim();
        Assert.Matches("^[0-9]{6,}$", pin);

        Assert.Contains("CN=dana", output, StringComparison.Ordinal);
        var summary = output.Split('\n').Single(l => l.StartsWith("card ", StringComparison.Ordinal));
        Assert.Contains("is Active", summary, StringComparison.Ordinal);
        var card = summary.Split(' ')[1];

        var list = await Cli.RunAsync("card", "list", "--server", server.Address, "--token", token);
        Assert.Contains(card, list.Out, StringComparison.Ordinal);
        Assert.Contains("Active", list.Out, StringComparison.Ordinal);

        var show = await Cli.RunAsync("card", "show", card, "--server", server.Address, "--token", token);
        Assert.True(show.Exit == 0, show.Err);
        Assert.Contains("renew, duplicate, retire, unblock", show.Out, StringComparison.Ordinal);
        Assert.Contains("OpenCMVirtualSmartcardVpn", show.Out, StringComparison.Ordinal);

        // --format json: the three wire answers in one object (issue #23.1).
        var json = await Cli.RunAsync("card", "show", card, "--server", server.Address, "--token", token, "--format", "json");
        Assert.True(json.Exit == 0, json.Err);
        using (var shown = System.Text.Json.JsonDocument.Parse(json.Out))
        {
            Assert.Equal(card, shown.RootElement.GetProperty("Smartcard").GetProperty("Uuid").GetString());
            Assert.Contains("retire", shown.RootElement.GetProperty("Operations").EnumerateArray().Select(o => o.GetString()));
            Assert.Equal("OpenCMVirtualSmartcardVpn", shown.RootElement.GetProperty("Certificates")[0].GetProperty("TemplateCommonName").GetString());
        }

        // Another user's card is not there for them.
        var other = await Cli.RunAsync("card", "show", card, "--server", server.Address, "--token", await TokenAsync("erin"));
        Assert.Equal(1, other.Exit);

        // A software template is not a card's.
        var software = await Cli.RunAsync("card", "simulate", "--server", server.Address, "--token", token, "--template", "User Certificate");
        Assert.Equal(OpenCmCli.Usage, software.Exit);
        Assert.Contains("software template", software.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unblock_HelpDeskAnswersTheChallengeTheUserReadsOut_CardTakesTheNewPin()
    {
        await using var server = await KestrelServer.StartAsync(Data);
        var userToken = await TokenAsync("frank");

        // The user has a card in use whose PIN is blocked.
        using var user = new OpenCmClient(new Uri(server.Address), userToken);
        var request = await user.CreateRequestAsync(new CreateRequestBody(WireRequestType.Enroll, Guid.Parse("97cd65fa-af4b-4587-9309-0dd6bfd8b4e1"), [], Comment: ""));
        using var device = EmulatedCard.CreateVirtual(AdminKeys.FromHex("010203040506070801020304050607080102030405060708"));
        var (enrollment, _) = await new CardClient(user).PersonalizeAsync(request, device, "424242");
        for (var i = 0; i < EmulatedCard.PinTries; i++)
        {
            Assert.Throws<CardException>(() => device.VerifyPin("000000"));
        }

        // The help desk reads the challenge the user reads out, and reads back the response; the
        // card is named by the card id the user reads out (in lower case, in groups), not the record's uuid (issue #23.8).
        var admin = await TokenAsync("admin");
        var spoken = string.Join(' ', device.CardId.ToLowerInvariant().Chunk(4).Select(c => new string(c)));
        var (exit, output, err) = await Cli.RunAsync("card", "unblock", "--server", server.Address, "--token", admin,
            "--card", spoken, "--challenge", Convert.ToHexString(device.GetChallenge()));
        Assert.True(exit == 0, err);
        var response = Convert.FromHexString(output.Split('\n').Single(l => l.StartsWith("response: ", StringComparison.Ordinal))["response: ".Length..].Trim());
        device.UnblockPin(response, "919191");
        device.VerifyPin("919191");
        Assert.Contains("completed", output, StringComparison.Ordinal);

        // A challenge that is not 8 bytes is refused before anything is filed.
        var bad = await Cli.RunAsync("card", "unblock", "--server", server.Address, "--token", admin, "--card", enrollment.Card.ToString(), "--challenge", "abcd");
        Assert.Equal((OpenCmCli.Usage, true), (bad.Exit, bad.Err.Contains("16 hex digits", StringComparison.Ordinal)));

        // The record's uuid still names it; a card id no card has is the server's 404, exit 1.
        var byUuid = await Cli.RunAsync("card", "unblock", "--server", server.Address, "--token", admin, "--card", enrollment.Card.ToString(), "--challenge", Convert.ToHexString(device.GetChallenge()));
        Assert.True(byUuid.Exit == 0, byUuid.Err);
        var unknown = await Cli.RunAsync("card", "unblock", "--server", server.Address, "--token", admin, "--card", "0011 2233", "--challenge", Convert.ToHexString(device.GetChallenge()));
        Assert.Equal(OpenCmCli.Refused, unknown.Exit);
        Assert.Single(unknown.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }
}
