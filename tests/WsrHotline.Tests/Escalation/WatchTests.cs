using System.Text.Json.Nodes;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using WsrHotline.Escalation;
using WsrHotline.Ivr;
using WsrHotline.Pii;
using WsrHotline.Simulator;
using WsrHotline.Tests.Infrastructure;
using WsrHotline.Twilio;

namespace WsrHotline.Tests.Escalation;

public sealed class WatchTests
{
    [Fact]
    public async Task Hours_in_the_next_72_where_a_language_has_nobody_on_call_are_coverage_gaps_on_the_dashboard()
    {
        // On the hour, so the horizon is exactly 72 whole hours.
        var start = new DateTimeOffset(DateTime.UtcNow.Date.AddDays(1).AddHours(9), TimeSpan.Zero);
        await using var scenario = await EscalationScenario.StartAsync(start);
        var coverage = scenario.App.Services.GetRequiredService<CoverageCheck>();
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        var staff = await connection.ExecuteScalarAsync<int>(
            "INSERT INTO staff (email, display_name, role) VALUES ('ana@hotline.test', 'Ana', 'investigator') RETURNING id");
        // Spanish: covered throughout by two back-to-back shifts. English: all but 30 minutes on day two.
        await connection.ExecuteAsync("""
            INSERT INTO oncall_shifts (staff_id, language_code, tier, starts_at, ends_at, time_zone) VALUES
                (@staff, 'es', 1, @start - interval '2 hours', @start + interval '30 hours', 'America/New_York'),
                (@staff, 'es', 2, @start + interval '30 hours', @start + interval '80 hours', 'America/New_York'),
                (@staff, 'en', 1, @start, @start + interval '40 hours 15 minutes', 'America/New_York'),
                (@staff, 'en', 1, @start + interval '40 hours 45 minutes', @start + interval '72 hours', 'America/New_York')
            """, new { staff, start });

        // Haitian Creole and Bengali: every hour; English: the one hour with the hole.
        Assert.Equal((2 * 72) + 1, await coverage.RunAsync(CancellationToken.None));
        var gaps = (await connection.QueryAsync<(string Language, DateTime Hour)>("SELECT language_code, hour_start FROM coverage_gaps")).ToList();
        Assert.DoesNotContain(gaps, g => g.Language == "es");
        Assert.Equal(start.UtcDateTime.AddHours(40), Assert.Single(gaps, g => g.Language == "en").Hour);
        var changed = Assert.Single(await scenario.ConsoleEventsAsync());
        Assert.Equal(("dashboard.changed", "role:coordinator"), (changed.Kind, changed.Audience));
        Assert.Equal(145, (int?)JsonNode.Parse(changed.Payload)!["gaps"]);

        // Nothing changed: no new event. The hole filled: one event, one gap fewer.
        Assert.Equal(145, await coverage.RunAsync(CancellationToken.None));
        Assert.Single(await scenario.ConsoleEventsAsync());
        await connection.ExecuteAsync("""
            INSERT INTO oncall_shifts (staff_id, language_code, tier, starts_at, ends_at, time_zone)
            VALUES (@staff, 'en', 2, @start + interval '40 hours', @start + interval '41 hours', 'America/New_York')
            """, new { staff, start });
        Assert.Equal(144, await coverage.RunAsync(CancellationToken.None));
        Assert.Equal(2, (await scenario.ConsoleEventsAsync()).Count);
    }

    [Fact]
    public async Task A_worried_answer_to_the_retaliation_check_in_reopens_the_case_at_retaliation_priority()
    {
        await using var scenario = await EscalationScenario.StartAsync();
        const string worker = "+15555550177";
        await TextAsync(scenario, worker, "Hola, el mayordomo no nos paga las horas extras en la finca.", "SMw1");
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        var complaintId = await connection.ExecuteScalarAsync<long>("SELECT id FROM complaints");
        await EscalationLadderTests.Move(scenario, complaintId, "resolved");
        var watch = scenario.App.Services.GetRequiredService<RetaliationWatch>();

        scenario.Time.Advance(TimeSpan.FromDays(29));
        Assert.Equal(0, await watch.QueueDueAsync(CancellationToken.None));
        scenario.Time.Advance(TimeSpan.FromDays(1) + TimeSpan.FromMinutes(1));
        Assert.Equal(1, await watch.QueueDueAsync(CancellationToken.None));
        var pii = scenario.App.Services.GetRequiredService<PiiProtector>();
        var checkin = await connection.QuerySingleAsync<(string Status, string Body)>(
            "SELECT status, body_encrypted FROM messages WHERE purpose = 'retaliation_checkin'");
        var caseNumber = await connection.ExecuteScalarAsync<string>("SELECT case_number FROM complaints");
        var flow = scenario.App.Services.GetRequiredService<IvrFlowProvider>().Current;
        Assert.Equal("pending", checkin.Status);
        Assert.Equal(flow.RenderText("es", IvrPromptKeys.SmsRetaliationCheckin, new Dictionary<string, string> { [IvrPlaceholders.CaseNumber] = caseNumber! }),
            pii.Decrypt(checkin.Body, PiiPurpose.MessageBody));

        // "2": the resolved complaint is reopened, at retaliation severity, with its clocks running again.
        await TextAsync(scenario, worker, "2", "SMw2");
        var reopened = await connection.QuerySingleAsync<(string Status, string Severity, DateTime? ClosedAt)>(
            "SELECT status, severity, closed_at FROM complaints WHERE id = @complaintId", new { complaintId });
        Assert.Equal(("investigating", "retaliation", null), reopened);
        Assert.Equal(1, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM complaints"));
        var kinds = await scenario.TimelineKindsAsync(complaintId);
        Assert.Contains("retaliation.checkin_answered", kinds);
        Assert.Contains("complaint.reopened", kinds);
        var firstContact = await connection.ExecuteScalarAsync<DateTime>(
            "SELECT due_at FROM deadlines WHERE complaint_id = @complaintId AND kind = 'first_contact' AND met_at IS NULL", new { complaintId });
        Assert.Equal(scenario.Time.GetUtcNow().UtcDateTime.AddHours(4), firstContact, TimeSpan.FromSeconds(1));
        var reply = await connection.QuerySingleAsync<string>(
            "SELECT body_encrypted FROM messages WHERE purpose = 'checkin_answer'");
        Assert.Equal(flow.RenderText("es", IvrPromptKeys.SmsCheckinReopened), pii.Decrypt(reply, PiiPurpose.MessageBody));
        Assert.Contains(await scenario.ConsoleEventsAsync(), e => e.Kind == "complaint.changed" && e.Audience == "lang:es");
        // The 60- and 90-day check-ins of the reopened case are cancelled.
        Assert.Equal(0, await watch.QueueDueAsync(CancellationToken.None));
    }

    [Fact]
    public async Task An_all_well_answer_closes_the_check_in_and_an_opted_out_worker_is_not_texted()
    {
        await using var scenario = await EscalationScenario.StartAsync();
        await TextAsync(scenario, "+15555550178", "Hello, my boss does not pay overtime at the farm.", "SMx1");
        await TextAsync(scenario, "+15555550179", "Hello, the supervisor keeps shouting at the crew.", "SMy1");
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        var ids = (await connection.QueryAsync<long>("SELECT id FROM complaints ORDER BY id")).ToList();
        foreach (var id in ids)
        {
            await EscalationLadderTests.Move(scenario, id, "resolved");
        }
        await TextAsync(scenario, "+15555550179", "STOP", "SMy2");
        scenario.Time.Advance(TimeSpan.FromDays(30) + TimeSpan.FromMinutes(1));
        var watch = scenario.App.Services.GetRequiredService<RetaliationWatch>();
        Assert.Equal(2, await watch.QueueDueAsync(CancellationToken.None));
        Assert.Equal(["pending", "suppressed"], await connection.QueryAsync<string>(
            "SELECT status FROM messages WHERE purpose = 'retaliation_checkin' ORDER BY complaint_id"));

        await TextAsync(scenario, "+15555550178", "1", "SMx2");
        Assert.Equal(("resolved", "standard"), await connection.QuerySingleAsync<(string, string)>(
            "SELECT status, severity FROM complaints WHERE id = @id", new { id = ids[0] }));
        Assert.Equal("all_well", await connection.ExecuteScalarAsync<string>(
            "SELECT answer FROM retaliation_checkins WHERE complaint_id = @id AND answered_at IS NOT NULL", new { id = ids[0] }));
        Assert.Equal(2, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM complaints"));
    }

    private static async Task TextAsync(EscalationScenario scenario, string from, string body, string sid)
    {
        var form = new List<KeyValuePair<string, string>>
        {
            new("MessageSid", sid), new("From", from), new("To", "+18005550101"), new("Body", body), new("NumMedia", "0"),
        };
        using var client = scenario.App.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/twilio/messaging/incoming", UriKind.Relative)) { Content = new FormUrlEncodedContent(form) };
        request.Headers.Add(TwilioRequestSigner.SignatureHeader,
            TwilioRequestSigner.Sign(TestKeys.TwilioAuthToken, "https://hotline.test/twilio/messaging/incoming", form));
        var response = await client.SendAsync(request);
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        await InboxWait.ProcessedAsync(scenario.DataSource, sid);
    }
}
