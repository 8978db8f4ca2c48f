using System.Diagnostics;
using System.Net;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using WsrHotline.Simulator;
using WsrHotline.Spool;
using WsrHotline.Tests.Infrastructure;
using WsrHotline.Twilio;
using WsrHotline.Voice;

namespace WsrHotline.Tests.Voice;

public sealed class VoiceOutageTests
{
    private const string Worker = "+15555550123";
    private const string EmergencyPhone = "+15555550117";

    [Fact]
    public async Task With_the_database_down_callers_ring_through_to_the_emergency_numbers_and_voicemails_are_stored_when_it_is_back()
    {
        var port = new NpgsqlConnectionStringBuilder(PostgresServer.AdminConnectionString).Port;
        await using var relay = new TcpRelay(port);
        relay.Start();
        var viaRelay = new NpgsqlConnectionStringBuilder(PostgresServer.ConnectionStringFor("{database}")) { Port = relay.Port, Timeout = 2 }.ConnectionString;
        await using var scenario = await VoiceScenario.StartAsync(connectionString: viaRelay);
        using (var client = scenario.Hotline.CreateClient())
        {
            Assert.Equal(HttpStatusCode.OK, (await Hosting.HealthTests.WaitForReadyAsync(client)).StatusCode);
        }

        relay.Stop();

        // The first answer comes at once, without the database.
        var stopwatch = Stopwatch.StartNew();
        var answered = await scenario.SignedPostAsync("/twilio/voice/incoming", ("CallSid", "CAoutage0001"), ("From", Worker), ("CallStatus", "ringing"));
        stopwatch.Stop();
        Assert.Equal(HttpStatusCode.OK, answered.StatusCode);
        Assert.Contains($"<Number url=\"https://hotline.test/twilio/voice/emergency/screen\">{EmergencyPhone}</Number>", await answered.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(1), $"answered in {stopwatch.Elapsed}");

        // A worker calls: every language greets them, the emergency on-call phone rings and takes it.
        scenario.Simulator.Phone(EmergencyPhone).Behavior = PhoneBehavior.Answer(pressDigits: "1", afterSeconds: 3);
        var first = await scenario.Simulator.CallAsync(from: Worker);
        await first.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Contains(scenario.Text("es", "emergency_greeting"), first.Heard);
        Assert.Contains(scenario.Text("bn", "emergency_greeting"), first.Heard);
        Assert.Equal(CallState.Bridged, first.State);
        await scenario.Simulator.Phone(EmergencyPhone).HangUpAsync();
        await first.WaitAsync(TimeSpan.FromSeconds(5));

        // Another worker calls; nobody answers: they leave a voicemail, which is kept.
        scenario.Simulator.Phone(EmergencyPhone).Behavior = PhoneBehavior.NoAnswer;
        var second = await scenario.Simulator.CallAsync(from: "+15555550199");
        for (var i = 0; i < 60 && second.State != CallState.Recording; i++)
        {
            await second.WaitAsync(TimeSpan.FromSeconds(2));
        }
        Assert.True(second.State == CallState.Recording, string.Join("\n", second.Transcript));
        await second.RecordAsync(TimeSpan.FromSeconds(30));
        await second.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(CallState.Completed, second.State);
        Assert.Empty(first.Errors.Concat(second.Errors));
        var spool = scenario.Hotline.Factory.Services.GetRequiredService<WebhookSpool>();
        Assert.NotEmpty(spool.Pending());
        Assert.All(spool.Pending(), file => Assert.DoesNotContain("5555550199", File.ReadAllText(file), StringComparison.Ordinal));

        // The database comes back: the replayer stores what was kept.
        relay.Start();
        await Eventually.TrueAsync(() => spool.Pending().Count == 0, () => $"the spool replayed once the database was back ({spool.Pending().Count} webhooks left)",
            TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(200));
        await using var connection = new NpgsqlConnection(viaRelay.Replace("{database}", scenario.DatabaseName, StringComparison.Ordinal));
        var voicemail = await connection.QuerySingleAsync<(long ComplaintId, string RecordingSid, string Reason)>("""
            SELECT c.complaint_id, c.recording_sid, t.reason FROM calls c JOIN callback_tasks t ON t.call_id = c.id WHERE c.call_sid = @Sid
            """, new { second.Sid });
        Assert.StartsWith("RE", voicemail.RecordingSid, StringComparison.Ordinal);
        Assert.Equal("voicemail", voicemail.Reason);
        Assert.Contains("voicemail.left", await scenario.TimelineAsync(voicemail.ComplaintId));
        // The call someone answered during the outage is not mistaken for an abandoned one.
        Assert.Equal(0, await connection.ExecuteScalarAsync<int>(
            "SELECT count(*) FROM callback_tasks t JOIN calls c ON c.id = t.call_id WHERE c.call_sid = @Sid", new { first.Sid }));
    }

    [Fact]
    public async Task Duplicate_and_out_of_order_status_callbacks_change_nothing()
    {
        await using var scenario = await VoiceScenario.StartAsync();
        await scenario.SignedPostAsync("/twilio/voice/incoming", ("CallSid", "CAdup0001"), ("From", Worker), ("CallStatus", "ringing"));

        foreach (var (status, duration) in new[] { ("completed", "95"), ("completed", "95"), ("in-progress", "3"), ("ringing", "") })
        {
            var response = await scenario.SignedPostAsync("/twilio/voice/status", ("CallSid", "CAdup0001"), ("From", Worker), ("CallStatus", status), ("CallDuration", duration));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        Assert.Equal(("completed", 95), await connection.QuerySingleAsync<(string, int)>("SELECT status, duration_seconds FROM calls WHERE call_sid = 'CAdup0001'"));
        Assert.Equal(1, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM callback_tasks"));
        Assert.Equal(1, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM calls"));
    }
}
