using System.Globalization;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using OpenCM.Domain;
using OpenCM.Security.Sddl;

namespace OpenCM.Application;

/// <summary>A message to send by e-mail: one recipient, plain text.</summary>
public sealed record MailMessageDraft(string To, string Subject, string Body);

/// <summary>Sends e-mail (Composition's SMTP transport); <see cref="IsConfigured"/> is false when no server is set (Smtp:Host empty), and no message is made.</summary>
public interface IMailTransport
{
    bool IsConfigured { get; }

    Task SendAsync(MailMessageDraft message, CancellationToken ct);
}

/// <summary>The texts of messages, by name (<c>request-pending</c>…): an operator's file, else the shipped one.</summary>
public interface IMessageTemplates
{
    /// <summary>The template's text, or null when there is none of that name.</summary>
    string? Find(string name);
}

/// <summary>
/// E-mail notifications (issue #21.2): a request that becomes Pending mails the approvers its
/// template names (the users and members of the groups its approval descriptor grants); one that
/// becomes Approved, Denied, Completed or Failed mails its originator and target; an expiring
/// certificate mails its holder. Texts come from <see cref="IMessageTemplates"/>, with a link to
/// the portal's request page (<see cref="NotificationOptions.PortalUrl"/>). A message names the
/// request, the people and the template, never a secret: nothing in an event or a request is one.
/// </summary>
public sealed class MailNotifications : INotificationChannel
{
    public const string ChannelName = "email";
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    // Whom one approval ACE may reach by e-mail: a bound on a group's size, not a rule.
    private const int MaxApprovers = 500;

    private readonly IMailTransport _transport;
    private readonly IMessageTemplates _texts;
    private readonly IRequestStore _requests;
    private readonly ITemplateStore _templates;
    private readonly IDirectory _directory;
    private readonly ICertificateFacts _certificates;
    private readonly NotificationOptions _options;

    public MailNotifications(IMailTransport transport, IMessageTemplates texts, IRequestStore requests, ITemplateStore templates, IDirectory directory,
        ICertificateFacts certificates, NotificationOptions options)
    {
        _transport = transport;
        _texts = texts;
        _requests = requests;
        _templates = templates;
        _directory = directory;
        _certificates = certificates;
        _options = options;
    }

    public string Name => ChannelName;

    public async Task<IReadOnlyList<(string Target, string Payload)>> FanOutAsync(StoredEvent e, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(e);
        if (!_transport.IsConfigured)
        {
            return [];
        }

        var ev = e.Event;
        return ev.Type switch
        {
            EventTypes.RequestCreated or EventTypes.RequestStatusChanged when ev.To is { } to => await RequestAsync(ev, to, ct).ConfigureAwait(false),
            EventTypes.CertificateExpiring => await ExpiringAsync(ev, ct).ConfigureAwait(false),
            _ => [],
        };
    }

    public Task SendAsync(Delivery delivery, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(delivery);
        var message = JsonSerializer.Deserialize<MailMessageDraft>(delivery.Payload, Json) ?? throw new DeliveryException("unreadable message", permanent: true);
        return _transport.SendAsync(message, ct);
    }

    private async Task<IReadOnlyList<(string, string)>> RequestAsync(OutboxEvent ev, string to, CancellationToken ct)
    {
        if (!Enum.TryParse<RequestStatus>(to, out var status) || !Guid.TryParse(ev.Subject, out var id))
        {
            return [];
        }

        var (name, whom) = status switch
        {
            RequestStatus.Pending => ("request-pending", Audience.Approvers),
            RequestStatus.Approved => ("request-approved", Audience.Requesters),
            RequestStatus.Denied => ("request-denied", Audience.Requesters),
            RequestStatus.Completed => ("request-completed", Audience.Requesters),
            RequestStatus.Failed => ("request-failed", Audience.Requesters),
            _ => ("", Audience.None),
        };
        if (whom == Audience.None || await _requests.FindAsync(id, ct).ConfigureAwait(false) is not { } request)
        {
            return [];
        }

        var template = await _templates.FindAsync(request.ProfileTemplateUuid, ct).ConfigureAwait(false);
        var originator = await _directory.FindAsync(request.OriginatorUserUuid, ct).ConfigureAwait(false);
        var target = await _directory.FindAsync(request.TargetUserUuid, ct).ConfigureAwait(false);
        var recipients = whom == Audience.Approvers
            ? await ApproversAsync(request, template, ct).ConfigureAwait(false)
            : [.. new[] { originator?.Email, target?.Email }.OfType<string>()];
        var values = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["requestId"] = request.Uuid.ToString("D"),
            ["requestType"] = request.RequestType.ToString(),
            ["status"] = status.ToString(),
            ["template"] = template?.Name ?? request.ProfileTemplateUuid.ToString("D"),
            ["originator"] = originator?.Name ?? request.OriginatorUserUuid.ToString("D"),
            ["target"] = target?.Name ?? request.TargetUserUuid.ToString("D"),
            ["link"] = Link($"requests/{request.Uuid:D}"),
            ["time"] = ev.At.ToString("u", CultureInfo.InvariantCulture),
        };
        return Messages(name, recipients, values);
    }

    private async Task<IReadOnlyList<(string, string)>> ExpiringAsync(OutboxEvent ev, CancellationToken ct)
    {
        if (await _certificates.FindAsync(ev.Subject, ct).ConfigureAwait(false) is not { } certificate
            || await _directory.FindAsync(certificate.UserUuid, ct).ConfigureAwait(false) is not { Email: { } email } holder)
        {
            return [];
        }

        var values = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["serial"] = certificate.SerialHex,
            ["subject"] = SubjectOf(certificate.Der),
            ["template"] = certificate.Template,
            ["notAfter"] = certificate.NotAfter.ToString("u", CultureInfo.InvariantCulture),
            ["days"] = ev.Detail ?? "",
            ["holder"] = holder.Name,
            ["requestId"] = certificate.RequestUuid.ToString("D"),
            ["link"] = Link(""),
            ["time"] = ev.At.ToString("u", CultureInfo.InvariantCulture),
        };
        return Messages("certificate-expiring", [email], values);
    }

    /// <summary>A certificate's subject as text; empty when the stored bytes do not parse.</summary>
    public static string SubjectOf(byte[] der)
    {
        try
        {
            return X509CertificateLoader.LoadCertificate(der).Subject;
        }
        catch (System.Security.Cryptography.CryptographicException)
        {
            return "";
        }
    }

    // Users whose SID, or one of whose groups' SIDs, an allowing entry of the template's approval
    // descriptor names (SPEC §5: CR grants approval); the descriptor's SIDs were resolved at import.
    private async Task<IReadOnlyList<string>> ApproversAsync(CmRequest request, ProfileTemplate? template, CancellationToken ct)
    {
        if (template?.PolicyFor(request.RequestType) is not { } policy)
        {
            return [];
        }

        SecurityDescriptor descriptor;
        try
        {
            descriptor = SecurityDescriptor.Parse(policy.AuthorizedApprover);
        }
        catch (SddlParseException)
        {
            return [];
        }

        var granted = (descriptor.Dacl?.Aces ?? []).Where(a => a.Type == AceType.AccessAllowed).Select(a => a.Sid).ToHashSet();
        if (granted.Count == 0)
        {
            return [];
        }

        var emails = new List<string>();
        foreach (var sid in granted)
        {
            emails.AddRange((await _directory.UsersNamedByAsync(sid, MaxApprovers, ct).ConfigureAwait(false)).Select(u => u.Email).OfType<string>());
        }

        return emails;
    }

    private List<(string, string)> Messages(string name, IEnumerable<string> recipients, IReadOnlyDictionary<string, string> values)
    {
        var text = _texts.Find(name);
        if (text is null)
        {
            return [];
        }

        var (subject, body) = MessageTemplate.Render(text, values);
        return [.. recipients.Where(r => !string.IsNullOrWhiteSpace(r)).Select(r => r.Trim()).Distinct(StringComparer.OrdinalIgnoreCase)
            .Select(r => (r.ToLowerInvariant(), JsonSerializer.Serialize(new MailMessageDraft(r, subject, body), Json)))];
    }

    private string Link(string relative) =>
        string.IsNullOrWhiteSpace(_options.PortalUrl) ? "" : _options.PortalUrl.TrimEnd('/') + "/" + relative;

    private enum Audience
    {
        None,
        Approvers,
        Requesters,
    }
}

/// <summary>
/// A message template: a first line <c>Subject: …</c>, an empty line, then the body; <c>{{name}}</c>
/// is replaced by the value of that name (an unknown name by nothing). Values are inserted as they
/// are, in plain text; a value's own line breaks are flattened so it cannot add header lines.
/// </summary>
public static class MessageTemplate
{
    public static (string Subject, string Body) Render(string text, IReadOnlyDictionary<string, string> values)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(values);
        var normalized = text.Replace("\r\n", "\n", StringComparison.Ordinal);
        var subject = "";
        var body = normalized;
        if (normalized.StartsWith("Subject:", StringComparison.OrdinalIgnoreCase))
        {
            var end = normalized.IndexOf('\n', StringComparison.Ordinal);
            subject = (end < 0 ? normalized[8..] : normalized[8..end]).Trim();
            body = end < 0 ? "" : normalized[(end + 1)..].TrimStart('\n');
        }

        return (Fill(subject, values, flatten: true), Fill(body, values, flatten: false));
    }

    private static string Fill(string text, IReadOnlyDictionary<string, string> values, bool flatten)
    {
        var result = new StringBuilder(text.Length);
        var at = 0;
        while (at < text.Length)
        {
            var open = text.IndexOf("{{", at, StringComparison.Ordinal);
            var close = open < 0 ? -1 : text.IndexOf("}}", open + 2, StringComparison.Ordinal);
            if (close < 0)
            {
                result.Append(text, at, text.Length - at);
                break;
            }

            result.Append(text, at, open - at);
            var value = values.TryGetValue(text[(open + 2)..close].Trim(), out var v) ? v : "";
            result.Append(flatten ? value.Replace('\r', ' ').Replace('\n', ' ') : value);
            at = close + 2;
        }

        return result.ToString();
    }
}
