using Hangfire;

namespace WsrHotline.Jobs;

/// <summary>
/// The recurring jobs: Hangfire's entry point for the <see cref="RecurringWork"/> each capability
/// registers, each of which calls the one plain service that does the work (tests call those
/// services directly). Hangfire creates this class per run through the host's service provider
/// (<c>AspNetCoreJobActivator</c>), so the services are the host's own singletons.
/// </summary>
/// <remarks>
/// <para>
/// Each occurrence runs once across all instances: the recurring-job scheduler of whichever server
/// holds Hangfire's scheduler lock enqueues it once, and one worker fetches it
/// (<c>FOR UPDATE SKIP LOCKED</c>). <see cref="DisableConcurrentExecutionAttribute"/> (a lock per
/// job id) keeps an occurrence from overlapping a previous one still running; the services are safe
/// to run concurrently anyway (they claim their work), so the lock only saves the duplicate effort.
/// </para>
/// <para>
/// No automatic retry: the next occurrence, seconds or minutes later, is the retry, and a retried
/// occurrence would only run the same work a second time. A failed occurrence stays in Hangfire's
/// Failed list on <c>/hangfire</c> and in the log; nothing is swallowed.
/// </para>
/// </remarks>
[AutomaticRetry(Attempts = 0)]
public sealed class RecurringJobs(IEnumerable<RecurringWork> work, IServiceProvider services)
{
    /// <summary>How long an occurrence waits for the previous one of its job to finish before it fails.</summary>
    private const int WaitForPreviousSeconds = 60;

    public const string DeadlineSweepId = "deadline-sweep";
    public const string EscalationDeliveryId = "escalation-delivery";
    public const string CoverageCheckId = "coverage-check";
    public const string RetaliationCheckinsId = "retaliation-checkins";
    public const string DashboardSnapshotId = "dashboard-snapshot";
    public const string TwilioReconciliationId = "twilio-reconciliation";
    public const string ForgottenWorkId = "forgotten-work";

    /// <summary>How often replies and downloads whose job was lost get one again.</summary>
    public static readonly TimeSpan ForgottenWorkInterval = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Registers (or updates) every recurring job the capabilities registered, with this instance's
    /// intervals. Several capabilities may add work to one job (<see cref="ForgottenWorkId"/>): it runs
    /// theirs in registration order.
    /// </summary>
    public static void Schedule(IRecurringJobManager jobs, JobsOptions options, IEnumerable<RecurringWork> work)
    {
        foreach (var job in work.GroupBy(w => w.Id))
        {
            var id = job.Key;
            var interval = job.First().Interval(options);
            jobs.AddOrUpdate<RecurringJobs>(id, j => j.RunAsync(id, CancellationToken.None),
                JobsOptions.Cron(interval) ?? throw new InvalidOperationException($"Jobs: no cron expression fires every {interval}."),
                new RecurringJobOptions { TimeZone = TimeZoneInfo.Utc });
        }
    }

    /// <summary>One occurrence of recurring job <paramref name="id"/> (a lock per job id).</summary>
    // Hangfire passes the server's shutdown token where the expression says CancellationToken.None.
    [DisableConcurrentExecution("recurring-job:{0}", WaitForPreviousSeconds)]
    public async Task RunAsync(string id, CancellationToken cancellationToken)
    {
        var parts = work.Where(job => job.Id == id).ToList();
        if (parts.Count == 0)
        {
            throw new InvalidOperationException($"No recurring job '{id}' is registered.");
        }
        foreach (var part in parts)
        {
            await part.RunAsync(services, cancellationToken);
        }
    }
}

/// <summary>
/// A recurring job, registered by the capability whose work it is (<see cref="RecurringWorkRegistration.AddRecurringJob"/>):
/// its id in Hangfire, its interval among <see cref="JobsOptions"/>, and the plain service call that does the work.
/// </summary>
public sealed record RecurringWork(string Id, Func<JobsOptions, TimeSpan> Interval, Func<IServiceProvider, CancellationToken, Task> RunAsync);

public static class RecurringWorkRegistration
{
    public static IServiceCollection AddRecurringJob(this IServiceCollection services, string id, Func<JobsOptions, TimeSpan> interval,
        Func<IServiceProvider, CancellationToken, Task> run) =>
        services.AddSingleton(new RecurringWork(id, interval, run));
}
