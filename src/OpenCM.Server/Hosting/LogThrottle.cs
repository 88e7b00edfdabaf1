namespace OpenCM.Server.Hosting;

/// <summary>
/// At most one log line a second for a refusal anyone can cause without signing in (bad tokens,
/// connections over the cap; issues #7.9, #18.8): a flood must not fill the disk. Each line
/// passed says how many were held back since the last one.
/// </summary>
internal sealed class LogThrottle(TimeProvider clock)
{
    private readonly Lock _gate = new();
    private DateTimeOffset _lastWritten = DateTimeOffset.MinValue;
    private long _suppressed;

    /// <summary>The count held back since the last line when a line may be written now; null when this one is held back.</summary>
    public long? TryPass()
    {
        lock (_gate)
        {
            var now = clock.GetUtcNow();
            if (now - _lastWritten < TimeSpan.FromSeconds(1))
            {
                _suppressed++;
                return null;
            }

            _lastWritten = now;
            var skipped = _suppressed;
            _suppressed = 0;
            return skipped;
        }
    }
}
