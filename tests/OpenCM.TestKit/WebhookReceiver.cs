using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace OpenCM.TestKit;

/// <summary>A webhook POST as received, and whether its Standard Webhooks signature verified under the receiver's secret.</summary>
public sealed record ReceivedWebhook(string Id, string Timestamp, string Signature, string Body, bool Verified, int Answered);

/// <summary>
/// A webhook receiver on loopback Kestrel that verifies every POST's <c>webhook-signature</c>
/// (Standard Webhooks: <c>v1,</c> base64 HMAC-SHA256 of <c>id.timestamp.body</c> under the
/// base64 key after <c>whsec_</c>), written here from the specification, not from the server's
/// code. <see cref="FailFirst"/> answers the first so many POSTs 503.
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly byte[] _key;
    private int _failures;

    private WebhookReceiver(WebApplication app, byte[] key, string secret)
    {
        _app = app;
        _key = key;
        Secret = secret;
    }

    public ConcurrentQueue<ReceivedWebhook> Received { get; } = new();

    public string Secret { get; }

    public string Url => _app.Urls.First() + "/hook";

    /// <summary>How many of the next POSTs are answered 503.</summary>
    public int FailFirst
    {
        get => Volatile.Read(ref _failures);
        set => Volatile.Write(ref _failures, value);
    }

    public static async Task<WebhookReceiver> StartAsync()
    {
        var key = RandomNumberGenerator.GetBytes(24);
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var receiver = new WebhookReceiver(app, key, "whsec_" + Convert.ToBase64String(key));
        app.MapPost("/hook", receiver.HandleAsync);
        await app.StartAsync();
        return receiver;
    }

    private async Task HandleAsync(HttpContext context)
    {
        using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
        var body = await reader.ReadToEndAsync();
        var id = context.Request.Headers["webhook-id"].ToString();
        var timestamp = context.Request.Headers["webhook-timestamp"].ToString();
        var signature = context.Request.Headers["webhook-signature"].ToString();
        var expected = Convert.ToBase64String(HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes($"{id}.{timestamp}.{body}")));
        var verified = signature.Split(' ').Any(s => s.StartsWith("v1,", StringComparison.Ordinal)
            && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(s[3..]), Encoding.ASCII.GetBytes(expected)));
        var status = Interlocked.Decrement(ref _failures) >= 0 ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status204NoContent;
        Received.Enqueue(new ReceivedWebhook(id, timestamp, signature, body, verified, status));
        context.Response.StatusCode = status;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
