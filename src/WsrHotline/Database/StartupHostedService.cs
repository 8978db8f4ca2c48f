using Npgsql;

namespace WsrHotline.Database;

/// <summary>
/// The retrying start-up: applies migrations, then the <see cref="StartupStep"/>s the capabilities
/// registered (Hangfire's schema, the languages of the IVR flow, the clock policy, the demo seed), and
/// keeps trying with backoff while PostgreSQL is unreachable. It is never skipped: until it succeeds,
/// <c>/health/ready</c> says so.
/// </summary>
public sealed partial class StartupHostedService(
    MigrationRunner migrations,
    StartupState state,
    IEnumerable<StartupStep> steps,
    IServiceProvider services,
    ILogger<StartupHostedService> logger) : BackgroundService
{
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var delay = TimeSpan.FromMilliseconds(500);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await migrations.ApplyPendingAsync(stoppingToken);
                foreach (var step in steps)
                {
                    await step.RunAsync(services, stoppingToken);
                }
                state.MarkMigrated();
                LogReady(logger);
                return;
            }
            catch (Exception ex) when (IsTransient(ex) && !stoppingToken.IsCancellationRequested)
            {
                state.MarkFailed(ex.Message);
                LogDatabaseUnavailable(logger, delay.TotalSeconds, ex.Message);
                await Task.Delay(delay, stoppingToken);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxBackoff.Ticks));
            }
        }
    }

    // Unreachable or still starting: retry. A migration that PostgreSQL rejects is a bug: let it stop the app.
    private static bool IsTransient(Exception ex) => ex is NpgsqlException { IsTransient: true } or TimeoutException;

    [LoggerMessage(EventId = 1002, Level = LogLevel.Information, Message = "Database migrated and ready")]
    private static partial void LogReady(ILogger logger);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Warning,
        Message = "Database not reachable at start-up; retrying in {Seconds} s: {Error}")]
    private static partial void LogDatabaseUnavailable(ILogger logger, double seconds, string error);
}
