namespace OpenCM.Server.Auth;

/// <summary>
/// One compact line per refused bearer token, at most one a second (issue #7.9): an invalid-token
/// flood must not fill the disk, and a line never carries the token, only why it was refused
/// and how many refusals the previous second left unlogged.
/// </summary>
public sealed partial class RefusedTokenLog
{
    private readonly ILogger<RefusedTokenLog> _log;
    private readonly Hosting.LogThrottle _throttle;

    public RefusedTokenLog(ILogger<RefusedTokenLog> log, TimeProvider clock)
    {
        _log = log;
        _throttle = new Hosting.LogThrottle(clock);
    }

    /// <summary>Records a refusal; <paramref name="reason"/> is the kind of failure (an exception type's name), never the token.</summary>
    public void Refused(string reason, string correlationId)
    {
        if (_throttle.TryPass() is { } skipped)
        {
            LogRefused(_log, reason, correlationId, skipped);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused a bearer token: {Reason} (correlation id {CorrelationId}; {Skipped} more refusals not logged since the last line)")]
    private static partial void LogRefused(ILogger logger, string reason, string correlationId, long skipped);
}
