using System.Net;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using OpenCM.Application;
using OpenCM.Composition;

namespace OpenCM.Server.Tests;

/// <summary>Issue #21.3: the managers' reports as portal pages, paged and downloadable as CSV.</summary>
public sealed partial class PortalReportsTests : IClassFixture<PortalReportsTests.Fixture>
{
    private const string Root = "/CertificateManagement";
    private const string Password = "portal password 1";
    private readonly Fixture _server;

    public PortalReportsTests(Fixture server) => _server = server;

    /// <summary>Pages of two rows, so that paging shows with a handful of rows.</summary>
    public sealed class Fixture : ServerFixture
    {
        protected override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string> { ["Reports:PageSize"] = "2", ["Reports:MaxCsvRows"] = "3" };
    }

    [GeneratedRegex("name=\"__RequestVerificationToken\" type=\"hidden\" value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryField();

    private async Task<HttpClient> SignedInAsync(string name)
    {
        var user = (await _server.Services.GetRequiredService<IDirectory>().FindByNameAsync(name))!;
        await _server.Services.GetRequiredService<Passwords>().SetAsync(new AuditContext(Guid.Empty, "test"), user, Password);
        var browser = _server.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });
        var token = AntiforgeryField().Match(await browser.GetStringAsync($"{Root}/signin")).Groups[1].Value;
        var signedIn = await browser.PostAsync($"{Root}/signin", new FormUrlEncodedContent(
            [KeyValuePair.Create("__RequestVerificationToken", token), KeyValuePair.Create("name", name), KeyValuePair.Create("password", Password)]));
        Assert.Equal(HttpStatusCode.Redirect, signedIn.StatusCode);
        browser.DefaultRequestHeaders.Accept.ParseAdd("text/html");
        return browser;
    }

    // A certificate issued to the user through the API (enrolled with a key made here).
    private async Task IssueAsync(Principal user)
    {
        using var api = await _server.ClientAsync(user);
        var enroll = await api.CreateIdAsync(ServerFixture.UserCertificate);
        using var key = System.Security.Cryptography.RSA.Create(2048);
        var csr = Convert.ToBase64String(new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=x", key,
            System.Security.Cryptography.HashAlgorithmName.SHA256, System.Security.Cryptography.RSASignaturePadding.Pkcs1).CreateSigningRequest());
        Assert.Equal(HttpStatusCode.OK, (await api.PostAsync($"{ServerFixture.Api}/requests/{enroll}/certificatedata", Http.Json($$"""{"certificaterequests":["{{csr}}"]}"""))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await api.PutStatusAsync(enroll, "Completed")).StatusCode);
    }

    [Fact]
    public async Task Reports_Manager_EveryReportPagedAndDownloadableAsCsv()
    {
        var holder = await _server.UserAsync("report-holder");
        for (var i = 0; i < 3; i++)
        {
            await IssueAsync(holder);
        }

        var desk = await SignedInAsync("admin");
        Assert.Contains("Expiring certificates", await desk.GetStringAsync($"{Root}/reports"), StringComparison.Ordinal);

        // Three certificates, pages of two: the first page links to the second, which ends.
        var first = WebUtility.HtmlDecode(await desk.GetStringAsync($"{Root}/reports/expiring?days=3650"));
        Assert.Equal(2, Regex.Count(first, Regex.Escape(holder.Name)));
        var next = Regex.Match(first, "rel=\"next\" href=\"([^\"]+)\"").Groups[1].Value;
        var second = WebUtility.HtmlDecode(await desk.GetStringAsync(next));
        Assert.Equal(1, Regex.Count(second, Regex.Escape(holder.Name)));
        Assert.DoesNotContain("rel=\"next\"", second, StringComparison.Ordinal);

        var csv = await desk.GetAsync($"{Root}/reports/expiring?days=3650&format=csv");
        Assert.Equal(HttpStatusCode.OK, csv.StatusCode);
        Assert.Equal("text/csv", csv.Content.Headers.ContentType!.MediaType);
        Assert.Contains("attachment", csv.Content.Headers.ContentDisposition!.ToString(), StringComparison.Ordinal);
        var lines = (await csv.Content.ReadAsStringAsync()).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(4, lines.Length);
        Assert.StartsWith("Serial,Not after (UTC),Days left,User,", lines[0], StringComparison.Ordinal);
        Assert.All(lines[1..], l => Assert.Contains(holder.Name, l, StringComparison.Ordinal));

        foreach (var page in new[] { "cards", "requests", "templates", $"audit?user={holder.Name}" })
        {
            var html = await desk.GetAsync($"{Root}/reports/{page}");
            Assert.True(html.StatusCode == HttpStatusCode.OK, $"{page}: {html.StatusCode}");
            var download = await desk.GetAsync($"{Root}/reports/{page}{(page.Contains('?', StringComparison.Ordinal) ? "&" : "?")}format=csv");
            Assert.Equal((HttpStatusCode.OK, "text/csv"), (download.StatusCode, download.Content.Headers.ContentType!.MediaType));
        }

        // Past Reports:MaxCsvRows (3 here) the download says where it was cut.
        var audit = await (await desk.GetAsync($"{Root}/reports/audit?user={holder.Name}&format=csv")).Content.ReadAsStringAsync();
        Assert.EndsWith("(cut at 3 rows: Reports:MaxCsvRows)\r\n", audit, StringComparison.Ordinal);
        var requests = await (await desk.GetAsync($"{Root}/reports/requests?from=2026-11-01&to=2026-12-31&format=csv")).Content.ReadAsStringAsync();
        Assert.Contains("Enroll,Completed,3", requests, StringComparison.Ordinal);

        // No report carries the password the managers signed in with, nor a token.
        var token = await _server.TokenAsync(holder);
        foreach (var page in new[] { $"audit?user=admin&format=csv", $"audit?user={holder.Name}", "expiring?days=3650&format=csv", "templates?format=csv" })
        {
            var text = await desk.GetStringAsync($"{Root}/reports/{page}");
            Assert.DoesNotContain(Password, text, StringComparison.Ordinal);
            Assert.DoesNotContain(token.Split('.')[2], text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Reports_TemplateNamedLikeAFormula_CsvCellStartsWithAQuote()
    {
        var formula = "=HYPERLINK(\"http://evil.example\",\"x\")";
        await _server.Services.GetRequiredService<TemplateService>().ImportAsync(
            $"uuid: {Guid.NewGuid():D}\nname: '{formula}'\npolicies:\n  Enroll:\n    enabled: true\n", "formula.yaml", new AuditContext(Guid.Empty, "test"));
        var desk = await SignedInAsync("admin");
        var csv = await (await desk.GetAsync($"{Root}/reports/templates?format=csv")).Content.ReadAsStringAsync();
        Assert.Contains("\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\"", csv, StringComparison.Ordinal);
        Assert.DoesNotContain("\n=", csv, StringComparison.Ordinal);
        Assert.DoesNotContain(",=", csv, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Reports_NotAManager_NotFound()
    {
        var plain = await _server.UserAsync("report-plain");
        var browser = await SignedInAsync(plain.Name);
        foreach (var page in new[] { "reports", "reports/expiring", "reports/cards?format=csv", "reports/audit?user=admin" })
        {
            Assert.Equal(HttpStatusCode.NotFound, (await browser.GetAsync($"{Root}/{page}")).StatusCode);
        }
    }

    public static TheoryData<string, int> HostileQueries => new()
    {
        { "/reports/expiring?days=-1", 400 },
        { "/reports/expiring?days=0", 400 },
        { "/reports/expiring?days=99999999999999999999", 400 },
        { "/reports/expiring?days=3651", 400 },
        { "/reports/expiring?days=abc", 400 },
        { "/reports/expiring?days=30&next=abc", 400 },
        { "/reports/expiring?days=30&next=99999999999999999999.0A", 400 },
        { "/reports/expiring?days=30&next=5.zz", 400 },
        { "/reports/expiring?days=30&next=9223372036854775807.0A", 400 },
        { "/reports/expiring?days=30&next=1.0A", 200 },
        { "/reports/templates?next=-5", 400 },
        { "/reports/templates?next=2147483647", 200 },
        { "/reports/templates?next=99999999999999", 400 },
        { "/reports/audit?user=admin&next=0", 400 },
        { "/reports/audit?user=admin&next=-1", 400 },
        { "/reports/audit?user=admin&next=9223372036854775807", 200 },
        { "/reports/audit?user=admin&next=99999999999999999999999", 400 },
        { "/reports/audit?user=nobody-at-all", 404 },
        { "/reports/audit?user=%00%01", 404 },
        { "/reports/audit?user=" + new string('u', 5000), 400 },
        { "/reports/audit?user=%20", 200 },
        { "/reports/requests?from=2026-02-30", 400 },
        { "/reports/requests?from=2026-12-05&to=2026-01-01", 400 },
        { "/reports/requests?from=0001-01-01&to=9999-12-31", 400 },
        { "/reports/requests?from=2026-01-01T00:00:00%2B99:00", 400 },
        { "/reports/requests?to=not-a-date&format=csv", 400 },
        { "/reports/cards?format=xml", 400 },
        { "/reports/unknown", 404 },
    };

    [Theory]
    [MemberData(nameof(HostileQueries))]
    public async Task Reports_HostileQueryStrings_4xxOrAPageNever5xx(string query, int status)
    {
        var desk = await SignedInAsync("admin");
        var response = await desk.GetAsync(Root + query);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == status, $"{(int)response.StatusCode} for {query}: {body[..Math.Min(300, body.Length)]}");
        Assert.DoesNotContain("Exception", body, StringComparison.Ordinal);
    }
}
