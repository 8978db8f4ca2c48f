using Microsoft.Extensions.Options;
using Npgsql;
using WsrHotline.Demo;
using WsrHotline.Ivr;

namespace WsrHotline.Database;

/// <summary>
/// The retrying start-up step: applies migrations, installs or upgrades Hangfire's schema, brings the languages table in line with the IVR
/// flow and the clock policy in line with the "Clocks" configuration, seeds the demo where configured, and keeps
/// trying with backoff while PostgreSQL is unreachable. It is never skipped: until it succeeds,
/// <c>/health/ready</c> says so.
/// </summary>
public sealed partial class StartupHostedService(
    MigrationRunner migrations,
    StartupState state,
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
                await Jobs.JobsSchema.InstallAsync(
                    services.GetRequiredService<IOptions<DatabaseOptions>>().Value.ConnectionString, stoppingToken);
                await IvrLanguageSync.SyncAsync(
                    services.GetRequiredService<NpgsqlDataSource>(), services.GetRequiredService<IvrFlowProvider>().Current, stoppingToken);
                await Deadlines.ClockPolicySync.SyncAsync(
                    services.GetRequiredService<NpgsqlDataSource>(), services.GetRequiredService<IOptions<Deadlines.ClocksOptions>>().Value, stoppingToken);
                await services.GetRequiredService<DemoSeeder>().SeedIfEnabledAsync(stoppingToken);
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
