using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using OpenCM.Application;
using OpenCM.Server.Auth;

namespace OpenCM.Server.Tests;

/// <summary>
/// Issue #18.1: every free-text field a client controls is capped (docs/security.md), on the API
/// and on the portal's forms alike, with a 400 that names the field and states the limit.
/// </summary>
public sealed partial class TextLimitTests : IClassFixture<ServerFixture>
{
    private const string Root = "/CertificateManagement";
    private const string Password = "portal password 1";
    private readonly ServerFixture _server;

    public TextLimitTests(ServerFixture server) => _server = server;

    private static string Text(int bytes, string unit = "c") => string.Concat(Enumerable.Repeat(unit, bytes / System.Text.Encoding.UTF8.GetByteCount(unit)));

    private static string Quote(string text) => JsonSerializer.Serialize(text);

    private static readonly string Approved = ServerFixture.ApprovedUserCertificate.ToString();

    /// <summary>Route, body (with {id} for a pending request), the field the 400 names, and the limit its detail states.</summary>
    public static TheoryData<string, string, string, string> OverTheLimit() => new()
    {
        // A request's comment: 4 KiB of UTF-8, counted in bytes ("€" is three).
        { "/requests", $$"""{"type":"Enroll","profiletemplateuuid":"{{Approved}}","datacollection":[{"Request Reason":"x"}],"comment":{{Quote(Text(4097))}}}""", "comment", "4096" },
        { "/requests", $$"""{"type":"Enroll","profiletemplateuuid":"{{Approved}}","datacollection":[{"Request Reason":"x"}],"comment":{{Quote(Text(4098, "€"))}}}""", "comment", "4096" },

        // A comment is refused by its size even where the policy collects none.
        { "/requests", $$"""{"type":"Enroll","profiletemplateuuid":"{{ServerFixture.UserCertificate}}","comment":{{Quote(Text(100_000))}}}""", "comment", "4096" },

        // A data item's value: 1 KiB; the field is the item's name, as every refusal of an item says.
        { "/requests", $$"""{"type":"Enroll","profiletemplateuuid":"{{Approved}}","datacollection":[{"Request Reason":{{Quote(Text(1025))}}}]}""", "Request Reason", "1024" },
        { "/requests", $$"""{"type":"Enroll","profiletemplateuuid":"{{Approved}}","datacollection":"[{\"Request Reason\":\"{{Text(900_000)}}\"}]"}""", "Request Reason", "1024" },

        // A data item's name: 256 bytes, named by its position (the name itself is not echoed).
        { "/requests", $$"""{"type":"Enroll","profiletemplateuuid":"{{Approved}}","datacollection":[{{{Quote(Text(257))}}:"x"}]}""", "datacollection[0].name", "256" },

        // How many data items: 64.
        { "/requests", $$"""{"type":"Enroll","profiletemplateuuid":"{{Approved}}","datacollection":[{{string.Join(',', Enumerable.Range(0, 65).Select(i => $$"""{"item {{i}}":"x"}"""))}}]}""", "datacollection", "64" },

        // An approver's comment on a vote: 4 KiB, Approve or Deny.
        { "/requests/{id}/approvals", $$"""{"decision":"Approve","comment":{{Quote(Text(4097))}}}""", "comment", "4096" },
        { "/requests/{id}/approvals", $$"""{"decision":"Deny","comment":{{Quote(Text(600_000))}}}""", "comment", "4096" },

        // The other strings of request bodies were capped before (issue #8, #10): still a 400 naming them.
        { "/smartcards", $$"""{"requestid":"{id}","cardid":{{Quote(Text(129, "A"))}},"atr":"3B"}""", "cardid", "128" },
        { "/smartcards", $$"""{"requestid":"{id}","cardid":"ABCD","atr":{{Quote(Text(68, "A"))}}}""", "atr", "33" },
        { "/requests/{id}/certificatedata", $$"""{"certificaterequests":[],"pfxpassword":{{Quote(Text(1025, "p"))}}}""", "pfxpassword", "1,024" },
    };

    [Theory]
    [MemberData(nameof(OverTheLimit))]
    public async Task CappedField_OverTheLimit_400NamingTheFieldAndTheLimit(string route, string body, string field, string limit)
    {
        var alice = await _server.UserAsync("alice");
        using var asAlice = await _server.ClientAsync(alice);
        var pending = await asAlice.CreateIdAsync(ServerFixture.ApprovedUserCertificate, """[{"Request Reason":"x"}]""");
        using var client = route.EndsWith("/approvals", StringComparison.Ordinal) ? await _server.ClientAsync(await _server.UserAsync("approver", "CM Approvers")) : asAlice;

        var response = await client.PostAsync(ServerFixture.Api + route.Replace("{id}", pending.ToString(), StringComparison.Ordinal),
            Http.Json(body.Replace("{id}", pending.ToString(), StringComparison.Ordinal)));

        var json = await response.JsonAsync();
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(("ValidationFailed", field), (json.GetProperty("errorCode").GetString(), json.GetProperty("field").GetString()));
        Assert.Contains(limit, json.GetProperty("detail").GetString(), StringComparison.Ordinal);

        // Nothing happened: alice still has her one pending request, unvoted.
        var mine = (await (await asAlice.GetAsync($"{ServerFixture.Api}/requests")).JsonAsync()).EnumerateArray().ToList();
        Assert.Equal(pending, Assert.Single(mine).GetProperty("Uuid").GetGuid());
        Assert.Equal(16, mine[0].GetProperty("Status").GetInt32());
    }

    /// <summary>Method, route (with {id} for a pending request), body, and the field the 400 names.</summary>
    public static TheoryData<string, string, string, string> HugeValues() => new()
    {
        { "PUT", "/requests/{id}", $$"""{"status":{{Quote(Text(900_000, "C"))}}}""", "status" },
        { "POST", "/requests/{id}/approvals", $$"""{"decision":{{Quote(Text(900_000, "A"))}}}""", "decision" },
        { "POST", "/requests", $$"""{"type":{{Quote(Text(900_000, "E"))}},"profiletemplateuuid":"{{Approved}}"}""", "type" },
        { "PUT", "/requests/{id}/smartcards/{id}", $$"""{"status":{{Quote(Text(900_000, "R"))}}}""", "status" },
        { "POST", "/requests/{id}/certificatedata", $$"""{"certificaterequests":[{{Quote(Text(900_000, "M"))}}]}""", "certificaterequests[0]" },
        { "POST", "/smartcards/{id}/offlineunblock", $$"""{"challenge":{{Quote(Text(900_000, "Q"))}}}""", "challenge" },
    };

    [Theory]
    [MemberData(nameof(HugeValues))]
    public async Task Body_HugeValueInAnyRoute_400NamingTheFieldWithoutEchoingIt(string method, string route, string body, string field)
    {
        using var client = await _server.ClientAsync(await _server.UserAsync("alice"));
        var pending = route.EndsWith("/certificatedata", StringComparison.Ordinal)
            ? await client.CreateIdAsync(ServerFixture.UserCertificate) // approved at once: its certificate data is read
            : await client.CreateIdAsync(ServerFixture.ApprovedUserCertificate, """[{"Request Reason":"x"}]""");
        using var message = new HttpRequestMessage(new HttpMethod(method), ServerFixture.Api + route.Replace("{id}", pending.ToString(), StringComparison.Ordinal)) { Content = Http.Json(body) };

        using var response = await client.SendAsync(message);

        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(field, (await response.JsonAsync()).GetProperty("field").GetString());
        Assert.True(text.Length < 2000, $"The refusal is {text.Length} characters long.");
    }

    [Fact]
    public async Task Body_HugeDuplicatePropertyName_400WithoutEchoingIt()
    {
        using var client = await _server.ClientAsync(await _server.UserAsync("alice"));
        var name = Quote(Text(400_000, "k"));
        using var response = await client.PostAsync($"{ServerFixture.Api}/requests", Http.Json($$"""{{{name}}:1,{{name}}:2}"""));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.True((await response.Content.ReadAsStringAsync()).Length < 2000);
    }

    [Fact]
    public async Task CappedField_AtTheLimit_Accepted()
    {
        using var client = await _server.ClientAsync(await _server.UserAsync("alice"));
        var comment = Text(4095, "€") + "c"; // 4096 bytes, 1366 characters
        var reason = Text(1024);
        var created = await client.PostAsync($"{ServerFixture.Api}/requests",
            Http.Json($$"""{"type":"Enroll","profiletemplateuuid":"{{Approved}}","datacollection":[{"Request Reason":{{Quote(reason)}}}],"comment":{{Quote(comment)}}}"""));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var id = Guid.Parse((await created.JsonAsync()).GetString()!.Split('/')[^1]);
        var request = await (await client.GetAsync($"{ServerFixture.Api}/requests/{id}")).JsonAsync();
        Assert.Equal(comment, request.GetProperty("Comment").GetString());
        Assert.Contains(reason, request.GetProperty("DataCollection").ToString(), StringComparison.Ordinal);

        using var approver = await _server.ClientAsync(await _server.UserAsync("approver", "CM Approvers"));
        var vote = await approver.PostAsync($"{ServerFixture.Api}/requests/{id}/approvals", Http.Json($$"""{"decision":"Approve","comment":{{Quote(Text(4096))}}}"""));
        Assert.Equal(HttpStatusCode.OK, vote.StatusCode);
    }

    [GeneratedRegex("name=\"__RequestVerificationToken\" type=\"hidden\" value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryField();

    private static FormUrlEncodedContent Form(params (string Name, string Value)[] fields) => new(fields.Select(f => KeyValuePair.Create(f.Name, f.Value)));

    private async Task<(Principal User, HttpClient Browser)> SignedInAsync(string name, params string[] groups)
    {
        var user = await _server.UserAsync(name, groups);
        await _server.Services.GetRequiredService<Passwords>().SetAsync(new AuditContext(Guid.Empty, "test"), user, Password);
        var browser = _server.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });
        var token = AntiforgeryField().Match(await browser.GetStringAsync($"{Root}/signin")).Groups[1].Value;
        var signedIn = await browser.PostAsync($"{Root}/signin", Form(("__RequestVerificationToken", token), ("name", user.Name), ("password", Password)));
        Assert.Equal(HttpStatusCode.Redirect, signedIn.StatusCode);
        return (user, browser);
    }

    private static async Task<HttpResponseMessage> PostFormAsync(HttpClient browser, string page, string target, params (string, string)[] fields)
    {
        var token = AntiforgeryField().Match(await browser.GetStringAsync(page)).Groups[1].Value;
        return await browser.PostAsync(target, Form([("__RequestVerificationToken", token), .. fields]));
    }

    private static string Alert(string html) =>
        System.Net.WebUtility.HtmlDecode(Regex.Match(html, "role=\"alert\"[^>]*>([^<]*)<").Groups[1].Value);

    public static TheoryData<string, string, string> PortalOverTheLimit() => new()
    {
        { "comment", Text(4097), "4096" },
        { "item[Request Reason]", Text(1025), "1024" },
    };

    [Theory]
    [MemberData(nameof(PortalOverTheLimit))]
    public async Task PortalNewRequest_FieldOverTheLimit_SameRefusalAsTheApiNothingCreated(string field, string value, string limit)
    {
        var (user, browser) = await SignedInAsync("portal-long");
        var page = $"{Root}/requests/new/{ServerFixture.ApprovedUserCertificate}";
        var fields = new List<(string, string)> { ("item[Request Reason]", "ok"), ("comment", "") };
        fields.RemoveAll(f => f.Item1 == field);
        fields.Add((field, value));

        var response = await PostFormAsync(browser, page, page, [.. fields]);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var alert = Alert(await response.Content.ReadAsStringAsync());
        Assert.Contains(limit, alert, StringComparison.Ordinal);
        using var api = await _server.ClientAsync(user);
        Assert.Empty((await (await api.GetAsync($"{ServerFixture.Api}/requests")).JsonAsync()).EnumerateArray());
    }

    [Fact]
    public async Task PortalVote_CommentOverTheLimit_400NoVote()
    {
        using var api = await _server.ClientAsync(await _server.UserAsync("alice"));
        var id = await api.CreateIdAsync(ServerFixture.ApprovedUserCertificate, """[{"Request Reason":"x"}]""");
        var (_, browser) = await SignedInAsync("portal-appr", "CM Approvers");
        var page = $"{Root}/requests/{id}";

        var response = await PostFormAsync(browser, page, $"{page}?handler=Vote", ("decision", "approve"), ("comment", Text(4097)));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("4096", Alert(await response.Content.ReadAsStringAsync()), StringComparison.Ordinal);
        var request = await (await api.GetAsync($"{ServerFixture.Api}/requests/{id}")).JsonAsync();
        Assert.Equal(16, request.GetProperty("Status").GetInt32());
        Assert.DoesNotContain("Approvals (1 of 2)", await browser.GetStringAsync(page), StringComparison.Ordinal);
    }
}
