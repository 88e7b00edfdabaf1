using System.Buffers.Text;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using OpenCM.Application;
using OpenCM.TestKit;

namespace OpenCM.Acme.Challenges.Tests;

/// <summary>
/// http-01 and dns-01 validated for real (issue #24.4, RFC 8555 §8.3-8.4): against Debian's
/// pebble-challtestsrv as the DNS server and a loopback HTTP listener serving the token. Every
/// failure is a failed check with its ACME problem type, never an exception.
/// </summary>
public sealed class AcmeChallengeValidatorTests
{
    private const string Token = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";
    private const string KeyAuthorization = Token + ".nP1qzpXGymHBrUEepNY9HCsQk7K8KhOypzEt62jcerQ";
    private const string Problem = "urn:ietf:params:acme:error:";

    private static readonly string Digest = Base64Url.EncodeToString(SHA256.HashData(Encoding.ASCII.GetBytes(KeyAuthorization)));

    private static AcmeChallengeValidator Validator(IPEndPoint? resolver, int http01Port = 80, int timeoutSeconds = 5) => new(new AcmeValidationOptions
    {
        Dns01Resolver = resolver?.ToString(),
        Http01Port = http01Port,
        ValidationTimeoutSeconds = timeoutSeconds,
    });

    private static Task<ChallengeCheck> CheckAsync(AcmeChallengeValidator validator, AcmeChallengeKind kind, string domain, string token = Token, string keyAuthorization = KeyAuthorization) =>
        validator.ValidateAsync(kind, domain, token, keyAuthorization, CancellationToken.None);

    // --- dns-01 -------------------------------------------------------------------------------

    [SkippableFact]
    public async Task Dns01_DigestPublished_Valid()
    {
        await using var dns = await ChallengeTestServer.StartAsync();
        await dns.SetTxtAsync("_acme-challenge.www.test", Digest);

        Assert.Equal(new ChallengeCheck(true, null, null), await CheckAsync(Validator(dns.Dns), AcmeChallengeKind.Dns01, "www.test"));
    }

    [SkippableFact]
    public async Task Dns01_OtherRecordsBesideTheDigest_Valid()
    {
        await using var dns = await ChallengeTestServer.StartAsync();
        await dns.SetTxtAsync("_acme-challenge.www.test", "an-older-digest");
        await dns.SetTxtAsync("_acme-challenge.www.test", Digest);

        Assert.True((await CheckAsync(Validator(dns.Dns), AcmeChallengeKind.Dns01, "www.test")).Valid);
    }

    [SkippableFact]
    public async Task Dns01_WrongDigest_IncorrectResponse()
    {
        await using var dns = await ChallengeTestServer.StartAsync();
        await dns.SetTxtAsync("_acme-challenge.www.test", Base64Url.EncodeToString(SHA256.HashData("another.key-authorization"u8)));

        var check = await CheckAsync(Validator(dns.Dns), AcmeChallengeKind.Dns01, "www.test");

        Assert.Equal((false, Problem + "incorrectResponse"), (check.Valid, check.ProblemType));
        Assert.Contains("_acme-challenge.www.test", check.Detail, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Dns01_NoTxtRecord_Unauthorized()
    {
        await using var dns = await ChallengeTestServer.StartAsync();
        await dns.SetTxtAsync("_acme-challenge.other.test", Digest);

        var check = await CheckAsync(Validator(dns.Dns), AcmeChallengeKind.Dns01, "www.test");

        Assert.Equal((false, Problem + "unauthorized"), (check.Valid, check.ProblemType));
    }

    [SkippableFact]
    public async Task Dns01_TxtCleared_NoLongerValid()
    {
        await using var dns = await ChallengeTestServer.StartAsync();
        var validator = Validator(dns.Dns);
        await dns.SetTxtAsync("_acme-challenge.www.test", Digest);
        Assert.True((await CheckAsync(validator, AcmeChallengeKind.Dns01, "www.test")).Valid);

        await dns.ClearTxtAsync("_acme-challenge.www.test");

        Assert.False((await CheckAsync(validator, AcmeChallengeKind.Dns01, "www.test")).Valid); // nothing cached
    }

    [SkippableFact]
    public async Task Dns01_HugeTxtValue_FailedCheckNotAnException()
    {
        await using var dns = await ChallengeTestServer.StartAsync();
        await dns.SetTxtAsync("_acme-challenge.www.test", new string('x', 20_000));

        var check = await CheckAsync(Validator(dns.Dns), AcmeChallengeKind.Dns01, "www.test");

        Assert.False(check.Valid);
        Assert.StartsWith(Problem, check.ProblemType, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Dns01_OnAnIpAddress_Malformed()
    {
        var check = await CheckAsync(Validator(new IPEndPoint(IPAddress.Loopback, 9)), AcmeChallengeKind.Dns01, "127.0.0.1");

        Assert.Equal((false, Problem + "malformed"), (check.Valid, check.ProblemType));
    }

    // A hostile or broken DNS server: whatever it answers, a failed check of type dns or incorrectResponse.
    public static TheoryData<string, string> HostileDnsAnswers => new()
    {
        { "one byte of garbage", "dns" },
        { "a header promising answers it lacks", "dns" },
        { "a TXT record whose length runs past the message", "dns" },
        { "truncated, and no TCP to fall back on", "dns" },
        { "SERVFAIL", "dns" },
        { "NXDOMAIN", "dns" },
        { "silence", "dns" },
        { "150 TXT records", "incorrectResponse" },
    };

    [Theory]
    [MemberData(nameof(HostileDnsAnswers))]
    public async Task Dns01_HostileOrBrokenDnsAnswer_FailedCheckNotAnException(string answer, string problem)
    {
        await using var server = new FakeDnsServer(query => answer switch
        {
            "one byte of garbage" => [0x42],
            "a header promising answers it lacks" => FakeDnsServer.Reply(query, 0x8180, 5, []),
            "a TXT record whose length runs past the message" => FakeDnsServer.Reply(query, 0x8180, 1, [0xC0, 12, 0, 16, 0, 1, 0, 0, 0, 60, 0xFF, 0xFF, 3, (byte)'a', (byte)'b', (byte)'c']),
            "truncated, and no TCP to fall back on" => FakeDnsServer.Reply(query, 0x8380, 0, []),
            "SERVFAIL" => FakeDnsServer.Reply(query, 0x8182, 0, []),
            "NXDOMAIN" => FakeDnsServer.Reply(query, 0x8183, 0, []),
            "150 TXT records" => FakeDnsServer.Reply(query, 0x8180, 150, [.. Enumerable.Range(0, 150).SelectMany(i => FakeDnsServer.Txt("r" + i.ToString(CultureInfo.InvariantCulture)))]),
            _ => null,
        });

        var check = await CheckAsync(Validator(server.EndPoint, timeoutSeconds: 2), AcmeChallengeKind.Dns01, "www.test");

        Assert.Equal((false, Problem + problem), (check.Valid, check.ProblemType));
        Assert.False(string.IsNullOrEmpty(check.Detail));
    }

    [Fact]
    public async Task Dns01_DigestSplitOverTwoStringsOfOneRecord_Valid()
    {
        await using var server = new FakeDnsServer(query => FakeDnsServer.Reply(query, 0x8180, 1, FakeDnsServer.Txt(Digest[..20], Digest[20..])));

        Assert.True((await CheckAsync(Validator(server.EndPoint), AcmeChallengeKind.Dns01, "www.test")).Valid);
    }

    // --- http-01 ------------------------------------------------------------------------------

    [SkippableFact]
    public async Task Http01_TokenServedAtAName_ValidAndAskedAtTheRfcPathWithTheHost()
    {
        await using var dns = await ChallengeTestServer.StartAsync();
        await dns.AddARecordAsync("www.test", "127.0.0.1");
        await using var web = new TokenServer(path => path == "/.well-known/acme-challenge/" + Token ? TokenServer.Response(200, KeyAuthorization + "\r\n \t\n") : TokenServer.Response(404, ""));

        var check = await CheckAsync(Validator(dns.Dns, web.Port), AcmeChallengeKind.Http01, "www.test");

        Assert.Equal(new ChallengeCheck(true, null, null), check);
        var request = Assert.Single(web.Requests);
        Assert.StartsWith($"GET /.well-known/acme-challenge/{Token} HTTP/1.1\r\n", request, StringComparison.Ordinal);
        Assert.Contains($"Host: www.test:{web.Port}\r\n", request, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Http01_NameWithAnAaaaThatRefusesAndAnAThatServes_TriesTheNextAddress()
    {
        await using var dns = await ChallengeTestServer.StartAsync();
        await dns.AddAaaaRecordAsync("www.test", "::1");
        await dns.AddARecordAsync("www.test", "127.0.0.1");
        await using var web = new TokenServer(_ => TokenServer.Response(200, KeyAuthorization));

        Assert.True((await CheckAsync(Validator(dns.Dns, web.Port), AcmeChallengeKind.Http01, "www.test")).Valid);
    }

    [SkippableFact]
    public async Task Http01_NameTheDnsDoesNotKnow_DnsProblem()
    {
        await using var dns = await ChallengeTestServer.StartAsync();
        await using var web = new TokenServer(_ => TokenServer.Response(200, KeyAuthorization));

        var check = await CheckAsync(Validator(dns.Dns, web.Port), AcmeChallengeKind.Http01, "nowhere.test");

        Assert.Equal((false, Problem + "dns"), (check.Valid, check.ProblemType));
        Assert.Empty(web.Requests);
    }

    public static TheoryData<string, string> HttpAnswers => new()
    {
        { "the key authorization", "" },
        { "a wrong body", "incorrectResponse" },
        { "an empty body", "incorrectResponse" },
        { "404", "unauthorized" },
        { "500", "unauthorized" },
        { "a redirect", "unauthorized" },
        { "9 KiB with Content-Length", "incorrectResponse" },
        { "9 KiB without Content-Length", "incorrectResponse" },
        { "the key authorization with leading whitespace", "incorrectResponse" },
        { "not HTTP at all", "connection" },
        { "nothing (a timeout)", "connection" },
    };

    [Theory]
    [MemberData(nameof(HttpAnswers))]
    public async Task Http01_ServerAnswers_ValidOnlyForTheKeyAuthorization(string answer, string problem)
    {
        await using var web = new TokenServer(_ => answer switch
        {
            "the key authorization" => TokenServer.Response(200, KeyAuthorization + "\n"),
            "a wrong body" => TokenServer.Response(200, Token + ".someone-elses-thumbprint"),
            "an empty body" => TokenServer.Response(200, ""),
            "404" => TokenServer.Response(404, KeyAuthorization),
            "500" => TokenServer.Response(500, KeyAuthorization),
            "a redirect" => Encoding.ASCII.GetBytes("HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/x\r\nContent-Length: 0\r\n\r\n"),
            "9 KiB with Content-Length" => TokenServer.Response(200, KeyAuthorization + new string(' ', 9 * 1024)),
            "9 KiB without Content-Length" => TokenServer.Response(200, new string('k', 9 * 1024), contentLength: false),
            "the key authorization with leading whitespace" => TokenServer.Response(200, " " + KeyAuthorization),
            "not HTTP at all" => "SSH-2.0-OpenSSH_9.2\r\n"u8.ToArray(),
            _ => null,
        });

        var check = await CheckAsync(Validator(null, web.Port, timeoutSeconds: 2), AcmeChallengeKind.Http01, "127.0.0.1");

        Assert.Equal(problem.Length == 0 ? (true, null) : (false, Problem + problem), (check.Valid, check.ProblemType));
    }

    [Fact]
    public async Task Http01_NothingListening_Connection()
    {
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }

        var check = await CheckAsync(Validator(null, port), AcmeChallengeKind.Http01, "127.0.0.1");

        Assert.Equal((false, Problem + "connection"), (check.Valid, check.ProblemType));
        Assert.Contains("ConnectionRefused", check.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Http01_IPv6Literal_AskedWithABracketedHost()
    {
        using var listener = new TcpListener(IPAddress.IPv6Loopback, 0);
        try
        {
            listener.Start();
        }
        catch (SocketException)
        {
            Skip.If(true, "no IPv6 loopback on this machine");
        }

        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var served = Task.Run(async () =>
        {
            using var client = await listener.AcceptTcpClientAsync();
            var stream = client.GetStream();
            var buffer = new byte[4096];
            var read = await stream.ReadAsync(buffer);
            await stream.WriteAsync(TokenServer.Response(200, KeyAuthorization));
            return Encoding.ASCII.GetString(buffer, 0, read);
        });

        Assert.True((await CheckAsync(Validator(null, port), AcmeChallengeKind.Http01, "::1")).Valid);
        Assert.Contains($"Host: [::1]:{port}\r\n", await served, StringComparison.Ordinal);
    }

    // --- hostile identifiers and tokens: refused before any network I/O -------------------------

    public static TheoryData<string, string> HostileInputs => new()
    {
        { new string('a', 64) + ".test", Token },
        { string.Join('.', Enumerable.Repeat("abcdefghi", 26)), Token },
        { "a..test", Token },
        { ".test", Token },
        { "-a.test", Token },
        { "a-.test", Token },
        { "exa mple.test", Token },
        { "ex_ample.test", Token },
        { "münchen.test", Token },
        { "www.test/evil", Token },
        { "www.test:8080", Token },
        { "www.test\0.evil", Token },
        { "*.test", Token },
        { "", Token },
        { "www.test", "../../etc/passwd" },
        { "www.test", "tok en" },
        { "www.test", "tok%2F" },
        { "www.test", "" },
        { "www.test", new string('a', 600) },
    };

    [Theory]
    [MemberData(nameof(HostileInputs))]
    public async Task Validate_HostileNameOrToken_MalformedWithoutAsking(string domain, string token)
    {
        // A resolver that is never there and a port nobody serves: reaching either would not be "malformed".
        var validator = Validator(new IPEndPoint(IPAddress.Loopback, 9), 9, timeoutSeconds: 1);

        foreach (var kind in new[] { AcmeChallengeKind.Http01, AcmeChallengeKind.Dns01 })
        {
            var check = await CheckAsync(validator, kind, domain, token, token + ".thumbprint");
            Assert.Equal((false, Problem + "malformed"), (check.Valid, check.ProblemType));
        }
    }

    [Theory]
    [InlineData("other-token.thumbprint")]
    [InlineData(Token)]
    [InlineData(Token + ".")]
    [InlineData(Token + ".thumb.print")]
    [InlineData(Token + ".thumb print")]
    [InlineData(Token + ".thümbprint")]
    [InlineData("")]
    public async Task Validate_KeyAuthorizationNotTokenDotThumbprint_Malformed(string keyAuthorization)
    {
        var check = await CheckAsync(Validator(null), AcmeChallengeKind.Http01, "127.0.0.1", Token, keyAuthorization);

        Assert.Equal((false, Problem + "malformed"), (check.Valid, check.ProblemType));
    }

    [Fact]
    public async Task Validate_CallerCancels_Throws()
    {
        await using var web = new TokenServer(_ => null);
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            Validator(null, web.Port).ValidateAsync(AcmeChallengeKind.Http01, "127.0.0.1", Token, KeyAuthorization, cancel.Token));
    }

    // --- settings -----------------------------------------------------------------------------

    [Theory]
    [InlineData("127.0.0.1:8053", "127.0.0.1:8053")]
    [InlineData("127.0.0.1", "127.0.0.1:53")]
    [InlineData("[::1]:8053", "[::1]:8053")]
    [InlineData("::1", "[::1]:53")]
    [InlineData(" ", null)]
    public void Options_Dns01Resolver_AddressWithOptionalPort(string configured, string? endPoint) =>
        Assert.Equal(endPoint, new AcmeValidationOptions { Dns01Resolver = configured }.ResolverEndPoint()?.ToString());

    [Theory]
    [InlineData("dns.example.org", 80, 10)]
    [InlineData("127.0.0.1:0", 80, 10)]
    [InlineData("127.0.0.1:99999", 80, 10)]
    [InlineData(null, 0, 10)]
    [InlineData(null, 65536, 10)]
    [InlineData(null, 80, 0)]
    public void Options_Unusable_RefusedAtRegistration(string? resolver, int port, int timeout)
    {
        var options = new AcmeValidationOptions { Dns01Resolver = resolver, Http01Port = port, ValidationTimeoutSeconds = timeout };

        Assert.Throws<InvalidOperationException>(() => new Microsoft.Extensions.DependencyInjection.ServiceCollection().AddOpenCmAcmeChallenges(options));
    }
}
