using Dapper;
using Microsoft.Extensions.DependencyInjection;
using WsrHotline.Escalation;

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

        var deliveries = new[] { scenario.Delivery, second.Services.GetRequiredService<EscalationDelivery>() };
        await Task.WhenAll(Enumerable.Range(0, 4).Select(i => Task.Run(() => deliveries[i % 2].DeliverDueAsync(CancellationToken.None))));
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

        await scenario.Delivery.DeliverDueAsync(CancellationToken.None);
        Assert.DoesNotContain(scenario.Webhooks, h => h.DeliveryId == webhook.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        scenario.Time.Advance(TimeSpan.FromMinutes(3));
        await scenario.Delivery.DeliverDueAsync(CancellationToken.None);
        await scenario.Delivery.DeliverDueAsync(CancellationToken.None);
        Assert.Single(scenario.Webhooks, h => h.DeliveryId == webhook.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(("sent", 2), (await scenario.EscalationsAsync(complaint.Id)).Where(e => e.Id == webhook.Id).Select(e => (e.Status, e.Attempts)).Single());
        // And a sweep after the restart records nothing again.
        Assert.Equal(0, await scenario.Sweep.SweepAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Two_quartz_schedulers_clustered_on_one_database_escalate_each_breach_once()
    {
        // Clocks that ran out 20 days ago; the two instances run on the real clock with their schedulers on.
        await using var scenario = await EscalationScenario.StartAsync(start: DateTimeOffset.UtcNow - TimeSpan.FromDays(20));
        var complaints = new List<SeededComplaint>();
        for (var i = 1; i <= 5; i++)
        {
            complaints.Add(await scenario.SeedComplaintAsync(suffix: i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }
        void Quartz(Dictionary<string, string?> settings)
        {
            settings["Jobs:Enabled"] = "true";
            settings["Jobs:SweepInterval"] = "00:00:00.500";
            settings["Jobs:DeliveryInterval"] = "00:00:00.500";
        }
        await scenario.AddAppAsync(Quartz, fakeTime: false);
        await scenario.AddAppAsync(Quartz, fakeTime: false);

        var expectedHooks = complaints.Count * 2;
        for (var waited = 0; waited < 60 && scenario.Webhooks.Count < expectedHooks; waited++)
        {
            await Task.Delay(500);
        }
        await Task.Delay(2000);
        var hooks = scenario.Webhooks.ToList();
        Assert.Equal(expectedHooks, hooks.Count);
        Assert.Equal(expectedHooks, hooks.Select(h => h.DeliveryId).Distinct().Count());
        var rows = await scenario.EscalationsAsync();
        Assert.Equal(complaints.Count * 14, rows.Count);
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        // Both nodes checked in to Quartz's own (provisioned) tables.
        Assert.True(await connection.ExecuteScalarAsync<int>("SELECT count(DISTINCT instance_name) FROM qrtz_scheduler_state") >= 2);
    }
}
