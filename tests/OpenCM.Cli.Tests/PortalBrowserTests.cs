using System.Text.RegularExpressions;
using Deque.AxeCore.Playwright;
using Microsoft.Playwright;
using OpenCM.Cards;
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

    // Debian's Chromium, or the test is skipped with a message saying how to get it.
    private static string RequireChromium()
    {
        var chromium = Chromium();
        Prerequisite.SkipIfMissing(chromium is null, "Chromium not found: install Debian's chromium package (.ci/run does) to run the browser tests.");
        return chromium!;
    }

    private static string? Chromium() =>
        new[] { Environment.GetEnvironmentVariable("OPENCM_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser" }
            .FirstOrDefault(p => p is { Length: > 0 } && File.Exists(p));

    // A main page: axe-core (Deque's engine, the rules of WCAG 2.x and best practice) finds no
    // violation on it, of any impact (labels, names, contrast, landmarks, headings, ARIA), and its screenshot is saved when OPENCM_PORTAL_SCREENSHOTS names a folder.
    private static async Task MainPageAsync(IPage page, string name)
    {
        var axe = await page.RunAxe();
        var violations = axe.Violations.Select(v => $"{v.Id} ({v.Impact}): {v.Help} at {string.Join(", ", v.Nodes.Select(n => n.Html))}").ToList();
        Assert.True(violations.Count == 0, $"{name}: {string.Join("; ", violations)}");
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
        var chromium = RequireChromium();

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
        await using var browser = await LaunchAsync(playwright, chromium);

        // 2. Alice signs in (on a phone-sized screen) and asks for a certificate that needs two approvals.
        var alice = await SignInAsync(browser, server.Address, "alice");
        Assert.Equal("Hello, alice", await alice.GetByRole(AriaRole.Heading, new() { Level = 1 }).InnerTextAsync());
        await MainPageAsync(alice, "home");
        await alice.GetByRole(AriaRole.Link, new() { Name = "Approved User Certificate" }).ClickAsync();
        await alice.GetByLabel("Request Reason (required)").FillAsync("lab access");
        await alice.GetByLabel("Comment").FillAsync("for the new lab");
        await MainPageAsync(alice, "new-request");
        await alice.GetByRole(AriaRole.Button, new() { Name = "Submit the request" }).ClickAsync();

        // Its page opens, saying what happens next (issue #23.11); her menu offers no approvals or help desk (issue #23.12).
        await alice.GetByRole(AriaRole.Heading, new() { Name = "Waiting for 2 more approvals" }).WaitForAsync();
        Assert.Contains("Pending", await alice.Locator("main").InnerTextAsync(), StringComparison.Ordinal);
        Assert.Equal(0, await alice.GetByRole(AriaRole.Link, new() { Name = "Approvals" }).CountAsync());
        Assert.Equal(0, await alice.GetByRole(AriaRole.Link, new() { Name = "Help desk" }).CountAsync());
        var requestPage = alice.Url;

        // 3. Ann and Bob find it in their queues and approve it, each in their own browser.
        foreach (var name in new[] { "ann", "bob" })
        {
            var approver = await SignInAsync(browser, server.Address, name);
            await approver.GetByRole(AriaRole.Link, new() { Name = "Approvals" }).ClickAsync();
            await MainPageAsync(approver, "approvals-" + name);
            var row = await approver.GetByRole(AriaRole.Table).InnerTextAsync();
            Assert.Contains("alice", row, StringComparison.Ordinal);      // who asked, and for whom
            Assert.Contains("Request Reason: lab access", row, StringComparison.Ordinal);
            Assert.Contains("Comment: for the new lab", row, StringComparison.Ordinal);
            Assert.Contains("Approved User Certificate", row, StringComparison.Ordinal); // the template by name, the request by its short id
            Assert.Contains(new Uri(requestPage).Segments[^1][..8], row, StringComparison.Ordinal);
            await approver.GetByRole(AriaRole.Table).GetByRole(AriaRole.Link).First.ClickAsync();
            await approver.GetByRole(AriaRole.Heading, new() { Name = "Your decision is needed" }).WaitForAsync();
            await approver.GetByLabel("Comment").FillAsync("approved by " + name);
            await approver.GetByRole(AriaRole.Button, new() { Name = "Approve this request" }).ClickAsync();
            await approver.GetByText("approved by " + name).WaitForAsync();
        }

        await alice.ReloadAsync();
        var approved = await alice.Locator("main").InnerTextAsync();
        Assert.Contains("Approved: make your key now", approved, StringComparison.Ordinal);
        Assert.Contains("approved by bob", approved, StringComparison.Ordinal);
        await MainPageAsync(alice, "request");

        // 4. Alice cancels it; the page says so and offers nothing more.
        await alice.GetByRole(AriaRole.Button, new() { Name = "Cancel the request" }).ClickAsync();
        await alice.GetByRole(AriaRole.Heading, new() { Name = "Canceled" }).WaitForAsync();
        Assert.Contains("Canceled", await alice.Locator("main").InnerTextAsync(), StringComparison.Ordinal);
        Assert.Equal(0, await alice.GetByRole(AriaRole.Button, new() { Name = "Cancel the request" }).CountAsync());

        // 5. Signing out ends the session.
        await alice.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();
        await alice.GetByRole(AriaRole.Heading, new() { Name = "Sign in" }).WaitForAsync();
        Assert.EndsWith("/CertificateManagement/signin", new Uri(alice.Url).AbsolutePath, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Portal_InChromium_KeyMadeInTheBrowser_PfxThatOpensslAndDotnetRead()
    {
        var chromium = RequireChromium();

        // 1. A server and a user with a password.
        var data = _dir.File("data");
        await using var server = await ServerProcess.StartAsync("--data", data);
        Assert.Equal(0, (await Cli.RunWithInputAsync(Password + "\n", ["users", "add", "--data", data, "--name", "alice", "--email", "alice@contoso.test", "--password-stdin"])).Exit);
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await LaunchAsync(playwright, chromium);
        var alice = await SignInByKeyboardAsync(browser, server.Address, "alice");
        var errors = new List<string>();
        alice.Console += (_, m) =>
        {
            if (m.Type == "error")
            {
                errors.Add(m.Text);
            }
        };
        alice.PageError += (_, e) => errors.Add(e);

        // 2. A User Certificate (RSA, no approval): the request page offers the key step at once.
        await alice.GetByRole(AriaRole.Link, new() { Name = "User Certificate", Exact = true }).ClickAsync();
        await alice.GetByRole(AriaRole.Button, new() { Name = "Submit the request" }).ClickAsync();
        await alice.GetByRole(AriaRole.Heading, new() { Name = "Approved: make your key now" }).WaitForAsync();

        // The key step's form is hidden until its script binds it, whatever the stylesheet says: a
        // `form.stack { display: grid }` once showed it early, and a click under load then posted it
        // without CSRs ("0 were sent"), the rare timeout this test had.
        Assert.Equal("none", await alice.EvaluateAsync<string>("() => { const f = document.getElementById('issue-keys'); f.hidden = true; const d = getComputedStyle(f).display; f.hidden = false; return d; }"));
        var pfx = await MakeKeyAndSaveAsync(alice, "Make my key and certificate", "pfx password 1", server);
        await MainPageAsync(alice, "key-made");

        // 3. openssl opens the file with the password; the key in it is the certificate's, and the CA's certificate is there too.
        var pem = _dir.File("alice.pem");
        await OpenSsl.CheckAsync(_dir.Path, "pkcs12", "-in", pfx, "-passin", "pass:pfx password 1", "-nodes", "-out", pem);
        var certKey = await OpenSsl.CheckAsync(_dir.Path, "x509", "-in", pem, "-noout", "-pubkey");
        var ownKey = await OpenSsl.CheckAsync(_dir.Path, "pkey", "-in", pem, "-pubout");
        Assert.Equal(ownKey, certKey);
        Assert.Equal(2, Regex.Count(await File.ReadAllTextAsync(pem), "BEGIN CERTIFICATE"));
        Assert.NotEqual(0, (await OpenSsl.RunAsync(_dir.Path, "pkcs12", "-in", pfx, "-passin", "pass:wrong password", "-nodes", "-out", _dir.File("x.pem"))).ExitCode);

        // 4. .NET reads it too, with a private key that signs what the certificate verifies.
        using (var certificate = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadPkcs12FromFile(pfx, "pfx password 1"))
        using (var rsa = System.Security.Cryptography.X509Certificates.RSACertificateExtensions.GetRSAPrivateKey(certificate)!)
        {
            var signature = rsa.SignData("hello"u8.ToArray(), System.Security.Cryptography.HashAlgorithmName.SHA256, System.Security.Cryptography.RSASignaturePadding.Pkcs1);
            using var publicKey = System.Security.Cryptography.X509Certificates.RSACertificateExtensions.GetRSAPublicKey(certificate)!;
            Assert.True(publicKey.VerifyData("hello"u8.ToArray(), signature, System.Security.Cryptography.HashAlgorithmName.SHA256, System.Security.Cryptography.RSASignaturePadding.Pkcs1));
            Assert.Contains("CN=alice", certificate.Subject, StringComparison.Ordinal);
        }

        // 5. Saving the file completed the request (issue #23.11): no second button; the server says so too.
        await alice.GetByRole(AriaRole.Heading, new() { Name = "Completed" }).WaitForAsync();
        Assert.False(await alice.GetByRole(AriaRole.Button, new() { Name = "Mark the request complete" }).IsVisibleAsync());
        await alice.ReloadAsync();
        Assert.Equal("Completed", await alice.Locator("#request-status").InnerTextAsync());

        // 6. Her home page lists the certificate under its profile; then a template whose key the
        //    server makes and archives: the server's PFX comes back as it is.
        await alice.GetByRole(AriaRole.Link, new() { Name = "Home" }).ClickAsync();
        await alice.GetByText("valid until").WaitForAsync();
        await alice.GetByRole(AriaRole.Link, new() { Name = "Archived Encryption Certificate" }).ClickAsync();
        await alice.GetByRole(AriaRole.Button, new() { Name = "Submit the request" }).ClickAsync();
        await alice.GetByRole(AriaRole.Heading, new() { Name = "Approved: get your keys now" }).WaitForAsync();
        var archived = await MakeKeyAndSaveAsync(alice, "Get my keys", "another password 2", server);
        await alice.GetByRole(AriaRole.Heading, new() { Name = "Completed" }).WaitForAsync();
        using (var certificate = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadPkcs12FromFile(archived, "another password 2"))
        {
            Assert.True(certificate.HasPrivateKey);
        }

        Assert.Empty(errors);
    }

    // Fills the key step's passwords, presses its button and saves the first file offered. When the
    // step does not finish, the failure says which step the page was on and what the server printed.
    private async Task<string> MakeKeyAndSaveAsync(IPage page, string button, string password, ServerProcess server)
    {
        await page.GetByLabel("Password for the file").FillAsync(password);
        await page.GetByLabel("The password again").FillAsync(password);
        await page.GetByRole(AriaRole.Button, new() { Name = button }).ClickAsync();
        var status = page.Locator("#issue-status");
        try
        {
            await page.Locator("#issue-status:text-matches('ready|Nothing was saved')").WaitForAsync(new() { Timeout = 90_000 });
        }
        catch (TimeoutException e)
        {
            // Where the page was (a crashed tab or a page navigated away has no status line), never blocking on a page that is gone.
            var text = page.InnerTextAsync("body", new() { Timeout = 5_000 });
            var shown = await Task.WhenAny(text, Task.Delay(10_000)) == text && text.IsCompletedSuccessfully ? text.Result : "(the page did not answer)";
            throw new TimeoutException($"the key step did not finish; the page at {page.Url} (closed: {page.IsClosed}) said:\n{shown}\nthe server printed:\n{server.Output}", e);
        }

        var said = await status.InnerTextAsync();
        Assert.True(said.Contains("ready", StringComparison.Ordinal), said);
        var link = page.GetByRole(AriaRole.Link, new() { Name = "Save " });
        var download = await page.RunAndWaitForDownloadAsync(() => link.First.ClickAsync());
        var path = _dir.File(download.SuggestedFilename);
        await download.SaveAsAsync(path);
        return path;
    }

    // Signs in with the keyboard alone: Tab to the name field (past the skip link), type, Tab, type, Enter.
    private static async Task<IPage> SignInByKeyboardAsync(IBrowser browser, string address, string name)
    {
        var page = await (await browser.NewContextAsync()).NewPageAsync();
        await page.GotoAsync(address + "/CertificateManagement/");
        await page.GetByRole(AriaRole.Heading, new() { Name = "Sign in" }).WaitForAsync();
        for (var i = 0; i < 6 && await page.EvaluateAsync<string>("document.activeElement?.name ?? ''") != "name"; i++)
        {
            await page.Keyboard.PressAsync("Tab");
        }

        Assert.Equal("name", await page.EvaluateAsync<string>("document.activeElement?.name ?? ''"));
        await page.Keyboard.TypeAsync(name);
        await page.Keyboard.PressAsync("Tab");
        await page.Keyboard.TypeAsync(Password);
        await page.Keyboard.PressAsync("Enter");
        await page.GetByRole(AriaRole.Heading, new() { Name = $"Hello, {name}" }).WaitForAsync();
        return page;
    }

    private static Task<IBrowser> LaunchAsync(IPlaywright playwright, string chromium) => playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
    {
        ExecutablePath = chromium,
        Headless = true,
        Args = ["--no-sandbox"], // CI runs as root, where Chromium's sandbox cannot start
    });

    [SkippableFact]
    public async Task Portal_InChromium_SignInWithTheAuthority_CrossSiteBackWithSession()
    {
        var chromium = RequireChromium();

        // 1. An authority on 127.0.0.1, and the portal opened as localhost: another site, as ADFS or Entra ID would be.
        await using var authority = await TestOidcProvider.StartAsync();
        var data = _dir.File("data");
        await using var server = await ServerProcess.StartAsync("--data", data,
            "--Auth:Authority=" + authority.Issuer, "--Auth:RequireHttpsMetadata=false",
            "--Auth:PortalClientId=" + TestOidcProvider.ClientId, "--Auth:PortalClientSecret=" + TestOidcProvider.ClientSecret, "--Auth:PortalDisplayName=Contoso");
        var added = await Cli.RunWithInputAsync(Password + "\n", ["users", "add", "--data", data, "--name", "carol", "--password-stdin"]);
        Assert.Equal(0, added.Exit);
        var carol = added.Out.Trim();
        authority.Users["carol@contoso"] = new Dictionary<string, object> { ["sub"] = "carol-pairwise", ["oid"] = carol, ["name"] = "carol" };

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await LaunchAsync(playwright, chromium);
        var page = await (await browser.NewContextAsync()).NewPageAsync();
        var portal = server.Address.Replace("127.0.0.1", "localhost", StringComparison.Ordinal);

        // 2. The portal sends her to the authority, whose form she answers; she comes back signed in.
        await page.GotoAsync(portal + "/CertificateManagement/approvals");
        await MainPageAsync(page, "signin");
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in with Contoso" }).ClickAsync();
        await page.GetByLabel("User at the authority").FillAsync("carol@contoso");
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in at the authority" }).ClickAsync();
        await page.GetByRole(AriaRole.Heading, new() { Name = "Waiting for your decision" }).WaitForAsync();
        Assert.StartsWith(portal + "/CertificateManagement/approvals", page.Url, StringComparison.Ordinal);
        Assert.Contains("Signed in as carol", await page.Locator("header").InnerTextAsync(), StringComparison.Ordinal);
        Assert.Equal(1, authority.Redeemed);

        // 3. Signing out ends the portal's session.
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();
        await page.GetByRole(AriaRole.Heading, new() { Name = "Sign in" }).WaitForAsync();
        await page.GotoAsync(portal + "/CertificateManagement/");
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in with Contoso" }).WaitForAsync();
    }

    [SkippableFact]
    public async Task Portal_InChromium_HelpDeskUnblocksACardThenSuspendsItOnTheUsersBehalf()
    {
        var chromium = RequireChromium();

        // 1. Dave has a virtual smart card (personalized through the API) whose PIN he blocked.
        var data = _dir.File("data");
        await using var server = await ServerProcess.StartAsync("--data", data);
        Assert.Equal(0, (await Cli.RunAsync("users", "add", "--data", data, "--name", "dave")).Exit);
        Assert.Equal(0, (await Cli.RunWithInputAsync(Password + "\n", ["users", "set-password", "--data", data, "--name", "admin", "--password-stdin"])).Exit);
        var token = (await Cli.RunAsync("token", "--data", data, "--user", "dave")).Out.Trim();
        using var client = new OpenCM.Client.OpenCmClient(new Uri(server.Address), token);
        var enroll = await client.CreateRequestAsync(new OpenCM.Contracts.CreateRequestBody(OpenCM.Contracts.WireRequestType.Enroll, Guid.Parse("97cd65fa-af4b-4587-9309-0dd6bfd8b4e1"), [], Comment: ""));
        using var device = OpenCM.Cards.EmulatedCard.CreateVirtual(OpenCM.Smartcards.AdminKeys.FromHex("010203040506070801020304050607080102030405060708"));
        await new OpenCM.Client.CardClient(client).PersonalizeAsync(enroll, device, "246813");
        for (var i = 0; i < OpenCM.Cards.EmulatedCard.PinTries; i++)
        {
            Assert.Throws<OpenCM.Cards.CardException>(() => device.VerifyPin("000000"));
        }

        // 2. The help desk finds Dave and his card, and answers the challenge he reads out.
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await LaunchAsync(playwright, chromium);
        var desk = await SignInAsync(browser, server.Address, "admin");
        await desk.GetByRole(AriaRole.Link, new() { Name = "Help desk" }).ClickAsync();

        // Found by the card's id as Dave reads it out (issue #23.13), then by his name.
        await desk.GetByLabel("User name").FillAsync(device.CardId.ToLowerInvariant());
        await desk.GetByRole(AriaRole.Button, new() { Name = "Find" }).ClickAsync();
        await desk.GetByRole(AriaRole.Heading, new() { Name = "dave", Exact = true }).WaitForAsync();
        Assert.Contains("Found by card", await desk.Locator("main").InnerTextAsync(), StringComparison.Ordinal);
        await desk.GetByLabel("User name").FillAsync("dave");
        await desk.GetByRole(AriaRole.Button, new() { Name = "Find" }).ClickAsync();
        await desk.GetByRole(AriaRole.Heading, new() { Name = "dave", Exact = true }).WaitForAsync();
        await desk.GetByLabel("Challenge the user reads off the card").FillAsync(Convert.ToHexString(device.GetChallenge()));
        await MainPageAsync(desk, "helpdesk");
        await desk.GetByRole(AriaRole.Button, new() { Name = "Answer an offline unblock" }).ClickAsync();
        var answer = desk.Locator("[role=status] strong code");
        await answer.WaitForAsync();
        device.UnblockPin(Convert.FromHexString(await answer.InnerTextAsync()), "975310");
        device.VerifyPin("975310");

        // 3. Dave's card is lost for now: the help desk suspends it on his behalf (Revoke, certificateHold), run by the server.
        await desk.GetByRole(AriaRole.Link, new() { Name = $"Revoke card {device.CardId.ToLowerInvariant()}" }).ClickAsync();
        //    The reason is chosen from RFC 5280's list in words (issue #23.13); the page then names whose certificates were revoked.
        await desk.GetByLabel("Revocation Reason").SelectOptionAsync("certificateHold");
        await MainPageAsync(desk, "revoke");
        await desk.GetByRole(AriaRole.Button, new() { Name = "Submit the request" }).ClickAsync();
        await desk.GetByRole(AriaRole.Heading, new() { Name = "Completed" }).WaitForAsync();
        Assert.Contains("dave's certificate, template", await desk.Locator("#revoked").InnerTextAsync(), StringComparison.Ordinal);
        await MainPageAsync(desk, "revoked");
        await desk.GotoAsync(server.Address + "/CertificateManagement/helpdesk?name=dave");
        var listed = await desk.Locator("main").InnerTextAsync();
        Assert.Contains("Suspended", listed, StringComparison.Ordinal);
        Assert.Contains("Revoke, Completed", listed, StringComparison.Ordinal);
        Assert.Contains("OfflineUnblock, Completed", listed, StringComparison.Ordinal);
        await desk.GetByRole(AriaRole.Link, new() { Name = $"Reinstate card {device.CardId.ToLowerInvariant()}" }).WaitForAsync();
    }
}
