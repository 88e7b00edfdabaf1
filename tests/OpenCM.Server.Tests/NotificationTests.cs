using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using MimeKit;
using OpenCM.Application;
using OpenCM.Domain;
using OpenCM.TestKit;

namespace OpenCM.Server.Tests;

/// <summary>The server with e-mail through a real SMTP server on loopback and one webhook receiver, both started by the test.</summary>
internal sealed class NotifyingServer : ServerFixture
{
    private readonly Dictionary<string, string> _settings;

    public NotifyingServer(SmtpTestServer smtp, WebhookReceiver hooks, params (string Key, string Value)[] more)
    {
        _settings = new()
        {
            ["Smtp:Host"] = "127.0.0.1",
            ["Smtp:Port"] = smtp.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Smtp:StartTls"] = "false",
            ["Smtp:From"] = "opencm@contoso.test",
            ["Webhooks:Endpoints:0:Url"] = hooks.Url,
            ["Webhooks:Endpoints:0:Secret"] = hooks.Secret,
            ["Notifications:PortalUrl"] = "https://cm.contoso.test/CertificateManagement/",
        };
        foreach (var (key, value) in more)
        {
            _settings[key] = value;
        }
    }

    protected override IReadOnlyDictionary<string, string> Settings => _settings;

    /// <summary>Whether the host's loop runs; off, the test drives the dispatcher and the scan itself, and nothing races it.</summary>
    public bool RunsLoop { get; init; }

    /// <summary>Every line the server logs (issue #21: grepped for secrets).</summary>
    public CapturingLoggerProvider Logs { get; } = new();

    protected override void ConfigureServices(IServiceCollection services)
    {
        services.AddSingleton<Microsoft.Extensions.Logging.ILoggerProvider>(Logs);
        if (!RunsLoop && services.FirstOrDefault(d => d.ImplementationType == typeof(Hosting.NotificationLoop)) is { } loop)
        {
            services.Remove(loop);
        }
    }

    public NotificationDispatcher Dispatcher => Services.GetRequiredService<NotificationDispatcher>();

    public INotificationOutbox Log => Services.GetRequiredService<INotificationOutbox>();
}

/// <summary>Notifications and webhooks end to end (issue #21.2): a real SMTP server, a receiver that verifies each signature.</summary>
public sealed class NotificationTests
{
    private const string Reason = """[{"Request Reason":"VPN"}]""";

    private static string Text(MimeMessage m) => $"{m.Subject}\n{m.TextBody}";

    private static IEnumerable<string> Recipients(IEnumerable<MimeMessage> messages) =>
        messages.SelectMany(m => m.To.Mailboxes.Select(x => x.Address.ToLowerInvariant()));

    [SkippableFact]
    public async Task Request_BecomesPending_MailsItsApproversAndPostsASignedWebhook()
    {
        await using var smtp = await SmtpTestServer.StartAsync();
        await using var hooks = await WebhookReceiver.StartAsync();
        using var server = new NotifyingServer(smtp, hooks);
        var approver = await server.UserAsync("appr", "CM Approvers");
        var other = await server.UserAsync("other");
        var requester = await server.UserAsync("req");
        const string Password = "Correct-Horse-Battery-42";
        await server.Services.GetRequiredService<Composition.Passwords>().SetAsync(new AuditContext(Guid.Empty, "test"), requester, Password);
        var token = await server.TokenAsync(requester);
        var client = await server.ClientAsync(requester);
        var id = await client.CreateIdAsync(ServerFixture.ApprovedUserCertificate, Reason);

        // Nothing leaves on the request path: the dispatcher (the host's loop) sends it.
        Assert.Empty(smtp.Messages());
        Assert.Empty(hooks.Received);
        await server.Dispatcher.RunOnceAsync();

        var mail = Assert.Single(await smtp.WaitForAsync(1));
        Assert.Equal([approver.Email!.ToLowerInvariant()], Recipients([mail]));
        Assert.DoesNotContain(other.Email!.ToLowerInvariant(), Recipients(smtp.Messages()));
        Assert.Contains($"https://cm.contoso.test/CertificateManagement/requests/{id:D}", mail.TextBody, StringComparison.Ordinal);
        Assert.Contains(requester.Name, mail.TextBody, StringComparison.Ordinal);
        Assert.Contains("Approved User Certificate", Text(mail), StringComparison.Ordinal);

        var hook = Assert.Single(hooks.Received);
        Assert.True(hook.Verified, "the webhook's signature verifies under the configured secret");
        Assert.StartsWith("msg_", hook.Id, StringComparison.Ordinal);
        using var body = JsonDocument.Parse(hook.Body);
        Assert.Equal(EventTypes.RequestCreated, body.RootElement.GetProperty("type").GetString());
        Assert.Equal("Pending", body.RootElement.GetProperty("to").GetString());
        Assert.Equal(id, body.RootElement.GetProperty("data").GetProperty("Uuid").GetGuid());
        Assert.Equal((int)RequestStatus.Pending, body.RootElement.GetProperty("data").GetProperty("Status").GetInt32());

        // The delivery log says both went out; nothing anywhere carries the token or the password.
        var log = await server.Log.ListAsync(failedOnly: false, 100);
        Assert.All(log, d => Assert.Equal((DeliveryStatus.Delivered, 1), (d.Status, d.Attempts)));
        Assert.Equal(["email", "webhook"], log.Select(d => d.Channel).Order());
        foreach (var text in smtp.Messages().Select(m => m.ToString()).Concat(hooks.Received.Select(h => h.Body)).Concat(log.Select(d => d.Payload)))
        {
            Assert.DoesNotContain(token, text, StringComparison.Ordinal);
            Assert.DoesNotContain(Password, text, StringComparison.Ordinal);
        }
    }

    [SkippableFact]
    public async Task Request_ApprovedOrDenied_MailsItsOriginator()
    {
        await using var smtp = await SmtpTestServer.StartAsync();
        await using var hooks = await WebhookReceiver.StartAsync();
        using var server = new NotifyingServer(smtp, hooks);
        var first = await server.ClientAsync(await server.UserAsync("appr1", "CM Approvers"));
        var second = await server.ClientAsync(await server.UserAsync("appr2", "CM Approvers"));
        var requester = await server.UserAsync("req");
        var client = await server.ClientAsync(requester);
        var approved = await client.CreateIdAsync(ServerFixture.ApprovedUserCertificate, Reason);
        var denied = await client.CreateIdAsync(ServerFixture.ApprovedUserCertificate, Reason);
        await server.Dispatcher.RunOnceAsync();
        var before = (await smtp.WaitForAsync(4)).Count;

        Assert.Equal(HttpStatusCode.OK, (await first.VoteAsync(approved, "Approve")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await second.VoteAsync(approved, "Approve")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await first.VoteAsync(denied, "Deny")).StatusCode);
        await server.Dispatcher.RunOnceAsync();

        var toRequester = (await smtp.WaitForAsync(before + 2)).Skip(before).ToList();
        Assert.Equal(2, toRequester.Count);
        Assert.All(toRequester, m => Assert.Equal([requester.Email!.ToLowerInvariant()], Recipients([m])));
        Assert.Single(toRequester, m => (m.Subject ?? "").Contains("Approved", StringComparison.Ordinal) && (m.TextBody ?? "").Contains(approved.ToString("D"), StringComparison.Ordinal));
        Assert.Single(toRequester, m => (m.Subject ?? "").Contains("Denied", StringComparison.Ordinal) && (m.TextBody ?? "").Contains(denied.ToString("D"), StringComparison.Ordinal));

        // Every transition is a verified webhook: two created, one Pending → Approved, one Pending → Denied.
        var bodies = hooks.Received.Where(h => h.Verified).Select(h => JsonDocument.Parse(h.Body).RootElement).ToList();
        Assert.Equal(hooks.Received.Count, bodies.Count);
        Assert.Contains(bodies, b => b.GetProperty("type").GetString() == EventTypes.RequestStatusChanged && b.GetProperty("to").GetString() == "Denied");
        Assert.Contains(bodies, b => b.GetProperty("type").GetString() == EventTypes.RequestStatusChanged && b.GetProperty("from").GetString() == "Pending"
            && b.GetProperty("to").GetString() == "Approved");
    }

    [SkippableFact]
    public async Task Webhook_ReceiverFailsFirst_RetriedAfterTheBackoffWithTheSameId()
    {
        await using var smtp = await SmtpTestServer.StartAsync();
        await using var hooks = await WebhookReceiver.StartAsync();
        using var server = new NotifyingServer(smtp, hooks, ("Webhooks:Endpoints:0:Events:0", EventTypes.RequestCreated));
        var client = await server.ClientAsync(await server.UserAsync("req"));
        hooks.FailFirst = 1;
        var id = await client.CreateIdAsync(ServerFixture.UserCertificate);
        await server.Dispatcher.RunOnceAsync();

        var failed = Assert.Single(hooks.Received);
        Assert.Equal(503, failed.Answered);
        var pending = Assert.Single(await server.Log.ListAsync(false, 10), d => d.Channel == "webhook");
        Assert.Equal((DeliveryStatus.Pending, 1, "HTTP 503"), (pending.Status, pending.Attempts, pending.LastError));

        // Not before its backoff; then the same message again, which the receiver takes.
        await server.Dispatcher.RunOnceAsync();
        Assert.Single(hooks.Received);
        server.Clock.Advance(TimeSpan.FromSeconds(10));
        await server.Dispatcher.RunOnceAsync();

        Assert.Equal(2, hooks.Received.Count);
        var retried = hooks.Received.Last();
        Assert.Equal((failed.Id, failed.Body, 204, true), (retried.Id, retried.Body, retried.Answered, retried.Verified));
        Assert.Contains(id.ToString("D"), retried.Body, StringComparison.Ordinal);
        var delivered = Assert.Single(await server.Log.ListAsync(false, 10), d => d.Channel == "webhook");
        Assert.Equal((DeliveryStatus.Delivered, 2), (delivered.Status, delivered.Attempts));

        // Only the subscribed type was posted, though the request also moved on (User Certificate needs no approval).
        Assert.All(hooks.Received, h => Assert.Contains($"\"type\":\"{EventTypes.RequestCreated}\"", h.Body, StringComparison.Ordinal));
    }

    [SkippableFact]
    public async Task Request_RolledBack_NotifiesNobody()
    {
        await using var smtp = await SmtpTestServer.StartAsync();
        await using var hooks = await WebhookReceiver.StartAsync();
        using var server = new NotifyingServer(smtp, hooks, ("OpenCM:MaxPendingRequestsPerTemplate", "1"));
        await server.UserAsync("appr", "CM Approvers");
        var client = await server.ClientAsync(await server.UserAsync("req"));
        var kept = await client.CreateIdAsync(ServerFixture.ApprovedUserCertificate, Reason);

        // Over the cap: refused inside the unit of work, so the request and its event are rolled back together.
        Assert.Equal(HttpStatusCode.Conflict, (await client.CreateAsync(ServerFixture.ApprovedUserCertificate, Reason)).StatusCode);
        await server.Dispatcher.RunOnceAsync();

        var hook = Assert.Single(hooks.Received);
        Assert.Contains(kept.ToString("D"), hook.Body, StringComparison.Ordinal);
        Assert.Single(await smtp.WaitForAsync(1));
        await Task.Delay(500);
        Assert.Single(smtp.Messages());
    }

    [SkippableFact]
    public async Task Certificate_TimeAdvancedPastEachThreshold_OneNoticePerThreshold()
    {
        await using var smtp = await SmtpTestServer.StartAsync();
        await using var hooks = await WebhookReceiver.StartAsync();
        using var server = new NotifyingServer(smtp, hooks, ("Webhooks:Endpoints:0:Events:0", EventTypes.CertificateExpiring));
        var holder = await server.UserAsync("holder");
        var issued = await IssueAsync(server.Services, holder.Uuid);
        var expiry = server.Services.GetRequiredService<ExpiryNotices>();

        async Task<int> ScanAtAsync(TimeSpan beforeNotAfter)
        {
            var at = issued.NotAfter - beforeNotAfter;
            if (at > server.Clock.GetUtcNow())
            {
                server.Clock.SetUtcNow(at);
            }

            var queued = await expiry.ScanAsync();
            await server.Dispatcher.RunOnceAsync();
            return queued;
        }

        Assert.Equal(0, await ScanAtAsync(TimeSpan.FromDays(31)));
        Assert.Equal(1, await ScanAtAsync(TimeSpan.FromDays(29)));
        Assert.Equal(0, await ScanAtAsync(TimeSpan.FromDays(28)));
        Assert.Equal(1, await ScanAtAsync(TimeSpan.FromDays(6)));
        Assert.Equal(0, await ScanAtAsync(TimeSpan.FromDays(5)));
        Assert.Equal(1, await ScanAtAsync(TimeSpan.FromHours(12)));
        Assert.Equal(0, await ScanAtAsync(TimeSpan.FromHours(1)));

        var mails = await smtp.WaitForAsync(3);
        Assert.Equal(3, mails.Count);
        Assert.All(mails, m => Assert.Equal([holder.Email!.ToLowerInvariant()], Recipients([m])));
        Assert.Equal(["30", "7", "1"], mails.Select(m => (m.Subject ?? "").Split(' ').First(w => w.All(char.IsAsciiDigit) && w.Length > 0)));
        Assert.All(mails, m => Assert.Contains(issued.SerialHex, m.TextBody, StringComparison.Ordinal));
        Assert.Equal(3, hooks.Received.Count(h => h.Verified && h.Body.Contains(issued.SerialHex, StringComparison.Ordinal)));

        // A revoked certificate is told nothing.
        var revoked = await IssueAsync(server.Services, holder.Uuid, revoke: true);
        server.Clock.SetUtcNow(revoked.NotAfter - TimeSpan.FromHours(1));
        Assert.Equal(0, await expiry.ScanAsync());

        // Nor is the server's own TLS certificate (Tls:FromOwnCa), which it renews itself.
        var tls = await IssueAsync(server.Services, Guid.Empty, template: ServerCertificatePlan.TemplateName);
        server.Clock.SetUtcNow(tls.NotAfter - TimeSpan.FromHours(1));
        Assert.Equal(0, await expiry.ScanAsync());
    }

    [SkippableFact]
    public async Task Card_PinProposedThenRequestCanceled_NoWebhookOrMessageCarriesThePinOrToken()
    {
        await using var smtp = await SmtpTestServer.StartAsync();
        await using var hooks = await WebhookReceiver.StartAsync();
        using var server = new NotifyingServer(smtp, hooks);
        var template = await ServerPinTemplateAsync(server);
        var holder = await server.UserAsync("pin");
        var token = await server.TokenAsync(holder);
        var client = await server.ClientAsync(holder);
        var request = await client.CreateIdAsync(template);
        var pin = await ProposedPinAsync(client, request);
        Assert.Matches("^[0-9]{8}$", pin);
        Assert.Equal(HttpStatusCode.OK, (await client.PutStatusAsync(request, "Canceled")).StatusCode);
        await server.Dispatcher.RunOnceAsync();

        var types = hooks.Received.Select(h => JsonDocument.Parse(h.Body).RootElement.GetProperty("type").GetString()).ToList();
        Assert.Contains(EventTypes.CardStatusChanged, types);
        Assert.Contains(EventTypes.RequestStatusChanged, types);
        Assert.All(hooks.Received, h => Assert.True(h.Verified));
        var log = await server.Log.ListAsync(false, 100);
        foreach (var text in hooks.Received.Select(h => h.Body).Concat(smtp.Messages().Select(m => m.ToString())).Concat(log.Select(d => d.Payload)))
        {
            Assert.DoesNotContain(pin, text, StringComparison.Ordinal);
            Assert.DoesNotContain(token, text, StringComparison.Ordinal);
        }
    }

    // Issue #21, "done means": nothing in a notification, webhook, metric label or log line carries a
    // PIN, key, token or password. One server with every channel on; a bearer token, a password
    // sign-in, a server-proposed PIN, an approval flow; then every channel's output is grepped.
    [SkippableFact]
    public async Task EveryChannel_TokenPasswordPinAndWebhookSecret_NoneInMailWebhooksDeliveryLogMetricsOrLogs()
    {
        await using var smtp = await SmtpTestServer.StartAsync();
        await using var hooks = await WebhookReceiver.StartAsync();
        using var server = new NotifyingServer(smtp, hooks, ("Metrics:Urls", "http://127.0.0.1:0"), ("Metrics:RefreshSeconds", "0"));
        var template = await ServerPinTemplateAsync(server);
        var holder = await server.UserAsync("grep");
        var token = await server.TokenAsync(holder);
        var approverToken = await server.TokenAsync(await server.UserAsync("grepappr", "CM Approvers"));
        var client = await server.ClientAsync(holder);

        // A request that waits for approval (approvers mailed), a card whose PIN the server proposes, a password sign-in.
        var waiting = await client.CreateIdAsync(ServerFixture.ApprovedUserCertificate, Reason);
        var request = await client.CreateIdAsync(template);
        var pin = await ProposedPinAsync(client, request);
        Assert.Equal(HttpStatusCode.OK, (await client.PutStatusAsync(request, "Canceled")).StatusCode);
        using var browser = await SignedInAsync(server, holder);
        Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync($"/CertificateManagement/requests/{waiting}")).StatusCode);
        await server.Dispatcher.RunOnceAsync();

        var mails = await smtp.WaitForAsync(1);
        var metricsAt = new Uri(Assert.Single(server.Services.GetRequiredService<Hosting.MetricsListener>().Addresses));
        using var scraper = new HttpClient { BaseAddress = metricsAt };
        var metrics = await scraper.GetStringAsync("/metrics");
        var deliveries = await server.Log.ListAsync(false, 100);
        Assert.NotEmpty(hooks.Received);
        Assert.Contains("opencm_requests", metrics, StringComparison.Ordinal);
        Assert.NotEmpty(server.Logs.Lines);

        var secret = hooks.Secret;
        string[] secrets = [token, approverToken, pin, PortalPassword, secret, secret["whsec_".Length..]];
        var outputs = mails.Select(m => ("mail", m.ToString()))
            .Concat(smtp.Messages().Select(m => ("mail", m.ToString())))
            .Concat(hooks.Received.Select(h => ("webhook", h.Body)))
            .Concat(deliveries.Select(d => ("delivery log", d.Payload + " " + d.LastError)))
            .Concat([("metrics", metrics)])
            .Concat(server.Logs.Lines.Select(l => ("log", l.Text)));
        foreach (var (channel, text) in outputs)
        {
            foreach (var s in secrets)
            {
                Assert.False(text.Contains(s, StringComparison.Ordinal), $"a secret in the {channel}: {text}");
            }
        }
    }

    [SkippableFact]
    public async Task Portal_DeliveryLog_ManagersSeeItAndItsFailuresOthersGet404()
    {
        await using var smtp = await SmtpTestServer.StartAsync();
        await using var hooks = await WebhookReceiver.StartAsync();
        using var server = new NotifyingServer(smtp, hooks, ("Notifications:MaxAttempts", "1"));
        var user = await server.ClientAsync(await server.UserAsync("req"));
        hooks.FailFirst = 100;
        await user.CreateIdAsync(ServerFixture.UserCertificate);
        await server.Dispatcher.RunOnceAsync();

        var plain = await SignedInAsync(server, await server.UserAsync("plain"));
        Assert.Equal(HttpStatusCode.NotFound, (await plain.GetAsync("/CertificateManagement/notifications")).StatusCode);
        var admin = await SignedInAsync(server, (await server.Services.GetRequiredService<IDirectory>().FindByNameAsync("admin"))!);
        var all = WebUtility.HtmlDecode(await admin.GetStringAsync("/CertificateManagement/notifications"));
        var failed = WebUtility.HtmlDecode(await admin.GetStringAsync("/CertificateManagement/notifications?failed=1"));
        var log = await server.Log.ListAsync(false, 100);
        Assert.NotEmpty(log);
        Assert.All(log, d => Assert.Contains(d.Id, all, StringComparison.Ordinal));
        Assert.All(log.Where(d => d.Status == DeliveryStatus.Failed), d => Assert.Contains(d.Id, failed, StringComparison.Ordinal));
        Assert.Contains("HTTP 503", failed, StringComparison.Ordinal);
        Assert.DoesNotContain(hooks.Secret, all, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Loop_TimeAdvanced_DeliversWithoutBeingCalled()
    {
        await using var smtp = await SmtpTestServer.StartAsync();
        await using var hooks = await WebhookReceiver.StartAsync();
        using var server = new NotifyingServer(smtp, hooks) { RunsLoop = true };
        var client = await server.ClientAsync(await server.UserAsync("req"));
        var id = await client.CreateIdAsync(ServerFixture.UserCertificate);

        // The loop waits on the host's clock: nothing until it moves, then the events go out.
        await Task.Delay(300);
        Assert.Empty(hooks.Received);
        for (var i = 0; i < 100 && hooks.Received.IsEmpty; i++)
        {
            server.Clock.Advance(TimeSpan.FromSeconds(2));
            await Task.Delay(100);
        }

        Assert.Contains(hooks.Received, h => h.Verified && h.Body.Contains(id.ToString("D"), StringComparison.Ordinal));
    }

    // A browser signed in to the portal with a password (the portal takes its cookie, not bearer tokens).
    // A virtual smart card template whose server proposes an 8-digit PIN.
    private static async Task<Guid> ServerPinTemplateAsync(NotifyingServer server)
    {
        var template = Guid.NewGuid();
        await server.Services.GetRequiredService<TemplateService>().ImportAsync($$"""
            uuid: {{template}}
            name: Server PIN card {{template:N}}
            isVirtualSmartcardProfileTemplate: true
            policies:
              Enroll:
                enabled: true
                selfServiceEnabled: true
            smartcard:
              userPinOption: ServerProposed
              minimumPinLength: 8
              maximumPinLength: 8
            """, "pin.yaml", Guid.Empty, "test");
        return template;
    }

    // A card assigned to the request, and the PIN the server proposes for it.
    private static async Task<string> ProposedPinAsync(HttpClient client, Guid request)
    {
        var assigned = await client.PostAsync($"{ServerFixture.Api}/smartcards",
            Http.Json($$"""{"requestid":"{{request}}","cardid":"{{Guid.NewGuid()}}","atr":"3B8D0180FBA000000397425446590301C8"}"""));
        Assert.Equal(HttpStatusCode.Created, assigned.StatusCode);
        var card = (await assigned.Content.ReadAsStringAsync()).Trim('"').Split('/')[^1];
        return (await client.GetStringAsync($"{ServerFixture.Api}/smartcards/{card}/serverproposedpin")).Trim('"');
    }

    private const string PortalPassword = "Portal-Passw0rd-For-Tests";

    private static async Task<HttpClient> SignedInAsync(NotifyingServer server, Principal user)
    {
        await server.Services.GetRequiredService<Composition.Passwords>().SetAsync(new AuditContext(Guid.Empty, "test"), user, PortalPassword);
        var browser = server.CreateClient(new Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });
        var form = await browser.GetStringAsync("/CertificateManagement/signin");
        var token = System.Text.RegularExpressions.Regex.Match(form, "name=\"__RequestVerificationToken\" type=\"hidden\" value=\"([^\"]+)\"").Groups[1].Value;
        var signedIn = await browser.PostAsync("/CertificateManagement/signin", new FormUrlEncodedContent(
            [new("__RequestVerificationToken", token), new("name", user.Name), new("password", PortalPassword)]));
        Assert.Equal(HttpStatusCode.Redirect, signedIn.StatusCode);
        return browser;
    }

    private static async Task<IssuedCertificate> IssueAsync(IServiceProvider services, Guid holder, bool revoke = false, string template = "T")
    {
        var transactions = services.GetRequiredService<ITransactions>();
        var certificateTemplate = new CertificateTemplate { CommonName = "T", KeyAlgorithm = KeyAlgorithm.EcdsaP256 };
        using var key = services.GetRequiredService<IKeyGenerator>().Generate(certificateTemplate);
        var serial = CertificateIssuance.NewSerialNumber();
        var profile = Guid.NewGuid();
        await transactions.RunAsync(async (uow, ct) =>
        {
            await uow.Certificates.ReserveAsync(new CertificateReservation(serial, Guid.NewGuid(), profile, holder, template), ct);
            return 0;
        });
        var issuance = services.GetRequiredService<CertificateIssuance>();
        var now = services.GetRequiredService<TimeProvider>().GetUtcNow();
        var issued = await issuance.SignAsync(issuance.Plan(new CertificateOrder(serial, key.SubjectPublicKeyInfo, certificateTemplate, new SubjectAttributes("holder", holder, "S-1-5-21-1-2-3-4"), now)));
        Assert.True(await transactions.RunAsync((uow, ct) => uow.Certificates.RecordIssuedAsync(issued, ct)));
        if (revoke)
        {
            await transactions.RunAsync((uow, ct) => uow.Certificates.RevokeAllAsync(profile, 4, now, ct));
        }

        return issued;
    }
}
