using System.Globalization;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace OpenCM.Server.Hosting;

/// <summary>Connection limits (configuration section <c>Connections</c>).</summary>
public sealed class ConnectionOptions
{
    /// <summary>The configuration section it is bound from (docs/configuration.md lists its keys).</summary>
    public const string Section = "Connections";

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
/// The cap is counted here rather than by Kestrel's own limit, which logs a warning per refused
/// connection (2.6 MiB in 10 s of a flood, issue #18.8): refusals are logged at most one line a second.
/// </summary>
internal static class ConnectionLimits
{
    /// <summary>Descriptors kept back beyond those open at start: SQLite readers and journals, logs, outgoing calls.</summary>
    public const int Reserve = 64;

    public static void Apply(KestrelServerOptions kestrel, ConnectionOptions options)
    {
        var max = options.MaxConcurrent > 0 ? options.MaxConcurrent : FromFileLimit(OpenFileLimit(), OpenDescriptors());
        kestrel.Limits.MaxConcurrentUpgradedConnections = max;
        var gate = new ConnectionGate(max, new Lazy<RefusedConnectionLog>(() => new RefusedConnectionLog(
            kestrel.ApplicationServices.GetRequiredService<ILoggerFactory>().CreateLogger<RefusedConnectionLog>(),
            kestrel.ApplicationServices.GetService<TimeProvider>() ?? TimeProvider.System)));
        kestrel.ConfigureEndpointDefaults(listen => listen.Use(gate.Middleware));
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

/// <summary>
/// The connection cap as the first connection middleware of every endpoint (before TLS), as
/// Kestrel's own is: a connection past it is closed at once, and logged through
/// <see cref="RefusedConnectionLog"/>.
/// </summary>
internal sealed class ConnectionGate(long max, Lazy<RefusedConnectionLog> log)
{
    private long _open;

    public ConnectionDelegate Middleware(ConnectionDelegate next) => async connection =>
    {
        if (Interlocked.Increment(ref _open) > max)
        {
            Interlocked.Decrement(ref _open);
            log.Value.Refused(max);
            await connection.DisposeAsync().ConfigureAwait(false);
            return;
        }

        try
        {
            await next(connection).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _open);
        }
    };
}

/// <summary>
/// One line per second at most for connections refused at the cap (issue #18.8), like
/// <see cref="Auth.RefusedTokenLog"/>: a flood needs no login and must not fill the disk; the line
/// says how many refusals since the last one went unlogged.
/// </summary>
internal sealed partial class RefusedConnectionLog(ILogger<RefusedConnectionLog> log, TimeProvider clock)
{
    private readonly LogThrottle _throttle = new(clock);

    public void Refused(long max)
    {
        if (_throttle.TryPass() is { } skipped)
        {
            LogRefused(log, max, skipped);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused a connection: {Max} are open, the cap (Connections:MaxConcurrent); {Skipped} more refusals not logged since the last line")]
    private static partial void LogRefused(ILogger logger, long max, long skipped);
}
