using System.Globalization;

namespace OpenCM.Application;

/// <summary>Settings of notifications and their delivery (configuration section <c>Notifications</c>; docs/operations.md).</summary>
public sealed class NotificationOptions
{
    public const string Section = "Notifications";

    /// <summary>The portal's address that messages link to, e.g. https://cm.example.org/CertificateManagement/ (empty: messages carry no link).</summary>
    public string PortalUrl { get; set; } = "";

    /// <summary>A directory of message templates overriding the shipped ones file by file (empty: the shipped ones, samples/notifications).</summary>
    public string TemplatesPath { get; set; } = "";

    /// <summary>Days before a certificate's notAfter its holder is told, comma-separated; each threshold once per certificate.</summary>
    public string ExpiryDays { get; set; } = "30,7,1";

    /// <summary>How often the expiry scan runs, in minutes.</summary>
    public int ExpiryScanMinutes { get; set; } = 60;

    /// <summary>How often the outbox and the due deliveries are looked at, in seconds.</summary>
    public int PollSeconds { get; set; } = 2;

    /// <summary>Tries of one delivery before it is given up (Failed, kept in the log).</summary>
    public int MaxAttempts { get; set; } = 10;

    /// <summary>The longest wait between two tries of a delivery, in minutes (the waits double from 10 seconds).</summary>
    public int MaxBackoffMinutes { get; set; } = 60;

    /// <summary>How long a claimed event or delivery is a dispatcher's before another may take it (its process ended), in seconds.</summary>
    public int LeaseSeconds { get; set; } = 120;

    /// <summary>The thresholds of <see cref="ExpiryDays"/>, smallest first; a value that is not a positive number is ignored.</summary>
    public IReadOnlyList<int> ExpiryThresholds() =>
        [.. (ExpiryDays ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(d => int.TryParse(d, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : 0)
            .Where(n => n > 0).Distinct().Order()];

    /// <summary>The wait after the <paramref name="attempts"/>th failed try: 10, 20, 40… seconds, at most <see cref="MaxBackoffMinutes"/>.</summary>
    public TimeSpan Backoff(int attempts)
    {
        var cap = TimeSpan.FromMinutes(Math.Max(1, MaxBackoffMinutes));
        return attempts >= 20 ? cap : TimeSpan.FromSeconds(Math.Min(10 * Math.Pow(2, Math.Max(0, attempts - 1)), cap.TotalSeconds));
    }
}
