using OpenCM.Domain;

namespace OpenCM.Application;

/// <summary>
/// Expiry notices (issue #21.2): a certificate whose notAfter comes within one of
/// <see cref="NotificationOptions.ExpiryThresholds"/> days makes one <c>certificate.expiring</c>
/// event for the smallest threshold it is within, recorded per (serial, threshold) in the same
/// unit of work, so each threshold is told once however often the scan runs and on however many
/// nodes. Revoked and retired certificates are not read; a certificate first seen inside a
/// small threshold is told of that one only.
/// </summary>
public sealed class ExpiryNotices
{
    private readonly ICertificateFacts _certificates;
    private readonly ITransactions _transactions;
    private readonly NotificationOptions _options;
    private readonly TimeProvider _clock;

    public ExpiryNotices(ICertificateFacts certificates, ITransactions transactions, NotificationOptions options, TimeProvider clock)
    {
        _certificates = certificates;
        _transactions = transactions;
        _options = options;
        _clock = clock;
    }

    /// <summary>Queues the notices now due; returns how many.</summary>
    public async Task<int> ScanAsync(CancellationToken ct = default)
    {
        var thresholds = _options.ExpiryThresholds();
        if (thresholds.Count == 0)
        {
            return 0;
        }

        var now = _clock.GetUtcNow();
        var queued = 0;
        foreach (var certificate in await _certificates.ExpiringAsync(now, now + TimeSpan.FromDays(thresholds[^1]), 10_000, ct).ConfigureAwait(false))
        {
            // The server's own TLS certificate (Tls:FromOwnCa) is renewed by the server at two
            // thirds of its life, always inside the first threshold: no holder to tell, and a
            // webhook per renewal would be noise.
            if (certificate.Template == ServerCertificatePlan.TemplateName)
            {
                continue;
            }

            var left = certificate.NotAfter - now;
            var days = thresholds.First(t => left <= TimeSpan.FromDays(t));
            queued += await _transactions.RunAsync(async (uow, c) =>
            {
                if (!await uow.Events.TryRecordExpiryNoticeAsync(certificate.SerialHex, days, now, c).ConfigureAwait(false))
                {
                    return 0;
                }

                await uow.Events.EnqueueAsync(new OutboxEvent(EventTypes.CertificateExpiring, certificate.SerialHex, now, Detail: days.ToString(System.Globalization.CultureInfo.InvariantCulture)), c).ConfigureAwait(false);
                return 1;
            }, ct).ConfigureAwait(false);
        }

        return queued;
    }
}
