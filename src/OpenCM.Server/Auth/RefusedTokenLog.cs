namespace OpenCM.Server.Auth;

/// <summary>
/// One compact line per refused bearer token, at most one a second (issue #7.9): an invalid-token
/// flood must not fill the disk, and a line never carries the token, only why it was refused
/// and how many refusals the previous second left unlogged.
/// </summary>
public sealed partial class RefusedTokenLog
{
    private readonly ILogger<RefusedTokenLog> _log;
    private readonly TimeProvider _clock;
    private readonly Lock _gate = new();
    private DateTimeOffset _lastWritten = DateTimeOffset.MinValue;
    private long _suppressed;

    public RefusedTokenLog(ILogger<RefusedTokenLog> log, TimeProvider clock)
    {
        _log = log;
        _clock = clock;
    }

    /// <summary>Records a refusal; <paramref name="reason"/> is the kind of failure (an exception type's name), never the token.</summary>
    public void Refused(string reason, string correlationId)
    {
        long skipped;
        lock (_gate)
        {
            var now = _clock.GetUtcNow();
            if (now - _lastWritten < TimeSpan.FromSeconds(1))
            {
                _suppressed++;
                return;
            }

            _lastWritten = now;
            skipped = _suppressed;
            _suppressed = 0;
        }

        LogRefused(_log, reason, correlationId, skipped);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused a bearer token: {Reason} (correlation id {CorrelationId}; {Skipped} more refusals not logged since the last line)")]
    private static partial void LogRefused(ILogger logger, string reason, string correlationId, long skipped);
}
