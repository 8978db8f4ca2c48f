using Npgsql;
using WsrHotline.Database;

namespace WsrHotline.Messaging;

/// <summary>
/// Runs one work queue's rounds (<see cref="OutboundSender"/>, <see cref="MediaFetcher"/>) until the app
/// stops, once the database is migrated; it waits between rounds only when one found nothing to do.
/// A database outage is logged and waited out: the rows stay where they were and the next round
/// (here or on another instance) picks them up.
/// </summary>
public abstract partial class QueuePollingService(StartupState startup, TimeProvider time, ILogger logger) : BackgroundService
{
    /// <summary>The queue's name, for the log.</summary>
    protected abstract string QueueName { get; }

    protected abstract bool Enabled { get; }

    protected abstract TimeSpan Interval { get; }

    /// <summary>One round: claims and handles a batch; returns how many rows it claimed.</summary>
    protected abstract Task<int> RunRoundAsync(CancellationToken cancellationToken);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!Enabled)
        {
            return;
        }
        while (!stoppingToken.IsCancellationRequested)
        {
            var claimed = 0;
            try
            {
                if (startup.Migrated)
                {
                    claimed = await RunRoundAsync(stoppingToken);
                }
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested && ex is NpgsqlException or TimeoutException)
            {
                LogDatabaseUnavailable(logger, QueueName, ex.GetType().Name);
            }
            if (claimed == 0)
            {
                await Task.Delay(Interval, time, stoppingToken);
            }
        }
    }

    [LoggerMessage(EventId = 4016, Level = LogLevel.Warning, Message = "{Queue}: database unavailable ({Error}); trying again")]
    private static partial void LogDatabaseUnavailable(ILogger logger, string queue, string error);
}
