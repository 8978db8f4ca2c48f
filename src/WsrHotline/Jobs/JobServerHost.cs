using Hangfire;
using Hangfire.Common;
using Microsoft.Extensions.Options;
using Npgsql;
using WsrHotline.Database;

namespace WsrHotline.Jobs;

/// <summary>
/// This instance's Hangfire server, started once the start-up step has migrated the database (so
/// Hangfire's schema is there and no job runs against a database older than the code), after the
/// recurring jobs are registered. Stopped with the host: running jobs get the cancellation and the
/// host's shutdown timeout bounds the wait.
/// </summary>
public sealed partial class JobServerHost(
    StartupState startup,
    JobStorage storage,
    JobActivator activator,
    IJobFilterProvider filters,
    IRecurringJobManager recurringJobs,
    IEnumerable<RecurringWork> recurringWork,
    IOptions<JobsOptions> options,
    ILogger<JobServerHost> logger) : BackgroundService
{
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);

    /// <summary>How often each server looks for due recurring and delayed jobs.</summary>
    internal static readonly TimeSpan SchedulePollingInterval = TimeSpan.FromSeconds(1);

    private BackgroundJobServer? _server;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await startup.WhenMigrated.WaitAsync(stoppingToken);
        var delay = TimeSpan.FromMilliseconds(500);
        while (true)
        {
            try
            {
                RecurringJobs.Schedule(recurringJobs, options.Value, recurringWork);
                break;
            }
            catch (Exception ex) when (ex is NpgsqlException { IsTransient: true } or TimeoutException && !stoppingToken.IsCancellationRequested)
            {
                LogScheduleFailed(logger, delay.TotalSeconds, ex.Message);
                await Task.Delay(delay, stoppingToken);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxBackoff.Ticks));
            }
        }
        stoppingToken.ThrowIfCancellationRequested();
        _server = new BackgroundJobServer(
            new BackgroundJobServerOptions
            {
                WorkerCount = options.Value.WorkerCount,
                SchedulePollingInterval = SchedulePollingInterval,
                // This host's activator and filters, not Hangfire's process-wide ones (see JobsExtensions).
                Activator = activator,
                FilterProvider = filters,
            },
            storage,
            []);
        LogStarted(logger, options.Value.WorkerCount);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        // First ExecuteAsync (it may be waiting for the start-up step), then the server it started.
        await base.StopAsync(cancellationToken);
        if (_server is { } server)
        {
            server.SendStop();
            await server.WaitForShutdownAsync(cancellationToken);
            server.Dispose();
        }
    }

    [LoggerMessage(EventId = 9001, Level = LogLevel.Information, Message = "Hangfire server started with {Workers} workers")]
    private static partial void LogStarted(ILogger logger, int workers);

    [LoggerMessage(EventId = 9002, Level = LogLevel.Warning, Message = "Recurring jobs not registered, database not reachable; retrying in {Seconds} s: {Error}")]
    private static partial void LogScheduleFailed(ILogger logger, double seconds, string error);
}
