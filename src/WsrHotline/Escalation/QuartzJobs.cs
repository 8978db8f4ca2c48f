using Quartz;
using WsrHotline.Dashboard;
using WsrHotline.Database;

namespace WsrHotline.Escalation;

/// <summary>
/// The Quartz.NET glue, and nothing else: each job calls one plain service (which tests call
/// directly). Every job is [DisallowConcurrentExecution]: with the clustered store, one firing runs
/// at a time across all instances; the services are safe to run concurrently anyway (claims).
/// Until the start-up step has migrated the database, a firing does nothing.
/// </summary>
public static class QuartzJobs
{
    public static void Schedule(IQuartzBuilder quartz, JobsOptions jobs)
    {
        Every<DeadlineSweepJob>(quartz, "deadline-sweep", jobs.SweepInterval);
        Every<EscalationDeliveryJob>(quartz, "escalation-delivery", jobs.DeliveryInterval);
        Every<CoverageJob>(quartz, "coverage-check", jobs.CoverageInterval);
        Every<RetaliationCheckinJob>(quartz, "retaliation-checkins", jobs.CheckinInterval);
        Every<DashboardSnapshotJob>(quartz, "dashboard-snapshot", jobs.DashboardInterval);
    }

    private static void Every<TJob>(IQuartzBuilder quartz, string name, TimeSpan interval) where TJob : IJob =>
        quartz.ScheduleJob<TJob>(
            trigger => trigger.WithIdentity(name).StartNow()
                .WithSimpleSchedule(schedule => schedule.WithInterval(interval).RepeatForever()),
            job => job.WithIdentity(name));
}

[DisallowConcurrentExecution]
public sealed class DeadlineSweepJob(DeadlineSweep sweep, StartupState startup) : IJob
{
    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken)
    {
        if (startup.Migrated)
        {
            await sweep.SweepAsync(cancellationToken);
        }
    }
}

[DisallowConcurrentExecution]
public sealed class EscalationDeliveryJob(EscalationDelivery delivery, StartupState startup) : IJob
{
    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken)
    {
        if (startup.Migrated)
        {
            await delivery.DeliverDueAsync(cancellationToken);
        }
    }
}

[DisallowConcurrentExecution]
public sealed class CoverageJob(CoverageCheck coverage, StartupState startup) : IJob
{
    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken)
    {
        if (startup.Migrated)
        {
            await coverage.RunAsync(cancellationToken);
        }
    }
}

[DisallowConcurrentExecution]
public sealed class RetaliationCheckinJob(RetaliationWatch watch, StartupState startup) : IJob
{
    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken)
    {
        if (startup.Migrated)
        {
            await watch.QueueDueAsync(cancellationToken);
        }
    }
}

[DisallowConcurrentExecution]
public sealed class DashboardSnapshotJob(DashboardQueries dashboard, StartupState startup) : IJob
{
    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken)
    {
        if (startup.Migrated)
        {
            await dashboard.RefreshSnapshotAsync(cancellationToken);
        }
    }
}
