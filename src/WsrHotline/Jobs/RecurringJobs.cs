using Hangfire;
using WsrHotline.Dashboard;
using WsrHotline.Escalation;
using WsrHotline.Messaging;
using WsrHotline.Reconciliation;

namespace WsrHotline.Jobs;

/// <summary>
/// The recurring jobs, and nothing else: each method calls the one plain service that does the work
/// (tests call those services directly). Hangfire creates this class per run through the host's
/// service provider (<c>AspNetCoreJobActivator</c>), so the services are the host's own singletons.
/// </summary>
/// <remarks>
/// <para>
/// Each occurrence runs once across all instances: the recurring-job scheduler of whichever server
/// holds Hangfire's scheduler lock enqueues it once, and one worker fetches it
/// (<c>FOR UPDATE SKIP LOCKED</c>). <see cref="DisableConcurrentExecutionAttribute"/> (a lock per
/// method) keeps an occurrence from overlapping a previous one still running; the services are safe
/// to run concurrently anyway (they claim their work), so the lock only saves the duplicate effort.
/// </para>
/// <para>
/// No automatic retry: the next occurrence, seconds or minutes later, is the retry, and a retried
/// occurrence would only run the same work a second time. A failed occurrence stays in Hangfire's
/// Failed list on <c>/hangfire</c> and in the log; nothing is swallowed.
/// </para>
/// </remarks>
[AutomaticRetry(Attempts = 0)]
public sealed class RecurringJobs(
    DeadlineSweep sweep,
    EscalationDelivery delivery,
    CoverageCheck coverage,
    RetaliationWatch retaliation,
    DashboardQueries dashboard,
    TwilioReconciliation reconciliation,
    OutboundSender replies,
    MediaFetcher media,
    Voice.VoicemailCopies recordings,
    Voice.CallingBack callingBack)
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

    /// <summary>Registers (or updates) every recurring job with this instance's intervals.</summary>
    public static void Schedule(IRecurringJobManager jobs, JobsOptions options)
    {
        Every(jobs, DeadlineSweepId, options.SweepInterval, j => j.SweepDeadlinesAsync(CancellationToken.None));
        Every(jobs, EscalationDeliveryId, options.DeliveryInterval, j => j.DeliverEscalationsAsync(CancellationToken.None));
        Every(jobs, CoverageCheckId, options.CoverageInterval, j => j.CheckCoverageAsync(CancellationToken.None));
        Every(jobs, RetaliationCheckinsId, options.CheckinInterval, j => j.QueueRetaliationCheckinsAsync(CancellationToken.None));
        Every(jobs, DashboardSnapshotId, options.DashboardInterval, j => j.RefreshDashboardSnapshotAsync(CancellationToken.None));
        Every(jobs, TwilioReconciliationId, options.ReconciliationInterval, j => j.ReconcileWithTwilioAsync(CancellationToken.None));
        Every(jobs, ForgottenWorkId, ForgottenWorkInterval, j => j.EnqueueForgottenWorkAsync(CancellationToken.None));
    }

    // Hangfire passes the server's shutdown token where the expression says CancellationToken.None.
    [DisableConcurrentExecution(WaitForPreviousSeconds)]
    public Task SweepDeadlinesAsync(CancellationToken cancellationToken) => sweep.SweepAsync(cancellationToken);

    /// <summary>Deliveries are jobs of their own; this is their safety net (a job for each one a minute overdue).</summary>
    [DisableConcurrentExecution(WaitForPreviousSeconds)]
    public Task DeliverEscalationsAsync(CancellationToken cancellationToken) => delivery.EnqueueForgottenAsync(cancellationToken);

    [DisableConcurrentExecution(WaitForPreviousSeconds)]
    public Task CheckCoverageAsync(CancellationToken cancellationToken) => coverage.RunAsync(cancellationToken);

    [DisableConcurrentExecution(WaitForPreviousSeconds)]
    public Task QueueRetaliationCheckinsAsync(CancellationToken cancellationToken) => retaliation.QueueDueAsync(cancellationToken);

    [DisableConcurrentExecution(WaitForPreviousSeconds)]
    public Task RefreshDashboardSnapshotAsync(CancellationToken cancellationToken) => dashboard.RefreshSnapshotAsync(cancellationToken);

    [DisableConcurrentExecution(WaitForPreviousSeconds)]
    public Task ReconcileWithTwilioAsync(CancellationToken cancellationToken) => reconciliation.RunDailyAsync(cancellationToken);

    /// <summary>
    /// The safety net of the jobs enqueued after a commit (<see cref="AfterCommit"/>): a reply or a
    /// download (an attachment or a voicemail) whose enqueue was lost, or whose job died and was not retried, gets a job again;
    /// a callback whose last status callback was lost is ended.
    /// </summary>
    [DisableConcurrentExecution(WaitForPreviousSeconds)]
    public async Task EnqueueForgottenWorkAsync(CancellationToken cancellationToken)
    {
        await replies.EnqueueForgottenAsync(cancellationToken);
        await media.EnqueueForgottenAsync(cancellationToken);
        await recordings.EnqueueForgottenAsync(cancellationToken);
        await callingBack.SettleLostAttemptsAsync(cancellationToken);
    }

    private static void Every(IRecurringJobManager jobs, string id, TimeSpan interval, System.Linq.Expressions.Expression<Func<RecurringJobs, Task>> call) =>
        jobs.AddOrUpdate(id, call, JobsOptions.Cron(interval) ?? throw new InvalidOperationException($"Jobs: no cron expression fires every {interval}."),
            new RecurringJobOptions { TimeZone = TimeZoneInfo.Utc });
}
