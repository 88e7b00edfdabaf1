using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;

namespace OpenCM.Server.Tests;

/// <summary>
/// Issue #7.2: thousands of mutated bodies (random bytes, truncations, byte flips, bad UTF-8,
/// lone surrogates, wrong types, deep nesting, duplicates) on every JSON route, from a fixed seed;
/// none may end in a 5xx. A failure prints the seed's case number and the body in hex.
/// </summary>
public sealed class MutationTests : IClassFixture<ServerFixture>
{
    private const int CasesPerRoute = 800;
    private readonly ServerFixture _server;

    public MutationTests(ServerFixture server) => _server = server;

    private static readonly string[] WrongValues =
    [
        "1", "-1", "1e400", "0.5", "true", "null", "[]", "{}", "\"\"", "\"x\"", "\"\\u0000\"", "\"\\ud800\"", "\"\\udc00x\"",
        "[1,2,3]", "{\"a\":1}", "\"[{\\\"a\\\":1}\"", "\"{\"", "99999999999999999999", new string('[', 70) + new string(']', 70),
        "\"" + new string('a', 5000) + "\"",
    ];

    private static readonly byte[][] BadBytes = [[0xFF], [0xC3, 0x28], [0xED, 0xA0, 0x80], [0xF0, 0x28, 0x8C, 0x28], [0x00], [0xEF, 0xBB, 0xBF], [0xC0, 0xAF]];

    [Theory]
    [InlineData("POST", "/requests")]
    [InlineData("PUT", "/requests/{id}")]
    [InlineData("POST", "/requests/{id}/approvals")]
    [InlineData("POST", "/requests/{id}/certificatedata")]
    [InlineData("POST", "/smartcards")]
    [InlineData("PUT", "/requests/{id}/smartcards/{card}")]
    public async Task JsonRoute_MutatedBodies_NeverA5xx(string method, string route)
    {
        var admin = await _server.AdminAsync();
        var id = await admin.CreateIdAsync(ServerFixture.UserCertificate);
        using var rsa = RSA.Create(2048);
        var csr = Convert.ToBase64String(new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=x", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1).CreateSigningRequest());
        var (path, valid) = route switch
        {
            "/requests" => ("/requests", $$"""{"datacollection":"[]","type":"Enroll","profiletemplateuuid":"{{ServerFixture.UserCertificate}}","comment":"c","priority":"4","target":null}"""),
            "/requests/{id}" => ($"/requests/{id}", """{"status":"Canceled"}"""),
            "/requests/{id}/approvals" => ($"/requests/{id}/approvals", """{"decision":"Approve","comment":"ok"}"""),
            "/requests/{id}/smartcards/{card}" => ($"/requests/{id}/smartcards/{Guid.NewGuid()}", """{"status":"Retired"}"""),
            "/smartcards" => ("/smartcards", $$"""{"requestid":"{{id}}","cardid":"{{Guid.NewGuid()}}","atr":"3B8D0180FBA000000397425446590301C8"}"""),
            _ => ($"/requests/{id}/certificatedata", $$"""{"pfxpassword":"p","certificaterequests":["{{csr}}"]}"""),
        };

        var random = new Random(route.Length * 7919 + method.Length);
        var failures = new List<string>();
        for (var i = 0; i < CasesPerRoute; i++)
        {
            var body = Mutate(Encoding.UTF8.GetBytes(valid), random, i);
            using var content = new ByteArrayContent(body);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            using var response = await admin.SendAsync(new HttpRequestMessage(new HttpMethod(method), ServerFixture.Api + path) { Content = content });
            if ((int)response.StatusCode >= 500)
            {
                failures.Add($"case {i}: {(int)response.StatusCode} for {Convert.ToHexString(body)}");
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(10)));
    }

    private static byte[] Mutate(byte[] valid, Random random, int i)
    {
        switch (i % 8)
        {
            case 0:
                return [.. Enumerable.Range(0, random.Next(0, 200)).Select(_ => (byte)random.Next(256))];
            case 1:
                return valid[..random.Next(0, valid.Length)];
            case 2:
            {
                var flipped = (byte[])valid.Clone();
                for (var n = random.Next(1, 6); n > 0; n--)
                {
                    flipped[random.Next(flipped.Length)] = (byte)random.Next(256);
                }

                return flipped;
            }

            case 3:
            {
                // Bad UTF-8 (overlong, surrogate halves, stray continuation) spliced in anywhere.
                var at = random.Next(valid.Length);
                return [.. valid[..at], .. BadBytes[random.Next(BadBytes.Length)], .. valid[at..]];
            }

            default:
            {
                // A property's value replaced by a wrong one; or a duplicate, or an unknown property.
                var text = Encoding.UTF8.GetString(valid);
                var colons = text.Select((c, n) => (c, n)).Where(p => p.c == ':').Select(p => p.n).ToList();
                var colon = colons[random.Next(colons.Count)];
                var end = text.IndexOfAny([',', '}'], colon + 1);
                var quoteEnd = text.IndexOf('"', colon + 2);
                if (text[colon + 1] == '"' && quoteEnd > 0)
                {
                    end = Math.Max(end, quoteEnd + 1);
                }

                end = end < 0 ? text.Length - 1 : end;
                var value = WrongValues[random.Next(WrongValues.Length)];
                var mutated = (i % 8) switch
                {
                    7 => text.Insert(1, $"\"Status\":{value},\"STATUS\":{value},"),
                    6 => text.Insert(1, $"\"unknown{random.Next(9)}\":{value},"),
                    _ => text[..(colon + 1)] + value + text[end..],
                };
                return Encoding.UTF8.GetBytes(mutated);
            }
        }
    }
}
