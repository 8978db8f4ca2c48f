using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using WsrHotline.Reconciliation;
using WsrHotline.Simulator;
using WsrHotline.Tests.Infrastructure;
using WsrHotline.Tests.Voice;

namespace WsrHotline.Tests.Messaging;

/// <summary>
/// After an outage (and daily) the hotline lists Twilio's inbound texts and recordings for the window,
/// from the simulator's REST stand-in, and takes in every one it never stored: each once, through the
/// inbox a live webhook uses; a second run stores nothing.
/// </summary>
public sealed class ReconciliationTests
{
    private static Task<VoiceScenario> StartAsync() =>
        VoiceScenario.StartAsync(settings =>
        {
            // The tests run reconciliation themselves.
            settings["Reconciliation:AfterOutage"] = "false";
        });

    private static TwilioReconciliation Reconciliation(VoiceScenario scenario) =>
        scenario.Hotline.Factory.Services.GetRequiredService<TwilioReconciliation>();

    [Fact]
    public async Task One_run_takes_in_exactly_the_texts_that_never_reached_the_hotline_and_a_second_run_nothing()
    {
        await using var scenario = await StartAsync();
        var started = DateTimeOffset.UtcNow;
        var delivered = new List<string>();
        var lost = new List<string>();
        async Task TextAsync(string from, string body, bool webhookLost, string channel = TextChannels.Sms, string? to = null, IReadOnlyList<TextMedia>? media = null)
        {
            var sent = await scenario.Simulator.TextAsync(from, body, channel, to, media, webhookLost);
            (webhookLost ? lost : delivered).Add(sent.MessageSid);
        }

        await TextAsync("+15555550180", "Hola, en la finca no nos pagan las horas extra.", webhookLost: false);
        await TextAsync("+15555550180", "Somos doce trabajadores.", webhookLost: true);
        await TextAsync("+15555550181", "Hello, the supervisor took our passports.", webhookLost: true, to: "+18005550100");
        await TextAsync("+15555550182", "Bonjou, yo pa peye nou pou semèn pase a.", webhookLost: false, channel: TextChannels.WhatsApp);
        await TextAsync("+15555550183", "Hello, here is the photo of my pay slip, no overtime paid.", webhookLost: true, media: [TextMedia.Photo()]);
        await TextAsync("+8801712345672", "আমাদের কারখানায় বেতন দেওয়া হয়নি।", webhookLost: true, channel: TextChannels.WhatsApp);
        await TextAsync("+15555550184", "Hello, my boss shouts at us every day at the farm.", webhookLost: false);
        await InboxWait.DrainedAsync(scenario.DataSource);
        Assert.Equal(3, await InboundCountAsync(scenario));

        var first = await Reconciliation(scenario).RunAsync("manual", started.AddMinutes(-5), DateTimeOffset.UtcNow.AddMinutes(1), CancellationToken.None);
        await InboxWait.DrainedAsync(scenario.DataSource);

        Assert.Equal((7, 4), (first.MessagesListed, first.MessagesTakenIn));
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        var stored = (await connection.QueryAsync<string>("SELECT message_sid FROM messages WHERE direction = 'inbound' ORDER BY message_sid")).ToList();
        Assert.Equal([.. delivered.Concat(lost).Order(StringComparer.Ordinal)], stored);
        // Taken in like a live text: the second text joins the first one's case, the others open theirs,
        // the attachment waits for the fetcher, and the worker on the toll-free number is answered from it.
        var complaints = (await connection.QueryAsync<(string Sid, long? ComplaintId)>(
            "SELECT message_sid, complaint_id FROM messages WHERE message_sid = ANY(@sids)", new { sids = lost.Append(delivered[0]).ToArray() }))
            .ToDictionary(row => row.Sid, row => row.ComplaintId);
        Assert.All(lost, sid => Assert.NotNull(complaints[sid]));
        Assert.Equal(complaints[delivered[0]], complaints[lost[0]]);
        Assert.Equal(1, await connection.ExecuteScalarAsync<int>("SELECT count(*)::int FROM message_media WHERE status = 'pending'"));
        Assert.Equal("+18005550100", await connection.ExecuteScalarAsync<string>("""
            SELECT c.hotline_number FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE m.message_sid = @sid
            """, new { sid = lost[1] }));
        // The worker whose text was lost still gets their case number and PIN.
        Assert.Equal(1, await connection.ExecuteScalarAsync<int>("""
            SELECT count(*)::int FROM messages o JOIN messages i ON i.conversation_id = o.conversation_id
            WHERE i.message_sid = @sid AND o.direction = 'outbound' AND o.purpose = 'case_opened'
            """, new { sid = lost[1] }));

        var second = await Reconciliation(scenario).RunAsync("manual", started.AddMinutes(-5), DateTimeOffset.UtcNow.AddMinutes(1), CancellationToken.None);
        await InboxWait.DrainedAsync(scenario.DataSource);
        Assert.Equal((7, 0), (second.MessagesListed, second.MessagesTakenIn));
        Assert.Equal(7, await InboundCountAsync(scenario));
        Assert.Equal([(7, 4), (7, 0)], await connection.QueryAsync<(int, int)>(
            "SELECT messages_listed, messages_taken_in FROM twilio_reconciliations WHERE finished_at IS NOT NULL AND error IS NULL ORDER BY id"));

        // Logged with sids only.
        var logs = scenario.Hotline.Factory.Logs.All;
        Assert.Contains("[4103]", logs, StringComparison.Ordinal);
        Assert.DoesNotContain("passports", logs, StringComparison.Ordinal);
        Assert.DoesNotContain("5555550181", logs, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_recording_that_never_reached_the_hotline_becomes_the_calls_voicemail_or_is_flagged_when_the_call_is_unknown()
    {
        await using var scenario = await StartAsync();
        var started = DateTimeOffset.UtcNow;
        var call = await scenario.Simulator.CallAsync(from: "+15555550185");
        await call.HangUpAsync();
        var knownCallRecording = scenario.Simulator.AddLostRecording(call.Sid, 42);
        var unknownCallRecording = scenario.Simulator.AddLostRecording("CA" + new string('7', 32), 15);

        var first = await Reconciliation(scenario).RunAsync("manual", started.AddMinutes(-5), DateTimeOffset.UtcNow.AddMinutes(1), CancellationToken.None);

        Assert.Equal((2, 1, 1), (first.RecordingsListed, first.RecordingsTakenIn, first.RecordingsFlagged));
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        var complaintId = await connection.ExecuteScalarAsync<long?>(
            "SELECT complaint_id FROM calls WHERE call_sid = @sid AND recording_sid = @recording", new { sid = call.Sid, recording = knownCallRecording });
        Assert.NotNull(complaintId);
        Assert.Contains("voicemail.recording_stored", await scenario.TimelineAsync(complaintId.Value));
        Assert.Equal((unknownCallRecording, false), await connection.QuerySingleAsync<(string, bool)>(
            "SELECT recording_sid, call_known FROM unmatched_recordings"));

        // What an admin sees on GET /dashboard/api/reconciliation.
        var report = await scenario.Hotline.Factory.Services.GetRequiredService<WsrHotline.Dashboard.DashboardQueries>().ReconciliationAsync(CancellationToken.None);
        Assert.Equal(1, report.UnmatchedTotal);
        Assert.Equal((unknownCallRecording, false), (report.Unmatched[0].RecordingSid, report.Unmatched[0].CallKnown));
        Assert.Equal((2, 1, 1), (report.Runs[0].RecordingsListed, report.Runs[0].RecordingsTakenIn, report.Runs[0].RecordingsFlagged));

        var second = await Reconciliation(scenario).RunAsync("manual", started.AddMinutes(-5), DateTimeOffset.UtcNow.AddMinutes(1), CancellationToken.None);
        Assert.Equal((2, 0, 0), (second.RecordingsListed, second.RecordingsTakenIn, second.RecordingsFlagged));
        Assert.Equal(1, await connection.ExecuteScalarAsync<int>("SELECT count(*)::int FROM unmatched_recordings"));
    }

    [Fact]
    public async Task Texts_twilio_could_not_deliver_during_a_database_outage_are_taken_in_once_the_database_is_back()
    {
        var port = new NpgsqlConnectionStringBuilder(PostgresServer.AdminConnectionString).Port;
        await using var relay = new TcpRelay(port);
        relay.Start();
        var viaRelay = new NpgsqlConnectionStringBuilder(PostgresServer.ConnectionStringFor("{database}")) { Port = relay.Port, Timeout = 2 }.ConnectionString;
        await using var scenario = await VoiceScenario.StartAsync(settings =>
        {
            settings["Reconciliation:OutageProbeInterval"] = "00:00:00.200";
        }, viaRelay);
        using (var client = scenario.Hotline.CreateClient())
        {
            Assert.Equal(System.Net.HttpStatusCode.OK, (await Hosting.HealthTests.WaitForReadyAsync(client)).StatusCode);
        }

        relay.Stop();
        var sids = new List<string>();
        foreach (var (worker, body) in new[] { ("+15555550186", "Hola, no nos pagan en la finca."), ("+15555550187", "Hello, they took our passports.") })
        {
            // Twilio posts the webhook; whatever the hotline answers while its database is down, the text is in Twilio's list.
            sids.Add((await scenario.Simulator.TextAsync(worker, body)).MessageSid);
        }
        relay.Start();

        await using var connection = new NpgsqlConnection(viaRelay.Replace("{database}", scenario.DatabaseName, StringComparison.Ordinal));
        await Eventually.TrueAsync(async () => await StoredAsync() >= sids.Count,
            async () => $"{await StoredAsync()} of the {sids.Count} texts sent during the outage stored after the database came back\n{scenario.Hotline.Factory.Logs.All}",
            TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(200));
        Assert.Equal(sids.Count, await StoredAsync());
        await InboxWait.DrainedAsync(scenario.DataSource);
        Assert.Equal(sids.Order(StringComparer.Ordinal), await connection.QueryAsync<string>(
            "SELECT message_sid FROM messages WHERE direction = 'inbound' ORDER BY message_sid"));
        Assert.True(await connection.ExecuteScalarAsync<bool>("SELECT EXISTS (SELECT 1 FROM twilio_reconciliations WHERE reason = 'outage' AND error IS NULL)"));

        async Task<int> StoredAsync()
        {
            try
            {
                return await connection.ExecuteScalarAsync<int>(
                    "SELECT (SELECT count(*) FROM messages WHERE message_sid = ANY(@sids)) + (SELECT count(*) FROM inbound_inbox WHERE message_sid = ANY(@sids))",
                    new { sids = sids.ToArray() });
            }
            catch (NpgsqlException)
            {
                await connection.CloseAsync();
                return 0;
            }
        }
    }

    private static async Task<int> InboundCountAsync(VoiceScenario scenario)
    {
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        return await connection.ExecuteScalarAsync<int>("SELECT count(*)::int FROM messages WHERE direction = 'inbound'");
    }
}
