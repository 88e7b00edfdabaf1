using OpenCM.Authority;
using OpenCM.Composition;

namespace OpenCM.Server.Hosting;

/// <summary>
/// Picks up a CA installed while the server runs (issue #20.1): <c>opencm ca install</c> changes
/// the database, on this node or another, and every node looks every <c>Ca:ReloadSeconds</c>,
/// so new certificates come from the new CA without a restart.
/// </summary>
public sealed partial class CaReloadLoop : BackgroundService
{
    private readonly CaContext _context;
    private readonly CertificateAuthorities _authorities;
    private readonly TimeProvider _clock;
    private readonly ILogger<CaReloadLoop> _log;

    public CaReloadLoop(CaContext context, CertificateAuthorities authorities, TimeProvider clock, ILogger<CaReloadLoop> log)
    {
        _context = context;
        _authorities = authorities;
        _clock = clock;
        _log = log;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = TimeSpan.FromSeconds(Math.Max(1, _context.Options.ReloadSeconds));
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(interval, _clock, stoppingToken).ConfigureAwait(false);
                if (await CaSetup.ReloadAsync(_context, _authorities, stoppingToken).ConfigureAwait(false))
                {
                    LogReloaded(_log, _authorities.Active.Id, _authorities.Active.Signer.Certificate.Subject);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                // The database is down, or a new CA's key cannot be opened: the CAs held keep serving.
                LogReloadFailed(_log, ex);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "CAs reloaded: CA {Id} ({Subject}) issues new certificates.")]
    private static partial void LogReloaded(ILogger logger, int id, string subject);

    [LoggerMessage(Level = LogLevel.Warning, Message = "CAs: looking for a newly installed CA failed; the CAs held keep serving, trying again shortly.")]
    private static partial void LogReloadFailed(ILogger logger, Exception exception);
}
