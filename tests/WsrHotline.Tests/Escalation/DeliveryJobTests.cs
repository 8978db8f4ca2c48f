using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using Dapper;
using Hangfire;
using Hangfire.Common;
using WsrHotline.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using WsrHotline.Escalation;
using WsrHotline.Jobs;

namespace WsrHotline.Tests.Escalation;

/// <summary>A buyer delivery as a Hangfire job: its retries, its end, its guard, and its safety net.</summary>
public sealed class DeliveryJobTests
{
    private static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);

    [Fact]
    public async Task A_failed_webhook_goes_back_to_hangfire_for_a_retry_after_the_backoff_and_the_last_attempt_gives_up_dead()
    {
        await using var scenario = await EscalationScenario.StartAsync();
        var complaint = await scenario.SeedComplaintAsync();
        scenario.WebhookAnswer = _ => HttpStatusCode.ServiceUnavailable;
        scenario.Time.Advance(TimeSpan.FromDays(12) + Minute);
        await scenario.Sweep.SweepAsync(CancellationToken.None);
        var webhook = (await scenario.EscalationsAsync(complaint.Id)).Single(e => e.Level == "buyer" && e.Channel == "webhook");
        Assert.Contains(DueDeliveries.Enqueued(scenario.App.Services), job => job.EscalationId == webhook.Id);

        // The scenario's settings: 4 attempts, 1, 2 then 4 minutes apart (Hangfire's own retry of the job
        // is shown with a real server below).
        foreach (var (attempt, backoff) in new[] { (1, Minute), (2, 2 * Minute), (3, 4 * Minute) })
        {
            await Assert.ThrowsAsync<JobWillRetryException>(() => scenario.Delivery.DeliverAsync(webhook.Id, CancellationToken.None));
            var row = await RowAsync(scenario, webhook.Id);
            Assert.Equal(("failed", attempt, "HTTP 503"), (row.Status, row.Attempts, row.LastError));
            // Due a second before Hangfire's retry, which may run up to a second early (whole seconds).
            Assert.Equal((scenario.Time.GetUtcNow() + backoff - TimeSpan.FromSeconds(1)).UtcDateTime, row.NextAttemptAt, TimeSpan.FromMilliseconds(1));
            // A job run before the backoff (a duplicate) does nothing.
            await scenario.Delivery.DeliverAsync(webhook.Id, CancellationToken.None);
            Assert.Equal(attempt, scenario.Webhooks.Count);
            scenario.Time.Advance(backoff);
        }
        await Assert.ThrowsAsync<JobGaveUpException>(() => scenario.Delivery.DeliverAsync(webhook.Id, CancellationToken.None));
        var dead = await RowAsync(scenario, webhook.Id);
        Assert.Equal(("dead", 4), (dead.Status, dead.Attempts));
        // Dead is the end: another run sends nothing.
        await scenario.Delivery.DeliverAsync(webhook.Id, CancellationToken.None);
        Assert.Equal(4, scenario.Webhooks.Count);
        Assert.Single(scenario.Webhooks.Select(h => h.DeliveryId).Distinct());
        Assert.Equal(webhook.Id.ToString(CultureInfo.InvariantCulture), scenario.Webhooks.First().DeliveryId);

        // On the case's timeline, each attempt; on the coordinators' dashboard, each change of status.
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        var attempts = (await connection.QueryAsync<string>("""
            SELECT details->>'outcome' FROM case_timeline
            WHERE kind = 'escalation.attempt' AND (details->>'escalation_id')::bigint = @Id ORDER BY id
            """, new { webhook.Id })).ToList();
        Assert.Equal(["failed", "failed", "failed", "dead"], attempts);
        var statuses = (await scenario.ConsoleEventsAsync())
            .Where(e => e.Audience == "role:coordinator" && (long?)JsonNode.Parse(e.Payload)!["escalation_id"] == webhook.Id
                        && (string?)JsonNode.Parse(e.Payload)!["reason"] == "escalation.status")
            .Select(e => (string?)JsonNode.Parse(e.Payload)!["status"]).ToList();
        Assert.Equal(["failed", "dead"], statuses);
    }

    [Fact]
    public async Task Two_jobs_for_one_delivery_at_once_on_two_instances_send_it_once()
    {
        await using var scenario = await EscalationScenario.StartAsync();
        var complaint = await scenario.SeedComplaintAsync();
        scenario.Time.Advance(TimeSpan.FromDays(12) + Minute);
        await scenario.Sweep.SweepAsync(CancellationToken.None);
        var webhook = (await scenario.EscalationsAsync(complaint.Id)).Single(e => e.Level == "buyer" && e.Channel == "webhook");
        var second = await scenario.AddAppAsync();

        // The buyer is slow: the first job's request is still open when the second job runs.
        scenario.HoldWebhooks = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var first = Task.Run(() => scenario.Delivery.DeliverAsync(webhook.Id, CancellationToken.None));
        await Eventually.TrueAsync(() => !scenario.Webhooks.IsEmpty, "the first job's webhook reached the buyer", TimeSpan.FromSeconds(15));
        await second.Services.GetRequiredService<EscalationDelivery>().DeliverAsync(webhook.Id, CancellationToken.None);
        scenario.HoldWebhooks.SetResult();
        await first;

        Assert.Single(scenario.Webhooks);
        Assert.Equal(("sent", 1), (await scenario.EscalationsAsync(complaint.Id)).Where(e => e.Id == webhook.Id).Select(e => (e.Status, e.Attempts)).Single());
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        Assert.Equal(1, await connection.ExecuteScalarAsync<int>(
            "SELECT count(*) FROM case_timeline WHERE kind = 'escalation.attempt' AND (details->>'escalation_id')::bigint = @Id", new { webhook.Id }));
    }

    [Fact]
    public async Task The_safety_net_enqueues_a_delivery_whose_job_was_lost_once_it_is_a_minute_overdue_and_not_before()
    {
        await using var scenario = await EscalationScenario.StartAsync();
        var complaint = await scenario.SeedComplaintAsync();
        scenario.Time.Advance(TimeSpan.FromDays(12) + Minute);
        await scenario.Sweep.SweepAsync(CancellationToken.None);
        var deliverable = (await scenario.EscalationsAsync(complaint.Id)).Where(e => e.Channel != "console").Select(e => e.Id).Order().ToList();
        Assert.NotEmpty(deliverable);
        // The sweep enqueued one job each once it had committed.
        var enqueued = DueDeliveries.Enqueued(scenario.App.Services);
        Assert.Equal(deliverable, enqueued.Select(job => job.EscalationId).Order());

        // Those jobs are lost (deleted from the dashboard, say).
        var jobs = scenario.App.Services.GetRequiredService<IBackgroundJobClient>();
        Assert.All(enqueued, job => Assert.True(jobs.Delete(job.JobId)));
        var delivery = scenario.Delivery;
        Assert.Equal(0, await delivery.EnqueueForgottenAsync(CancellationToken.None));
        scenario.Time.Advance(Minute);
        Assert.Equal(0, await delivery.EnqueueForgottenAsync(CancellationToken.None));

        // A second complaint turns zero tolerance and its instance dies between the commit and the enqueue.
        scenario.Time.Advance(TimeSpan.FromSeconds(1));
        var zero = await scenario.SeedComplaintAsync(severity: "zero_tolerance", zeroToleranceProvision: true, suffix: "2");
        await using (var connection = await scenario.DataSource.OpenConnectionAsync())
        await using (var transaction = await connection.BeginTransactionAsync())
        {
            Assert.NotEmpty(await scenario.Sweep.EscalateZeroToleranceAsync(connection, transaction, zero.Id, CancellationToken.None));
            await transaction.CommitAsync();
        }
        var fresh = (await scenario.EscalationsAsync(zero.Id)).Where(e => e.Channel != "console").Select(e => e.Id).ToList();

        // A minute and a second overdue: the first complaint's deliveries get a job again; the fresh ones not yet.
        Assert.Equal(deliverable.Count, await delivery.EnqueueForgottenAsync(CancellationToken.None));
        Assert.Equal(deliverable, DueDeliveries.Enqueued(scenario.App.Services).Select(job => job.EscalationId).Order());
        // A minute and a second later the fresh ones too (the first complaint's again: harmless duplicates).
        scenario.Time.Advance(Minute + TimeSpan.FromSeconds(1));
        Assert.Equal(deliverable.Count + fresh.Count, await delivery.EnqueueForgottenAsync(CancellationToken.None));
        Assert.Subset(DueDeliveries.Enqueued(scenario.App.Services).Select(job => job.EscalationId).ToHashSet(), fresh.ToHashSet());

        // Their jobs, duplicates included, deliver each once.
        foreach (var job in DueDeliveries.Enqueued(scenario.App.Services))
        {
            await scenario.Delivery.DeliverAsync(job.EscalationId, CancellationToken.None);
        }
        Assert.All(await scenario.EscalationsAsync(), e => Assert.Equal(("sent", 1), (e.Status, e.Channel == "console" ? 1 : e.Attempts)));
        Assert.Equal(scenario.Webhooks.Count, scenario.Webhooks.Select(h => h.DeliveryId).Distinct().Count());
        Assert.Equal(0, await delivery.EnqueueForgottenAsync(CancellationToken.None));
    }

    [Fact]
    public async Task A_sweep_whose_enqueue_fails_after_its_commit_still_succeeds_and_logs_it_and_the_safety_net_takes_the_deliveries()
    {
        await using var scenario = await EscalationScenario.StartAsync();
        var complaint = await scenario.SeedComplaintAsync();
        var broken = await scenario.AddAppAsync(services: services => services.AddSingleton<IBackgroundJobClient, UnreachableJobs>());
        scenario.Time.Advance(TimeSpan.FromDays(12) + Minute);

        Assert.True(await broken.Services.GetRequiredService<DeadlineSweep>().SweepAsync(CancellationToken.None) > 0);
        var deliverable = (await scenario.EscalationsAsync(complaint.Id)).Where(e => e.Channel != "console").ToList();
        Assert.NotEmpty(deliverable);
        Assert.All(deliverable, e => Assert.Equal("pending", e.Status));
        Assert.Empty(DueDeliveries.Enqueued(scenario.App.Services));
        var warning = Assert.Single(broken.Logs.Lines, line => line.Contains("[6002]", StringComparison.Ordinal));
        Assert.Contains($"Count={deliverable.Count} ", warning, StringComparison.Ordinal);

        scenario.Time.Advance(Minute + TimeSpan.FromSeconds(1));
        Assert.Equal(deliverable.Count, await scenario.Delivery.EnqueueForgottenAsync(CancellationToken.None));
        Assert.Equal(deliverable.Select(e => e.Id).Order(), DueDeliveries.Enqueued(scenario.App.Services).Select(job => job.EscalationId).Order());
    }

    [Fact]
    public async Task A_sweep_on_an_instance_with_a_hangfire_server_has_its_escalations_delivered_by_their_jobs_a_failure_retried()
    {
        // Clocks that ran out 20 days ago; the instance with the server runs on the real clock.
        await using var scenario = await EscalationScenario.StartAsync(start: DateTimeOffset.UtcNow - TimeSpan.FromDays(20));
        var complaint = await scenario.SeedComplaintAsync();
        scenario.WebhookAnswer = n => n == 1 ? HttpStatusCode.InternalServerError : HttpStatusCode.OK;
        var server = await scenario.AddAppAsync(settings =>
        {
            settings["Jobs:Enabled"] = "true";
            settings["Jobs:WorkerCount"] = "2";
            // The recurring sweep and safety net stay out of the way: this test sweeps, nobody delivers.
            settings["Jobs:SweepInterval"] = "01:00:00";
            settings["Jobs:DeliveryInterval"] = "01:00:00";
            settings["Escalation:DeliveryRetryBaseDelay"] = "00:00:01";
        }, fakeTime: false);

        Assert.True(await server.Services.GetRequiredService<DeadlineSweep>().SweepAsync(CancellationToken.None) > 0);
        var deliverable = (await scenario.EscalationsAsync(complaint.Id)).Where(e => e.Channel != "console").ToList();
        Assert.Contains(deliverable, e => e.Channel == "webhook");
        async Task<string> RowsAsync() => string.Join("; ", (await scenario.EscalationsAsync(complaint.Id))
            .Where(e => e.Channel != "console").Select(e => $"{e.Id} {e.Channel} {e.Status} after {e.Attempts}"));
        await Eventually.TrueAsync(async () => (await scenario.EscalationsAsync(complaint.Id)).All(e => e.Channel == "console" || e.Status == "sent"),
            async () => $"the deliveries' jobs sent every e-mail and webhook of the sweep: {await RowsAsync()}. " +
                $"Hangfire: {JobStates(server)}. The server's warnings and errors:\n{string.Join("\n", server.Logs.Lines.Where(line => line.StartsWith("Warning", StringComparison.Ordinal) || line.StartsWith("Error", StringComparison.Ordinal) || line.StartsWith("Critical", StringComparison.Ordinal)))}",
            TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(100));

        // The first webhook failed and its job's retry, a second later, sent it under the same delivery id.
        var webhooks = deliverable.Where(e => e.Channel == "webhook").Select(e => e.Id.ToString(CultureInfo.InvariantCulture)).ToList();
        var hooks = scenario.Webhooks.ToList();
        Assert.Equal(webhooks.Count + 1, hooks.Count);
        Assert.False(hooks[0].Accepted);
        Assert.Equal(webhooks.Order(), hooks.Where(h => h.Accepted).Select(h => h.DeliveryId!).Order());
        var retried = long.Parse(hooks[0].DeliveryId!, CultureInfo.InvariantCulture);
        Assert.Equal(2, (await scenario.EscalationsAsync(complaint.Id)).Single(e => e.Id == retried).Attempts);
        Assert.Equal(deliverable.Count(e => e.Channel == "email"), scenario.Smtp.Messages.Count);

        // Hangfire's record: one job per delivery, each succeeded; the retried one on its first retry; none failed.
        var storage = server.Services.GetRequiredService<JobStorage>();
        var succeeded = storage.GetMonitoringApi().SucceededJobs(0, 100)
            .Where(job => job.Value.Job is { } j && j.Type == typeof(EscalationDelivery))
            .ToDictionary(job => (long)job.Value.Job.Args[0], job => job.Key);
        Assert.Equal(deliverable.Select(e => e.Id).Order(), succeeded.Keys.Order());
        using (var connection = storage.GetConnection())
        {
            Assert.Equal("1", connection.GetJobParameter(succeeded[retried], "RetryCount"));
        }
        Assert.Equal(0, storage.GetMonitoringApi().FailedCount());
    }

    /// <summary>How many of Hangfire's jobs are in each state, for a failure's message.</summary>
    private static string JobStates(HotlineFactory app)
    {
        var monitoring = app.Services.GetRequiredService<JobStorage>().GetMonitoringApi();
        var stats = monitoring.GetStatistics();
        return $"{stats.Enqueued} enqueued, {stats.Scheduled} scheduled, {stats.Processing} processing, {stats.Succeeded} succeeded, {stats.Failed} failed, {stats.Servers} servers";
    }

    private static Task<(string Status, int Attempts, string? LastError, DateTime NextAttemptAt)> RowAsync(EscalationScenario scenario, long id) =>
        WithConnectionAsync(scenario, connection => connection.QuerySingleAsync<(string, int, string?, DateTime)>(
            "SELECT status, attempts, last_error, next_attempt_at FROM escalations WHERE id = @id", new { id }));

    private static async Task<T> WithConnectionAsync<T>(EscalationScenario scenario, Func<Npgsql.NpgsqlConnection, Task<T>> query)
    {
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        return await query(connection);
    }

    /// <summary>Hangfire's storage unreachable after the sweep's commit.</summary>
    private sealed class UnreachableJobs : IBackgroundJobClient
    {
        public string Create(Job job, Hangfire.States.IState state) => throw new InvalidOperationException("Hangfire's storage is unreachable");

        public bool ChangeState(string jobId, Hangfire.States.IState state, string expectedState) =>
            throw new InvalidOperationException("Hangfire's storage is unreachable");
    }
}
