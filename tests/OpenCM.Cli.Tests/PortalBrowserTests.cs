using Microsoft.Playwright;
using OpenCM.TestKit;

namespace OpenCM.Cli.Tests;

/// <summary>
/// Issue #10: the portal in a real Chromium (Debian's, driven by Playwright) against a real
/// server process: sign-in, a request that two other users approve in their own browsers, and a
/// cancel. With <c>OPENCM_PORTAL_SCREENSHOTS</c> set to a folder, the main pages are saved there
/// (docs/portal.md shows them).
/// </summary>
public sealed class PortalBrowserTests : IDisposable
{
    private const string Password = "browser password 1";
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static string? Chromium() =>
        new[] { Environment.GetEnvironmentVariable("OPENCM_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser" }
            .FirstOrDefault(p => p is { Length: > 0 } && File.Exists(p));

    private static async Task ShotAsync(IPage page, string name)
    {
        if (Environment.GetEnvironmentVariable("OPENCM_PORTAL_SCREENSHOTS") is { Length: > 0 } folder)
        {
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(folder, name + ".png"), FullPage = true });
        }
    }

    private static async Task<IPage> SignInAsync(IBrowser browser, string address, string name)
    {
        var context = await browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 390, Height = 844 } });
        var page = await context.NewPageAsync();
        await page.GotoAsync(address + "/CertificateManagement/");
        Assert.EndsWith("/CertificateManagement/signin", new Uri(page.Url).AbsolutePath, StringComparison.Ordinal);
        await page.GetByLabel("Name").FillAsync(name);
        await page.GetByLabel("Password").FillAsync(Password);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();

        // Arrived when the home page says so (waiting on the URL races the POST-redirect-GET).
        await page.GetByRole(AriaRole.Heading, new() { Name = $"Hello, {name}" }).WaitForAsync();
        return page;
    }

    [SkippableFact]
    public async Task Portal_InChromium_RequestApprovedByTwoOthersThenACancel()
    {
        var chromium = Chromium();
        Skip.If(chromium is null, "Chromium not found: install Debian's chromium package (.ci/run does) to run the browser tests.");

        // 1. A server with a user and two approvers who have passwords.
        var data = _dir.File("data");
        await using var server = await ServerProcess.StartAsync("--data", data);
        foreach (var (name, group) in new[] { ("alice", (string?)null), ("ann", "CM Approvers"), ("bob", "CM Approvers") })
        {
            string[] args = group is null
                ? ["users", "add", "--data", data, "--name", name, "--password-stdin"]
                : ["users", "add", "--data", data, "--name", name, "--group", group, "--password-stdin"];
            Assert.Equal(0, (await Cli.RunWithInputAsync(Password + "\n", args)).Exit);
        }

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = chromium,
            Headless = true,
            Args = ["--no-sandbox"], // CI runs as root, where Chromium's sandbox cannot start
        });

        // 2. Alice signs in (on a phone-sized screen) and asks for a certificate that needs two approvals.
        var alice = await SignInAsync(browser, server.Address, "alice");
        Assert.Equal("Hello, alice", await alice.GetByRole(AriaRole.Heading, new() { Level = 1 }).InnerTextAsync());
        await ShotAsync(alice, "home");
        await alice.GetByRole(AriaRole.Link, new() { Name = "Approved User Certificate" }).ClickAsync();
        await alice.GetByLabel("Request Reason (required)").FillAsync("lab access");
        await alice.GetByLabel("Comment").FillAsync("for the new lab");
        await ShotAsync(alice, "new-request");
        await alice.GetByRole(AriaRole.Button, new() { Name = "Submit the request" }).ClickAsync();
        await alice.GetByRole(AriaRole.Heading, new() { Name = "Your requests" }).WaitForAsync();
        await alice.GetByRole(AriaRole.Table).GetByRole(AriaRole.Link).First.ClickAsync();
        Assert.Contains("Pending", await alice.Locator("main").InnerTextAsync(), StringComparison.Ordinal);

        // 3. Ann and Bob find it in their queues and approve it, each in their own browser.
        foreach (var name in new[] { "ann", "bob" })
        {
            var approver = await SignInAsync(browser, server.Address, name);
            await approver.GetByRole(AriaRole.Link, new() { Name = "Approvals" }).ClickAsync();
            await ShotAsync(approver, "approvals-" + name);
            await approver.GetByRole(AriaRole.Table).GetByRole(AriaRole.Link).First.ClickAsync();
            await approver.GetByLabel("Comment").FillAsync("approved by " + name);
            await approver.GetByRole(AriaRole.Button, new() { Name = "Approve" }).ClickAsync();
            await approver.GetByText("approved by " + name).WaitForAsync();
        }

        await alice.ReloadAsync();
        var approved = await alice.Locator("main").InnerTextAsync();
        Assert.Contains("Approved", approved, StringComparison.Ordinal);
        Assert.Contains("approved by bob", approved, StringComparison.Ordinal);
        await ShotAsync(alice, "request");

        // 4. Alice cancels it; the page says so and offers nothing more.
        await alice.GetByRole(AriaRole.Button, new() { Name = "Cancel the request" }).ClickAsync();
        await alice.GetByText("Canceled", new() { Exact = true }).WaitForAsync();
        Assert.Contains("Canceled", await alice.Locator("main").InnerTextAsync(), StringComparison.Ordinal);
        Assert.Equal(0, await alice.GetByRole(AriaRole.Button, new() { Name = "Cancel the request" }).CountAsync());

        // 5. Signing out ends the session.
        await alice.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();
        await alice.GetByRole(AriaRole.Heading, new() { Name = "Sign in" }).WaitForAsync();
        Assert.EndsWith("/CertificateManagement/signin", new Uri(alice.Url).AbsolutePath, StringComparison.Ordinal);
    }
}
