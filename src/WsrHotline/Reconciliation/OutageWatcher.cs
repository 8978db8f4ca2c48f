using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using WsrHotline.Database;
using WsrHotline.Spool;

namespace WsrHotline.Reconciliation;

/// <summary>
/// Notices the database coming back: probes it every <see cref="ReconciliationOptions.OutageProbeInterval"/>
/// (and learns of outages webhooks met through <see cref="DatabaseOutages"/>), and once it answers
/// again after an outage runs <see cref="TwilioReconciliation.RunAfterOutageAsync"/> over the outage.
/// A failed run is tried again with backoff until it succeeds; a later outage widens the window.
/// </summary>
public sealed partial class OutageWatcher(
    NpgsqlDataSource dataSource,
    DatabaseOutages outages,
    StartupState startup,
    WebhookSpool spool,
    TwilioReconciliation reconciliation,
    IOptions<ReconciliationOptions> options,
    TimeProvider time,
    ILogger<OutageWatcher> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Value.AfterOutage)
        {
            return;
        }
        DateTimeOffset? owed = null;
        var failures = 0;
        // Taken before each probe: the probe that finds the database back completes this one and puts a new one in its place.
        var recovery = outages.NextRecovery;
        while (!stoppingToken.IsCancellationRequested)
        {
            await ProbeAsync(stoppingToken);
            if (recovery.IsCompletedSuccessfully)
            {
                // The earliest outage not yet reconciled: a run that failed still owes its window.
                var since = await recovery;
                owed = owed is { } earlier && earlier < since ? earlier : since;
                recovery = outages.NextRecovery;
            }
            // After the spool has given back what this instance kept during the outage: the run is for what no instance kept.
            if (owed is { } downSince && startup.Migrated && outages.DownSince is null && spool.Waiting == 0)
            {
                try
                {
                    await reconciliation.RunAfterOutageAsync(downSince, stoppingToken);
                    owed = null;
                    failures = 0;
                }
                catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
                {
                    failures++;
                    var delay = options.Value.RetryBaseDelay * Math.Pow(2, Math.Min(failures - 1, 10));
                    delay = delay > TimeSpan.FromHours(1) ? TimeSpan.FromHours(1) : delay;
                    LogRetrying(logger, failures, ex.GetType().Name, delay);
                    await Task.Delay(delay, time, stoppingToken);
                    continue;
                }
            }
            await Task.WhenAny(recovery, Task.Delay(options.Value.OutageProbeInterval, time, stoppingToken));
        }
    }

    private async Task ProbeAsync(CancellationToken cancellationToken)
    {
        try
        {
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            await connection.ExecuteScalarAsync<int>(new CommandDefinition("SELECT 1", cancellationToken: cancellationToken));
            outages.ReportUp();
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && ex is NpgsqlException or TimeoutException)
        {
            outages.ReportDown();
        }
    }

    [LoggerMessage(EventId = 4107, Level = LogLevel.Error, Message = "Reconciliation after an outage failed (attempt {Attempt}, {Error}); trying again in {Delay}")]
    private static partial void LogRetrying(ILogger logger, int attempt, string error, TimeSpan delay);
}
