using System.Globalization;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace OpenCM.Server.Hosting;

/// <summary>Connection limits (configuration section <c>Connections</c>).</summary>
public sealed class ConnectionOptions
{
    /// <summary>Open connections at most; 0 sizes it from the process's open-file limit.</summary>
    public int MaxConcurrent { get; set; }

    /// <summary>How long an idle connection (before or between requests) is kept.</summary>
    public int IdleTimeoutSeconds { get; set; } = 30;
}

/// <summary>
/// Bounded connections (issue #7.1): idle TCP connections without a token once exhausted the
/// process's file descriptors, wedging the server. Kestrel is capped below the open-file limit,
/// leaving descriptors for the database, logs and outgoing calls; connections past the cap are
/// closed at once, and idle ones time out, so the server recovers by itself when a flood ends.
/// </summary>
internal static class ConnectionLimits
{
    /// <summary>Descriptors kept back beyond those open at start: SQLite readers and journals, logs, outgoing calls.</summary>
    public const int Reserve = 64;

    public static void Apply(KestrelServerOptions kestrel, ConnectionOptions options)
    {
        var max = options.MaxConcurrent > 0 ? options.MaxConcurrent : FromFileLimit(OpenFileLimit(), OpenDescriptors());
        kestrel.Limits.MaxConcurrentConnections = max;
        kestrel.Limits.MaxConcurrentUpgradedConnections = max;
        kestrel.Limits.KeepAliveTimeout = TimeSpan.FromSeconds(Math.Max(1, options.IdleTimeoutSeconds));
        kestrel.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(Math.Clamp(options.IdleTimeoutSeconds, 1, 30));
    }

    /// <summary>Three quarters of what the limit leaves after the descriptors in use (the runtime maps every assembly) and the reserve; at least 16.</summary>
    public static long FromFileLimit(long? limit, long inUse) =>
        limit is { } l ? Math.Max(16, (l - inUse - Reserve) * 3 / 4) : 10_000;

    /// <summary>Descriptors this process has open now (Linux: /proc/self/fd); a guess elsewhere.</summary>
    public static long OpenDescriptors()
    {
        try
        {
            return Directory.GetFiles("/proc/self/fd").Length;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return 512;
        }
    }

    /// <summary>The soft open-file limit (Linux: /proc/self/limits), or null where it cannot be read.</summary>
    public static long? OpenFileLimit()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/limits"))
            {
                if (line.StartsWith("Max open files", StringComparison.Ordinal))
                {
                    var soft = line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries)[0];
                    return long.TryParse(soft, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : null;
                }
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }

        return null;
    }
}
