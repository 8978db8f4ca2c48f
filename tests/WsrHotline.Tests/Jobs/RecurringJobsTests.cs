using Hangfire;
using Hangfire.Storage;
using Microsoft.Extensions.DependencyInjection;
using WsrHotline.Jobs;
using WsrHotline.Tests.Infrastructure;
using WsrHotline.Tests.Voice;

namespace WsrHotline.Tests.Jobs;

/// <summary>The recurring jobs as the capabilities register them: one Hangfire job per id, each running its capabilities' work.</summary>
public sealed class RecurringJobsTests
{
    [Fact]
    public async Task Each_capability_registers_its_recurring_jobs_and_the_forgotten_work_has_a_part_from_messaging_and_from_voice()
    {
        // With this instance's job server on (off in the other tests), which schedules the recurring jobs.
        await using var scenario = await VoiceScenario.StartAsync(s => s["Jobs:Enabled"] = "true");
        var services = scenario.Hotline.Factory.Services;
        var work = services.GetRequiredService<IEnumerable<RecurringWork>>().ToList();

        string[] ids =
        [
            RecurringJobs.DeadlineSweepId, RecurringJobs.EscalationDeliveryId, RecurringJobs.CoverageCheckId, RecurringJobs.RetaliationCheckinsId,
            RecurringJobs.DashboardSnapshotId, RecurringJobs.TwilioReconciliationId, RecurringJobs.ForgottenWorkId,
        ];
        Assert.Equal(ids.Order(), work.Select(w => w.Id).Distinct().Order());
        Assert.Equal(2, work.Count(w => w.Id == RecurringJobs.ForgottenWorkId));
        Assert.All(work, w => Assert.NotNull(JobsOptions.Cron(w.Interval(new JobsOptions()))));

        // Hangfire knows each id once, as RecurringJobs.RunAsync(id).
        var hangfire = services.GetRequiredService<JobStorage>().GetConnection();
        await Eventually.TrueAsync(() => Task.FromResult(ids.All(id => hangfire.GetRecurringJobs().Any(j => j.Id == id))),
            "the job server never scheduled every recurring job");
        Assert.All(hangfire.GetRecurringJobs().Where(j => ids.Contains(j.Id)), j =>
        {
            Assert.Equal(nameof(RecurringJobs.RunAsync), j.Job.Method.Name);
            Assert.Equal(j.Id, j.Job.Args[0]);
        });

        // An occurrence runs the registered work; an id nobody registered fails loudly.
        var jobs = ActivatorUtilities.CreateInstance<RecurringJobs>(services);
        await jobs.RunAsync(RecurringJobs.ForgottenWorkId, CancellationToken.None);
        await jobs.RunAsync(RecurringJobs.DashboardSnapshotId, CancellationToken.None);
        await Assert.ThrowsAsync<InvalidOperationException>(() => jobs.RunAsync("no-such-job", CancellationToken.None));
    }
}
