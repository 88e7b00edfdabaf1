using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;
using OpenCM.Application;

namespace OpenCM.Composition;

/// <summary>The SMTP server e-mail notifications go through (configuration section <c>Smtp</c>; docs/operations.md). Off while <see cref="Host"/> is empty.</summary>
public sealed class SmtpOptions
{
    public const string Section = "Smtp";

    /// <summary>The SMTP server's host name; empty: no e-mail is made or sent.</summary>
    public string Host { get; set; } = "";

    public int Port { get; set; } = 587;

    /// <summary>Whether to require STARTTLS (true), or send in the clear (false: a relay on loopback, or a test).</summary>
    public bool StartTls { get; set; } = true;

    /// <summary>The user to authenticate as; empty: no authentication.</summary>
    public string User { get; set; } = "";

    /// <summary>The user's password; never logged, never in the delivery log.</summary>
    public string Password { get; set; } = "";

    /// <summary>The sender's address.</summary>
    public string From { get; set; } = "opencm@localhost";

    /// <summary>How long one message may take, in seconds.</summary>
    public int TimeoutSeconds { get; set; } = 30;
}

/// <summary>
/// Sends notification e-mail with MailKit: one connection per message (notifications are few;
/// a server that dropped an idle connection costs nothing), STARTTLS when <see cref="SmtpOptions.StartTls"/>.
/// Failures reach the delivery log as an SMTP status code or an exception type, never a server's reply text.
/// </summary>
public sealed class SmtpMailTransport : IMailTransport
{
    private readonly SmtpOptions _options;

    public SmtpMailTransport(SmtpOptions options) => _options = options;

    public bool IsConfigured => !string.IsNullOrWhiteSpace(_options.Host);

    public async Task SendAsync(MailMessageDraft message, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(message);
        var mail = new MimeMessage();
        mail.From.Add(MailboxAddress.Parse(_options.From));
        if (!MailboxAddress.TryParse(message.To, out var to))
        {
            throw new DeliveryException("the recipient's address does not parse", permanent: true);
        }

        mail.To.Add(to);
        mail.Subject = message.Subject;
        mail.Body = new TextPart("plain") { Text = message.Body };

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(Math.Max(1, _options.TimeoutSeconds)));
        using var client = new SmtpClient { Timeout = Math.Max(1, _options.TimeoutSeconds) * 1000 };
        try
        {
            await client.ConnectAsync(_options.Host, _options.Port, _options.StartTls ? SecureSocketOptions.StartTls : SecureSocketOptions.None, timeout.Token).ConfigureAwait(false);
            if (!string.IsNullOrEmpty(_options.User))
            {
                await client.AuthenticateAsync(_options.User, _options.Password, timeout.Token).ConfigureAwait(false);
            }

            await client.SendAsync(mail, timeout.Token).ConfigureAwait(false);
            await client.DisconnectAsync(true, timeout.Token).ConfigureAwait(false);
        }
        catch (SmtpCommandException e)
        {
            // A 5xx answer to the recipient or the message will not change by trying again.
            throw new DeliveryException($"SMTP {(int)e.StatusCode}", permanent: (int)e.StatusCode >= 500 && e.ErrorCode != SmtpErrorCode.UnexpectedStatusCode);
        }
        catch (AuthenticationException)
        {
            throw new DeliveryException("SMTP authentication refused");
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new DeliveryException("SMTP timed out");
        }
    }
}
