using Hangfire;
using Hangfire.Common;
using Microsoft.Extensions.DependencyInjection;
using WsrHotline.Jobs;
using WsrHotline.Messaging;
using WsrHotline.Tests.Infrastructure;
using WsrHotline.Tests.Messaging;

namespace WsrHotline.Tests.Jobs;

/// <summary>The work that retries as Hangfire jobs: what is enqueued after a text, and the retry each job type gets.</summary>
public sealed class WorkJobsTests
{
    [Fact]
    public void Exponential_retries_run_the_attempts_in_all_with_the_base_delay_doubled_and_stop_at_a_give_up()
    {
        var retry = JobRetries.Exponential(maxAttempts: 6, TimeSpan.FromSeconds(30));

        Assert.Equal(5, retry.Attempts);
        Assert.Equal([30, 60, 120, 240, 480], Enumerable.Range(1, 5).Select(n => retry.DelayInSecondsByAttemptFunc(n)));
        Assert.Equal([typeof(JobGaveUpException)], retry.ExceptOn);
        Assert.Equal(AttemptsExceededAction.Fail, retry.OnAttemptsExceeded);
    }

    [Fact]
    public async Task A_text_enqueues_its_replies_and_its_attachment_and_each_job_type_retries_as_its_settings_say()
    {
        await using var scenario = await MessagingScenario.StartAsync(adjust: s =>
        {
            s["Messaging:SendMaxAttempts"] = "4";
            s["Messaging:MediaMaxAttempts"] = "7";
        });
        await scenario.TextAsync("+15555550177", "Hello, my boss did not pay my overtime hours.",
            media: [("https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM1/Media/ME1", "image/jpeg")]);

        var storage = scenario.Factory.Services.GetRequiredService<JobStorage>();
        var monitoring = storage.GetMonitoringApi();
        // One job for the text's replies and one for the photo.
        // (Enqueued just after the text's commit, so polled.)
        Assert.Single(await scenario.RepliesAsync("+15555550177"));
        await Eventually.TrueAsync(() => monitoring.GetStatistics().Enqueued >= 2, () => $"2 jobs enqueued (only {monitoring.GetStatistics().Enqueued})",
            TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(50));
        Assert.Equal(2, monitoring.GetStatistics().Enqueued);
        using var connection = storage.GetConnection();
        var enqueued = monitoring.EnqueuedJobs("default", 0, 100).Select(job => connection.GetJobData(job.Key).Job.Type).ToList();
        Assert.Equal([typeof(MediaFetcher), typeof(OutboundSender)], enqueued.OrderBy(type => type.Name));

        var filters = scenario.Factory.Services.GetRequiredService<IJobFilterProvider>();
        Assert.Equal(3, RetryOf(filters, Job.FromExpression<OutboundSender>(s => s.SendJobAsync(new long[] { 1 }, null!, CancellationToken.None))).Attempts);
        Assert.Equal(6, RetryOf(filters, Job.FromExpression<MediaFetcher>(f => f.FetchAsync(1, CancellationToken.None))).Attempts);
    }

    private static AutomaticRetryAttribute RetryOf(IJobFilterProvider filters, Job job) =>
        Assert.Single(filters.GetFilters(job).Select(filter => filter.Instance).OfType<AutomaticRetryAttribute>());
}
