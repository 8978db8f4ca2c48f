using System.Net;
using System.Text.Json.Nodes;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using WsrHotline.Deadlines;
using WsrHotline.Escalation;
using WsrHotline.Tests.Infrastructure;

namespace WsrHotline.Tests.Escalation;

public sealed class EscalationLadderTests
{
    private static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);

    [Fact]
    public async Task The_ladder_warns_at_75_percent_alerts_coordinators_when_due_and_tells_the_buyer_after_the_grace()
    {
        await using var scenario = await EscalationScenario.StartAsync();
        var complaint = await scenario.SeedComplaintAsync();
        Assert.Equal(0, await scenario.Sweep.SweepAsync(CancellationToken.None));

        // 45 minutes of the hour to acknowledge: the Spanish investigators (nobody assigned) are warned.
        scenario.Time.Advance(TimeSpan.FromMinutes(45) + Minute);
        Assert.Equal(1, await scenario.Sweep.SweepAsync(CancellationToken.None));
        Assert.Equal(0, await scenario.Sweep.SweepAsync(CancellationToken.None));
        var warning = Assert.Single(await scenario.ConsoleEventsAsync());
        Assert.Equal(("clock.warning", "lang:es"), (warning.Kind, warning.Audience));
        Assert.Equal("acknowledged", (string?)JsonNode.Parse(warning.Payload)!["kind"]);

        // Due: the coordinators' dashboard and their e-mail.
        scenario.Time.Advance(TimeSpan.FromMinutes(15));
        Assert.Equal(2, await scenario.Sweep.SweepAsync(CancellationToken.None));
        var alert = (await scenario.ConsoleEventsAsync())[^1];
        Assert.Equal(("dashboard.changed", "role:coordinator"), (alert.Kind, alert.Audience));
        Assert.Contains("clock.breached", alert.Payload, StringComparison.Ordinal);
        Assert.Equal(1, await scenario.DeliverDueAsync());
        var mail = Assert.Single(scenario.Smtp.Messages);
        Assert.Contains($"<{EscalationScenario.CoordinatorEmail}>", mail.To);
        Assert.Contains($"WSR-{complaint.Id} breached its acknowledged clock", EscalationScenario.Readable(mail), StringComparison.Ordinal);

        // Acknowledging meets that clock; the resolution proposal (10 days) breaches later, and only after
        // the 2-day grace does it reach the buyer: one webhook and one e-mail.
        await MoveAsync(scenario, complaint.Id, "acknowledged");
        scenario.Time.Advance(TimeSpan.FromDays(10));
        await scenario.Sweep.SweepAsync(CancellationToken.None);
        Assert.DoesNotContain(await scenario.EscalationsAsync(complaint.Id), e => e.Level == "buyer");
        scenario.Time.Advance(TimeSpan.FromDays(2));
        await scenario.Sweep.SweepAsync(CancellationToken.None);
        var buyer = (await scenario.EscalationsAsync(complaint.Id)).Where(e => e.Level == "buyer").ToList();
        Assert.Equal(["email", "webhook"], buyer.Select(e => e.Channel).Order());
        Assert.All(buyer, e => Assert.Equal("pending", e.Status));

        await scenario.DeliverDueAsync();
        var hook = Assert.Single(scenario.Webhooks);
        Assert.True(BuyerSignatures.Verify(EscalationScenario.WebhookSecret, hook.Timestamp!, hook.Signature!, hook.Body,
            scenario.Time.GetUtcNow(), TimeSpan.FromMinutes(5)));
        var body = JsonNode.Parse(hook.Body)!;
        Assert.Equal("Sunny Acres Farm participating", (string?)body["supplier"]);
        Assert.Equal("resolution_proposed", (string?)body["clock"]);
        Assert.Equal(12, (int?)body["days_open"]);
        Assert.Equal("3.1", (string?)body["provisions"]![0]!["number"]);
        Assert.Equal(hook.DeliveryId, body["delivery_id"]!.ToString());
        Assert.Contains(scenario.Smtp.Messages, m => m.To.Contains($"<{EscalationScenario.BuyerEmail}>"));
        Assert.All(await scenario.EscalationsAsync(complaint.Id), e => Assert.Equal("sent", e.Status));

        var timeline = await scenario.TimelineKindsAsync(complaint.Id);
        Assert.Contains("clocks.opened", timeline);
        Assert.Contains("clock.met", timeline);
        Assert.Contains("escalation.recorded", timeline);
        Assert.Contains("escalation.attempt", timeline);
    }

    [Fact]
    public async Task A_webhook_that_fails_is_retried_with_backoff_under_the_same_delivery_id_and_one_that_keeps_failing_ends_dead()
    {
        await using var scenario = await EscalationScenario.StartAsync();
        var complaint = await scenario.SeedComplaintAsync();
        scenario.WebhookAnswer = n => n == 1 ? HttpStatusCode.InternalServerError : HttpStatusCode.OK;
        scenario.Time.Advance(TimeSpan.FromDays(12) + Minute);
        await scenario.Sweep.SweepAsync(CancellationToken.None);
        await scenario.DeliverDueAsync();
        var webhook = (await scenario.EscalationsAsync(complaint.Id)).Single(e => e.Level == "buyer" && e.Channel == "webhook");
        Assert.Equal(("failed", 1), (webhook.Status, webhook.Attempts));

        // Not before the backoff (1 minute), then once more.
        await scenario.DeliverDueAsync();
        Assert.Single(scenario.Webhooks);
        scenario.Time.Advance(Minute);
        await scenario.DeliverDueAsync();
        var hooks = scenario.Webhooks.ToList();
        Assert.Equal(2, hooks.Count);
        Assert.Equal(hooks[0].DeliveryId, hooks[1].DeliveryId);
        Assert.All(hooks, h => Assert.True(BuyerSignatures.Verify(EscalationScenario.WebhookSecret, h.Timestamp!, h.Signature!, h.Body,
            scenario.Time.GetUtcNow(), TimeSpan.FromMinutes(5))));
        // A tampered body or a replay from an hour ago fails verification.
        Assert.False(BuyerSignatures.Verify(EscalationScenario.WebhookSecret, hooks[1].Timestamp!, hooks[1].Signature!, hooks[1].Body.Replace("12", "13", StringComparison.Ordinal),
            scenario.Time.GetUtcNow(), TimeSpan.FromMinutes(5)));
        Assert.False(BuyerSignatures.Verify(EscalationScenario.WebhookSecret, hooks[1].Timestamp!, hooks[1].Signature!, hooks[1].Body,
            scenario.Time.GetUtcNow() + TimeSpan.FromHours(1), TimeSpan.FromMinutes(5)));
        Assert.Equal(("sent", 2), (await scenario.EscalationsAsync(complaint.Id)).Where(e => e.Id == webhook.Id).Select(e => (e.Status, e.Attempts)).Single());

        // Another complaint whose buyer endpoint never answers well: dead after 4 attempts, on the dashboard.
        scenario.WebhookAnswer = _ => HttpStatusCode.ServiceUnavailable;
        var second = await scenario.SeedComplaintAsync(suffix: "2");
        scenario.Time.Advance(TimeSpan.FromDays(12) + Minute);
        await scenario.Sweep.SweepAsync(CancellationToken.None);
        for (var i = 0; i < 6; i++)
        {
            await scenario.DeliverDueAsync();
            scenario.Time.Advance(TimeSpan.FromMinutes(10));
        }
        var dead = (await scenario.EscalationsAsync(second.Id)).Single(e => e.Level == "buyer" && e.Channel == "webhook");
        Assert.Equal(("dead", 4), (dead.Status, dead.Attempts));
        Assert.Contains(await scenario.ConsoleEventsAsync(), e => e.Audience == "role:coordinator"
            && (long?)JsonNode.Parse(e.Payload)!["escalation_id"] == dead.Id && (string?)JsonNode.Parse(e.Payload)!["status"] == "dead");
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        Assert.Equal(4, await connection.ExecuteScalarAsync<int>(
            "SELECT count(*) FROM case_timeline WHERE kind = 'escalation.attempt' AND (details->>'escalation_id')::bigint = @Id", new { dead.Id }));
    }

    [Fact]
    public async Task Nothing_about_the_worker_reaches_a_buyer_or_an_email_or_a_console_event()
    {
        await using var scenario = await EscalationScenario.StartAsync();
        var complaint = await scenario.SeedComplaintAsync(severity: "zero_tolerance", zeroToleranceProvision: true);
        await using (var connection = await scenario.DataSource.OpenConnectionAsync())
        await using (var transaction = await connection.BeginTransactionAsync())
        {
            await scenario.Sweep.EscalateZeroToleranceAsync(connection, transaction, complaint.Id, CancellationToken.None);
            await transaction.CommitAsync();
        }
        scenario.Time.Advance(TimeSpan.FromDays(20));
        await scenario.Sweep.SweepAsync(CancellationToken.None);
        await scenario.DeliverDueAsync();
        Assert.NotEmpty(scenario.Webhooks);
        Assert.Contains(scenario.Webhooks, h => (string?)JsonNode.Parse(h.Body)!["type"] == "zero_tolerance");

        await using var db = await scenario.DataSource.OpenConnectionAsync();
        var outgoing = scenario.Webhooks.Select(h => h.Body)
            .Concat(scenario.Smtp.Messages.Select(EscalationScenario.Readable))
            .Concat(await db.QueryAsync<string>("SELECT payload::text FROM escalations"))
            .Concat(await db.QueryAsync<string>("SELECT payload::text FROM console_events"))
            .ToList();
        Assert.True(outgoing.Count > 5);
        var secrets = new[]
        {
            complaint.WorkerNumber, complaint.WorkerNumber[1..], complaint.WorkerNumber[^7..], complaint.WorkerName, "Marisol",
            complaint.Words, "Ramiro", complaint.PrivateNote, "trailer 14", complaint.CaseNumber,
        };
        foreach (var text in outgoing)
        {
            foreach (var secret in secrets)
            {
                Assert.DoesNotContain(secret, text, StringComparison.OrdinalIgnoreCase);
            }
        }
        Assert.Contains(outgoing, text => text.Contains("unpaid waiting time", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_buyer_answers_through_the_signed_link_and_the_answer_is_on_the_timeline()
    {
        await using var scenario = await EscalationScenario.StartAsync();
        var complaint = await scenario.SeedComplaintAsync();
        scenario.Time.Advance(TimeSpan.FromDays(12) + Minute);
        await scenario.Sweep.SweepAsync(CancellationToken.None);
        await scenario.DeliverDueAsync();
        var answerUrl = new Uri((string)JsonNode.Parse(scenario.Webhooks.Single().Body)!["answer_url"]!);
        var path = answerUrl.PathAndQuery;
        using var client = scenario.App.CreateClient();

        var page = await client.GetAsync(new Uri(path, UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("Sunny Acres Farm participating", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var forged = path[..^3] + (path[^3..] == "AAA" ? "BBB" : "AAA");
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync(new Uri(forged, UriKind.Relative))).StatusCode);
        using var forgedPost = new FormUrlEncodedContent([KeyValuePair.Create("answer", "action_taken")]);
        Assert.Equal(HttpStatusCode.NotFound, (await client.PostAsync(new Uri(forged, UriKind.Relative), forgedPost)).StatusCode);

        using var form = new FormUrlEncodedContent([KeyValuePair.Create("answer", "action_taken"), KeyValuePair.Create("note", "Audit of the crew scheduled for Monday")]);
        var answered = await client.PostAsync(new Uri(path, UriKind.Relative), form);
        Assert.Equal(HttpStatusCode.OK, answered.StatusCode);
        Assert.Contains("action taken", await answered.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var id = long.Parse(answerUrl.Segments[^1], System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal("action_taken", (await scenario.EscalationsAsync(complaint.Id)).Single(e => e.Id == id).Status);
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        Assert.Equal("buyer", await connection.ExecuteScalarAsync<string>(
            "SELECT actor_kind FROM case_timeline WHERE complaint_id = @Id AND kind = 'escalation.answered'", new { complaint.Id }));
    }

    [Fact]
    public async Task Zero_tolerance_goes_to_the_buyers_at_once_and_once_and_outside_the_program_to_coordinators_only()
    {
        await using var scenario = await EscalationScenario.StartAsync();
        var zero = await scenario.SeedComplaintAsync(severity: "zero_tolerance", zeroToleranceProvision: true);
        var outside = await scenario.SeedComplaintAsync(supplierStatus: "outside_program", suffix: "2");
        await using (var connection = await scenario.DataSource.OpenConnectionAsync())
        {
            for (var i = 0; i < 2; i++)
            {
                await using var transaction = await connection.BeginTransactionAsync();
                await scenario.Sweep.EscalateZeroToleranceAsync(connection, transaction, zero.Id, CancellationToken.None);
                await transaction.CommitAsync();
            }
        }
        var toBuyers = (await scenario.EscalationsAsync(zero.Id)).Where(e => e.Level == "buyer").ToList();
        Assert.Equal(2, toBuyers.Count);

        scenario.Time.Advance(TimeSpan.FromDays(20));
        await scenario.Sweep.SweepAsync(CancellationToken.None);
        var outsideSteps = await scenario.EscalationsAsync(outside.Id);
        Assert.DoesNotContain(outsideSteps, e => e.Level == "buyer");
        // resolution_proposed and resolved: each to the coordinators' console and e-mail instead.
        Assert.Equal(4, outsideSteps.Count(e => e.Level == "no_buyer"));
    }

    private static async Task MoveAsync(EscalationScenario scenario, long complaintId, string status)
    {
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await connection.ExecuteAsync("UPDATE complaints SET status = @status WHERE id = @complaintId", new { status, complaintId }, transaction);
        await ComplaintClocks.OnStatusChangedAsync(connection, transaction, complaintId, status, scenario.Time.GetUtcNow(), null, CancellationToken.None);
        await transaction.CommitAsync();
    }

    internal static Task Move(EscalationScenario scenario, long complaintId, string status) => MoveAsync(scenario, complaintId, status);
}
