using Dapper;
using Microsoft.Extensions.DependencyInjection;
using WsrHotline.Escalation;
using WsrHotline.Jobs;
using WsrHotline.Tests.Infrastructure;

namespace WsrHotline.Tests.Escalation;

public sealed class ExactlyOnceTests
{
    [Fact]
    public async Task Two_instances_sweeping_and_delivering_at_once_record_and_send_each_escalation_once()
    {
        await using var scenario = await EscalationScenario.StartAsync();
        var second = await scenario.AddAppAsync();
        var complaints = new List<SeededComplaint>();
        for (var i = 1; i <= 12; i++)
        {
            complaints.Add(await scenario.SeedComplaintAsync(suffix: i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }
        scenario.Time.Advance(TimeSpan.FromDays(20));
        var sweeps = new[] { scenario.Sweep, second.Services.GetRequiredService<DeadlineSweep>() };
        var recorded = await Task.WhenAll(Enumerable.Range(0, 6).Select(i => Task.Run(() => sweeps[i % 2].SweepAsync(CancellationToken.None))));

        var rows = await scenario.EscalationsAsync();
        Assert.Equal(rows.Count, recorded.Sum());
        // Per complaint: five clocks alerted (console + e-mail), two of them to the buyer (webhook + e-mail).
        Assert.Equal(12 * ((5 * 2) + (2 * 2)), rows.Count);
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        Assert.Equal(rows.Count(r => r.Channel == "console"), await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM console_events"));
        // One timeline entry per step (a clock's alert, or its buyer step), listing its escalations.
        Assert.Equal(12 * 7, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM case_timeline WHERE kind = 'escalation.recorded'"));

        // Four workers on two instances each run the jobs of every delivery due: each job's claim lets one through.
        var instances = new[] { scenario.App.Services, second.Services };
        await Task.WhenAll(Enumerable.Range(0, 4).Select(i => Task.Run(() => DueDeliveries.DeliverDueAsync(instances[i % 2]))));
        var hooks = scenario.Webhooks.ToList();
        Assert.Equal(24, hooks.Count);
        Assert.Equal(24, hooks.Select(h => h.DeliveryId).Distinct().Count());
        Assert.Equal(rows.Count(r => r.Channel == "email"), scenario.Smtp.Messages.Count);
        Assert.All(await scenario.EscalationsAsync(), e => Assert.Equal(("sent", 1), (e.Status, e.Channel == "console" ? 1 : e.Attempts)));
    }

    [Fact]
    public async Task After_a_crash_between_recording_and_delivering_each_escalation_is_delivered_once_by_the_next_instance()
    {
        await using var scenario = await EscalationScenario.StartAsync();
        var complaint = await scenario.SeedComplaintAsync();
        scenario.Time.Advance(TimeSpan.FromDays(12) + TimeSpan.FromMinutes(1));
        await scenario.Sweep.SweepAsync(CancellationToken.None);
        var webhook = (await scenario.EscalationsAsync(complaint.Id)).Single(e => e.Level == "buyer" && e.Channel == "webhook");
        Assert.Equal("pending", webhook.Status);

        // A deliverer claimed it and died before sending (its claim holds until the lease ends).
        await using (var connection = await scenario.DataSource.OpenConnectionAsync())
        {
            await connection.ExecuteAsync("UPDATE escalations SET attempts = 1, next_attempt_at = @lease WHERE id = @Id",
                new { lease = scenario.Time.GetUtcNow() + TimeSpan.FromMinutes(2), webhook.Id });
        }
        // The instance that recorded it is gone; a new one starts.
        await scenario.Apps[0].DisposeAsync();
        scenario.Apps.RemoveAt(0);
        await scenario.AddAppAsync();

        // Hangfire runs the dead instance's job again: the claim still holds, nothing is sent.
        await scenario.Delivery.DeliverAsync(webhook.Id, CancellationToken.None);
        await scenario.DeliverDueAsync();
        Assert.DoesNotContain(scenario.Webhooks, h => h.DeliveryId == webhook.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        scenario.Time.Advance(TimeSpan.FromMinutes(3));
        await scenario.DeliverDueAsync();
        await scenario.DeliverDueAsync();
        Assert.Single(scenario.Webhooks, h => h.DeliveryId == webhook.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(("sent", 2), (await scenario.EscalationsAsync(complaint.Id)).Where(e => e.Id == webhook.Id).Select(e => (e.Status, e.Attempts)).Single());
        // And a sweep after the restart records nothing again.
        Assert.Equal(0, await scenario.Sweep.SweepAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Two_hangfire_servers_on_one_database_run_each_occurrence_once_and_escalate_each_breach_once()
    {
        // Clocks that ran out 20 days ago; the two instances run on the real clock with their servers on.
        await using var scenario = await EscalationScenario.StartAsync(start: DateTimeOffset.UtcNow - TimeSpan.FromDays(20));
        var complaints = new List<SeededComplaint>();
        for (var i = 1; i <= 5; i++)
        {
            complaints.Add(await scenario.SeedComplaintAsync(suffix: i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }
        void Jobs(Dictionary<string, string?> settings)
        {
            settings["Jobs:Enabled"] = "true";
            settings["Jobs:WorkerCount"] = "2";
            settings["Jobs:SweepInterval"] = "00:00:01";
            settings["Jobs:DeliveryInterval"] = "00:00:01";
        }
        await scenario.AddAppAsync(Jobs, fakeTime: false);
        await scenario.AddAppAsync(Jobs, fakeTime: false);
        await using var connection = await scenario.DataSource.OpenConnectionAsync();

        var expectedHooks = complaints.Count * 2;
        await Eventually.TrueAsync(() => scenario.Webhooks.Count >= expectedHooks,
            () => $"the buyers got their {expectedHooks} webhooks (got {scenario.Webhooks.Count})", TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(100));
        // Three more occurrences of the sweep and of the delivery after that: a breach recorded or
        // sent twice would be by now.
        var sweeps = await SucceededAsync(connection, RecurringJobs.DeadlineSweepId);
        var deliveries = await SucceededAsync(connection, RecurringJobs.EscalationDeliveryId);
        await Eventually.TrueAsync(async () => await SucceededAsync(connection, RecurringJobs.DeadlineSweepId) >= sweeps + 3
                                           && await SucceededAsync(connection, RecurringJobs.EscalationDeliveryId) >= deliveries + 3,
            "three more sweeps and deliveries ran", TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(100));

        var hooks = scenario.Webhooks.ToList();
        Assert.Equal(expectedHooks, hooks.Count);
        Assert.Equal(expectedHooks, hooks.Select(h => h.DeliveryId).Distinct().Count());
        Assert.Equal(complaints.Count * 14, (await scenario.EscalationsAsync()).Count);

        // Hangfire's own record: both servers took part, every occurrence of a recurring job (its
        // scheduled time) was enqueued once and performed once, and none failed.
        Assert.Equal(2, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM hangfire.server"));
        foreach (var id in new[] { RecurringJobs.DeadlineSweepId, RecurringJobs.EscalationDeliveryId })
        {
            var occurrences = (await connection.QueryAsync<(long JobId, string Time, int Performed)>("""
                SELECT j.id, t.value, (SELECT count(*)::int FROM hangfire.state s WHERE s.jobid = j.id AND s.name = 'Processing')
                FROM hangfire.job j
                JOIN hangfire.jobparameter r ON r.jobid = j.id AND r.name = 'RecurringJobId'
                JOIN hangfire.jobparameter t ON t.jobid = j.id AND t.name = 'Time'
                WHERE r.value = @recurring AND j.statename = 'Succeeded'
                """, new { recurring = System.Text.Json.JsonSerializer.Serialize(id) })).ToList();
            Assert.True(occurrences.Count >= 3, $"{id}: only {occurrences.Count} occurrences recorded");
            Assert.Equal(occurrences.Count, occurrences.Select(o => o.Time).Distinct().Count());
            Assert.All(occurrences, o => Assert.Equal(1, o.Performed));
        }
        var failed = (await connection.QueryAsync<string>("""
            SELECT coalesce(s.reason, '') || ' ' || coalesce(s.data::text, '') FROM hangfire.job j JOIN hangfire.state s ON s.id = j.stateid WHERE j.statename = 'Failed'
            """)).ToList();
        Assert.True(failed.Count == 0, "failed jobs: " + string.Join("\n", failed));
    }

    /// <summary>How many occurrences of the recurring job have succeeded so far (on any instance).</summary>
    private static Task<int> SucceededAsync(Npgsql.NpgsqlConnection connection, string recurringJobId) =>
        connection.ExecuteScalarAsync<int>("""
            SELECT count(*) FROM hangfire.job j
            JOIN hangfire.jobparameter r ON r.jobid = j.id AND r.name = 'RecurringJobId'
            WHERE r.value = @recurring AND j.statename = 'Succeeded'
            """, new { recurring = System.Text.Json.JsonSerializer.Serialize(recurringJobId) });
}
