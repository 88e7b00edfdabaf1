using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using OpenCM.Application;
using OpenCM.Contracts;
using OpenCM.Domain;
using OpenCM.Server.Wire;

namespace OpenCM.Server.Notifications;

/// <summary>Webhook receivers (configuration section <c>Webhooks</c>; docs/operations.md). Only configuration names them: no caller can point the server anywhere.</summary>
public sealed class WebhookOptions
{
    public const string Section = "Webhooks";

    /// <summary>The receivers, <c>Webhooks:Endpoints:N:Url</c>, <c>:Secret</c>, <c>:Events</c>.</summary>
    public List<WebhookEndpoint> Endpoints { get; set; } = [];

    /// <summary>How long one POST may take, in seconds; a slower receiver's try fails and is retried.</summary>
    public int TimeoutSeconds { get; set; } = 10;
}

/// <summary>One webhook receiver.</summary>
public sealed class WebhookEndpoint
{
    /// <summary>Where events are POSTed (https in production; redirects are not followed).</summary>
    public string Url { get; set; } = "";

    /// <summary>The signing secret, <c>whsec_</c> and base64 (Standard Webhooks); never logged.</summary>
    public string Secret { get; set; } = "";

    /// <summary>The event types sent (<see cref="EventTypes"/>); empty: all of them.</summary>
    public List<string> Events { get; set; } = [];
}

/// <summary>
/// Webhooks in the Standard Webhooks format (issue #21.2): a POST of <c>{type, timestamp, data}</c>
/// (plus <c>from</c>/<c>to</c> for a status change) with <c>webhook-id</c> (the delivery's stable
/// id), <c>webhook-timestamp</c> (the try's Unix seconds) and <c>webhook-signature</c>
/// (<c>v1,</c> base64 HMAC-SHA256 under the endpoint's secret of <c>id.timestamp.body</c>).
/// <c>data</c> is the resource's wire shape when the event is dispatched: the request as
/// <c>GET /requests/{id}</c> returns it, the card as <c>GET /smartcards/{id}</c>, a certificate's
/// serial, template, subject, notAfter and status. Any 2xx is taken; anything else is retried.
/// </summary>
public sealed class WebhookChannel : INotificationChannel, IDisposable
{
    public const string ChannelName = "webhook";

    private readonly WebhookOptions _options;
    private readonly IRequestStore _requests;
    private readonly ISmartcardStore _cards;
    private readonly ITemplateStore _templates;
    private readonly ICertificateFacts _certificates;
    private readonly TimeProvider _clock;
    private readonly HttpClient _http;

    public WebhookChannel(WebhookOptions options, IRequestStore requests, ISmartcardStore cards, ITemplateStore templates, ICertificateFacts certificates, TimeProvider clock)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _requests = requests;
        _cards = cards;
        _templates = templates;
        _certificates = certificates;
        _clock = clock;

        // No redirects: a receiver cannot send the server on to an address configuration did not name.
        _http = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
        {
            Timeout = TimeSpan.FromSeconds(Math.Max(1, options.TimeoutSeconds)),
        };
    }

    public string Name => ChannelName;

    public async Task<IReadOnlyList<(string Target, string Payload)>> FanOutAsync(StoredEvent e, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(e);
        var endpoints = _options.Endpoints
            .Where(x => !string.IsNullOrWhiteSpace(x.Url) && (x.Events.Count == 0 || x.Events.Contains(e.Event.Type, StringComparer.OrdinalIgnoreCase)))
            .Select(x => x.Url.Trim()).Distinct(StringComparer.Ordinal).ToList();
        if (endpoints.Count == 0)
        {
            return [];
        }

        var body = await BodyAsync(e.Event, ct).ConfigureAwait(false);
        return [.. endpoints.Select(url => (url, body))];
    }

    public async Task SendAsync(Delivery delivery, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(delivery);

        // The secret as configured now: an endpoint taken out of configuration gets nothing more.
        var endpoint = _options.Endpoints.FirstOrDefault(x => string.Equals(x.Url.Trim(), delivery.Target, StringComparison.Ordinal))
            ?? throw new DeliveryException("the endpoint is no longer configured", permanent: true);
        var key = SecretKey(endpoint.Secret) ?? throw new DeliveryException("the endpoint's secret is not whsec_ and base64", permanent: true);
        var timestamp = _clock.GetUtcNow().ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        using var request = new HttpRequestMessage(HttpMethod.Post, delivery.Target)
        {
            Content = new StringContent(delivery.Payload, Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("webhook-id", delivery.Id);
        request.Headers.Add("webhook-timestamp", timestamp);
        request.Headers.Add("webhook-signature", Sign(key, delivery.Id, timestamp, delivery.Payload));
        request.Headers.UserAgent.Add(new ProductInfoHeaderValue("OpenCM", "1"));
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        }
        catch (TaskCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new DeliveryException("timed out");
        }
        catch (HttpRequestException e)
        {
            throw new DeliveryException(e.HttpRequestError == HttpRequestError.Unknown ? "connection failed" : $"connection failed ({e.HttpRequestError})");
        }

        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                throw new DeliveryException($"HTTP {(int)response.StatusCode}");
            }
        }
    }

    /// <summary>The <c>webhook-signature</c> header's value: <c>v1,</c> and the base64 HMAC-SHA256 of <c>id.timestamp.body</c>.</summary>
    public static string Sign(byte[] key, string id, string timestamp, string body) =>
        "v1," + Convert.ToBase64String(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes($"{id}.{timestamp}.{body}")));

    /// <summary>A Standard Webhooks secret's key: the base64 after <c>whsec_</c>; null when it is not that.</summary>
    public static byte[]? SecretKey(string? secret)
    {
        const string Prefix = "whsec_";
        if (string.IsNullOrWhiteSpace(secret) || !secret.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return null;
        }

        try
        {
            var key = Convert.FromBase64String(secret[Prefix.Length..]);
            return key.Length == 0 ? null : key;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    public void Dispose() => _http.Dispose();

    private async Task<string> BodyAsync(OutboxEvent e, CancellationToken ct)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = WireJson.Options.Encoder }))
        {
            w.WriteStartObject();
            w.WriteString("type", e.Type);
            w.WriteString("timestamp", e.At.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture));
            w.WritePropertyName("data");
            await WriteDataAsync(w, e, ct).ConfigureAwait(false);
            if (e.From is not null)
            {
                w.WriteString("from", e.From);
            }

            if (e.To is not null)
            {
                w.WriteString("to", e.To);
            }

            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private async Task WriteDataAsync(Utf8JsonWriter w, OutboxEvent e, CancellationToken ct)
    {
        switch (e.Type)
        {
            case EventTypes.RequestCreated or EventTypes.RequestStatusChanged when Guid.TryParse(e.Subject, out var id)
                && await _requests.FindAsync(id, ct).ConfigureAwait(false) is { } request:
                JsonSerializer.Serialize(w, RequestDto.From(request), WireJson.TypeInfo<RequestDto>());
                break;
            case EventTypes.CardStatusChanged when Guid.TryParse(e.Subject, out var id)
                && await _cards.FindAsync(id, ct).ConfigureAwait(false) is { } card:
                JsonSerializer.Serialize(w, SmartcardDto.From(card, await _templates.FindAsync(card.TemplateUuid, ct).ConfigureAwait(false)), WireJson.TypeInfo<SmartcardDto>());
                break;
            case EventTypes.CertificateIssued or EventTypes.CertificateRevoked or EventTypes.CertificateExpiring
                when await _certificates.FindAsync(e.Subject, ct).ConfigureAwait(false) is { } certificate:
                w.WriteStartObject();
                w.WriteString("serial", certificate.SerialHex);
                w.WriteString("template", certificate.Template);
                w.WriteString("subject", MailNotifications.SubjectOf(certificate.Der));
                w.WriteString("notAfter", WireFormat.Time(certificate.NotAfter));
                w.WriteString("status", certificate.Status.ToString());
                if (e.Type == EventTypes.CertificateExpiring && e.Detail is { } days)
                {
                    w.WriteString("days", days);
                }

                w.WriteEndObject();
                break;
            default:
                // The resource is gone (or the subject is not one): the event still says what happened to which.
                w.WriteStartObject();
                w.WriteString("id", e.Subject);
                w.WriteEndObject();
                break;
        }
    }
}
