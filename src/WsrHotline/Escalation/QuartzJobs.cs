using Quartz;
using WsrHotline.Dashboard;
using WsrHotline.Database;
using WsrHotline.Reconciliation;

namespace WsrHotline.Escalation;

/// <summary>
/// The Quartz.NET glue, and nothing else: each recurring job calls one plain service (which tests
/// call directly). One job class, one job per name: Quartz applies [DisallowConcurrentExecution] per
/// job, so with the clustered store each job runs at one place at a time across all instances (the
/// services are safe to run concurrently anyway: they claim their work). Until the start-up step has
/// migrated the database, a firing does nothing.
/// </summary>
public static class QuartzJobs
{
    private static readonly Dictionary<string, Func<IServiceProvider, CancellationToken, Task>> Work = new(StringComparer.Ordinal)
    {
        ["deadline-sweep"] = (services, ct) => services.GetRequiredService<DeadlineSweep>().SweepAsync(ct),
        ["escalation-delivery"] = (services, ct) => services.GetRequiredService<EscalationDelivery>().DeliverDueAsync(ct),
        ["coverage-check"] = (services, ct) => services.GetRequiredService<CoverageCheck>().RunAsync(ct),
        ["retaliation-checkins"] = (services, ct) => services.GetRequiredService<RetaliationWatch>().QueueDueAsync(ct),
        ["dashboard-snapshot"] = (services, ct) => services.GetRequiredService<DashboardQueries>().RefreshSnapshotAsync(ct),
        ["twilio-reconciliation"] = (services, ct) => services.GetRequiredService<TwilioReconciliation>().RunDailyAsync(ct),
    };

    public static void Schedule(IQuartzBuilder quartz, JobsOptions jobs)
    {
        Every(quartz, "deadline-sweep", jobs.SweepInterval);
        Every(quartz, "escalation-delivery", jobs.DeliveryInterval);
        Every(quartz, "coverage-check", jobs.CoverageInterval);
        Every(quartz, "retaliation-checkins", jobs.CheckinInterval);
        Every(quartz, "dashboard-snapshot", jobs.DashboardInterval);
        Every(quartz, "twilio-reconciliation", jobs.ReconciliationInterval);
    }

    internal static Task RunAsync(string name, IServiceProvider services, CancellationToken cancellationToken) =>
        Work[name](services, cancellationToken);

    private static void Every(IQuartzBuilder quartz, string name, TimeSpan interval) =>
        quartz.ScheduleJob<HotlineJob>(
            trigger => trigger.WithIdentity(name).StartNow().WithSimpleSchedule(schedule => schedule.WithInterval(interval).RepeatForever()),
            job => job.WithIdentity(name));
}

/// <summary>Runs the service its job is named after (<see cref="QuartzJobs"/>).</summary>
[DisallowConcurrentExecution]
public sealed class HotlineJob(IServiceProvider services, StartupState startup) : IJob
{
    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken)
    {
        if (startup.Migrated)
        {
            await QuartzJobs.RunAsync(context.JobDetail.Key.Name, services, cancellationToken);
        }
    }
}
