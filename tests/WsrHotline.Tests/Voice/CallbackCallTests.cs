using System.Net;
using System.Text.Json;
using Dapper;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using WsrHotline.Spool;
using WsrHotline.Voice;
using WsrHotline.Simulator;
using WsrHotline.Tests.Infrastructure;

namespace WsrHotline.Tests.Voice;

/// <summary>
/// "Call back" through the console's API, with the simulator as Twilio: the hotline calls the
/// investigator, then the worker from its own number, into a conference of the attempt's own.
/// </summary>
public sealed class CallbackCallTests
{
    private const string Worker = "+15555550151";
    private const string TollFree = "+18005550100";

    private static async Task<(VoiceScenario Scenario, StaffSession Carlos, long TaskId, long Complaint)> VoicemailOwedAsync(
        string? staffPhone = null)
    {
        var scenario = await VoiceScenario.StartAsync();
        var carlos = await StaffSession.CreateStaffAsync(scenario.DataSource, "carlos@test.example", "investigator", languages: ["es"]);
        if (staffPhone is not null)
        {
            await scenario.ScalarAsync<int>("""
                UPDATE staff SET phone_e164 = @staffPhone WHERE id = @carlos;
                INSERT INTO staff_presence (staff_id, status, answer_mode) VALUES (@carlos, 'available', 'phone')
                ON CONFLICT (staff_id) DO UPDATE SET answer_mode = 'phone';
                SELECT 1
                """, new { carlos, staffPhone });
        }
        scenario.Simulator.Phone("client:staff-" + carlos).Behavior = PhoneBehavior.Answer(afterSeconds: 1);
        var call = await VoicemailCopyTests.LeaveVoicemailAsync(scenario, Worker, seconds: 2);
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        var (taskId, complaint) = await connection.QuerySingleAsync<(long, long)>(
            "SELECT t.id, t.complaint_id FROM callback_tasks t JOIN calls c ON c.id = t.call_id WHERE c.call_sid = @Sid", new { call.Sid });
        var session = await StaffSession.SignInAsync(scenario.Hotline.Factory, "carlos@test.example", baseAddress: new Uri(scenario.Hotline.BaseUrl));
        return (scenario, session, taskId, complaint);
    }

    [Fact]
    public async Task A_callback_that_reaches_the_worker_joins_them_with_the_investigator_and_meets_the_clock()
    {
        var (scenario, carlos, taskId, complaint) = await VoicemailOwedAsync();
        await using var _ = scenario;
        using var __ = carlos;
        var worker = scenario.Simulator.Phone(Worker);
        var before = worker.Calls.Count;
        worker.Behavior = PhoneBehavior.Answer(afterSeconds: 2);

        using (var started = await carlos.PostJsonAsync($"/console/api/callbacks/{taskId}/call"))
        {
            Assert.Equal(HttpStatusCode.OK, started.StatusCode);
        }
        using (var twice = await carlos.PostJsonAsync($"/console/api/callbacks/{taskId}/call"))
        {
            Assert.Equal(HttpStatusCode.Conflict, twice.StatusCode);
        }
        await scenario.Simulator.AdvanceAsync(TimeSpan.FromSeconds(20));

        var callback = worker.Calls.Skip(before).Single();
        // From the hotline's own number, never the investigator's.
        Assert.Equal(TollFree, callback.From);
        Assert.Contains(scenario.Text("es", "connecting"), callback.Heard);
        var staffLeg = scenario.Simulator.Phone("client:staff-" + carlos.StaffId).Calls.Single();
        Assert.Equal(TollFree, staffLeg.From);
        Assert.NotNull(callback.Conference);
        Assert.Equal(callback.Conference, staffLeg.Conference);
        Assert.StartsWith("callback-", callback.Conference!.FriendlyName, StringComparison.Ordinal);
        // They hear each other.
        await callback.SayAsync("Hola, soy yo.");
        await staffLeg.SayAsync("Gracias por esperar.");
        Assert.Contains(staffLeg.Heard, line => line.Contains("Hola, soy yo.", StringComparison.Ordinal));
        Assert.Contains(callback.Heard, line => line.Contains("Gracias por esperar.", StringComparison.Ordinal));

        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        var task = await connection.QuerySingleAsync<(DateTime? DoneAt, int DoneBy, string How)>(
            "SELECT done_at, done_by, closed_how FROM callback_tasks WHERE id = @taskId", new { taskId });
        Assert.NotNull(task.DoneAt);
        Assert.Equal((carlos.StaffId, "called_back"), (task.DoneBy, task.How));
        Assert.Equal("met", await connection.ExecuteScalarAsync<string>("SELECT met_reason FROM deadlines WHERE callback_task_id = @taskId", new { taskId }));
        Assert.Equal("met", await connection.ExecuteScalarAsync<string>(
            "SELECT met_reason FROM deadlines WHERE complaint_id = @complaint AND kind = 'first_contact'", new { complaint }));

        await worker.HangUpAsync();
        await scenario.Simulator.AdvanceAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(CallState.Completed, staffLeg.State);
        await Eventually.TrueAsync(async () => (await scenario.TimelineAsync(complaint)).Contains("callback.call_ended"),
            "the callback's end never reached the timeline", TimeSpan.FromSeconds(10));
        var timeline = await scenario.TimelineAsync(complaint);
        var first = timeline.IndexOf("callback.started");
        Assert.True(first >= 0);
        Assert.Equal(["callback.started", "callback.reached", "clock.met"], timeline.Skip(first).Take(3));
        Assert.Empty((await carlos.GetJsonAsync<JsonElement>("/console/api/callbacks")).GetProperty("callbacks").EnumerateArray());
        Assert.Empty(callback.Errors);
        Assert.Empty(staffLeg.Errors);
    }

    [Fact]
    public async Task An_unanswered_callback_stays_open_with_the_attempt_on_the_timeline_and_the_investigator_is_told()
    {
        const string staffPhone = "+15555550909";
        var (scenario, carlos, taskId, complaint) = await VoicemailOwedAsync(staffPhone);
        await using var _ = scenario;
        using var __ = carlos;
        var worker = scenario.Simulator.Phone(Worker);
        var before = worker.Calls.Count;
        worker.Behavior = PhoneBehavior.NoAnswer;
        scenario.Simulator.Phone(staffPhone).Behavior = PhoneBehavior.Answer(afterSeconds: 1);

        using (var started = await carlos.PostJsonAsync($"/console/api/callbacks/{taskId}/call"))
        {
            Assert.Equal(HttpStatusCode.OK, started.StatusCode);
        }
        await scenario.Simulator.AdvanceAsync(TimeSpan.FromSeconds(90));

        // The investigator answered on their phone (their answer mode); the worker's phone rang from the hotline's number.
        var staffLeg = scenario.Simulator.Phone(staffPhone).Calls.Single();
        Assert.Equal(TollFree, staffLeg.From);
        Assert.Equal(TollFree, worker.Calls.Skip(before).Single().From);
        await Eventually.TrueAsync(() => Task.FromResult(staffLeg.State == CallState.Completed),
            "the investigator's call was never ended after the worker did not answer", TimeSpan.FromSeconds(10));
        Assert.Contains(staffLeg.Heard, line => line.Contains("did not answer", StringComparison.Ordinal));

        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        Assert.Null(await connection.ExecuteScalarAsync<DateTime?>("SELECT done_at FROM callback_tasks WHERE id = @taskId", new { taskId }));
        Assert.Null(await connection.ExecuteScalarAsync<DateTime?>("SELECT met_at FROM deadlines WHERE callback_task_id = @taskId", new { taskId }));
        var attempt = await connection.QuerySingleAsync<(string Outcome, DateTime? EndedAt)>(
            "SELECT outcome, ended_at FROM callback_attempts WHERE callback_task_id = @taskId", new { taskId });
        Assert.Equal("no-answer", attempt.Outcome);
        Assert.NotNull(attempt.EndedAt);
        var timeline = await scenario.TimelineAsync(complaint);
        Assert.Contains("callback.started", timeline);
        Assert.Contains("callback.unanswered", timeline);
        Assert.DoesNotContain("callback.reached", timeline);

        // Still on the list, with the attempt; and it can be tried again.
        var item = Assert.Single((await carlos.GetJsonAsync<JsonElement>("/console/api/callbacks")).GetProperty("callbacks").EnumerateArray());
        Assert.Equal((1, "no-answer", false), (item.GetProperty("attempts").GetInt32(), item.GetProperty("lastOutcome").GetString(), item.GetProperty("calling").GetBoolean()));
        using var again = await carlos.PostJsonAsync($"/console/api/callbacks/{taskId}/call");
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
    }

    [Fact]
    public async Task A_callback_whose_last_status_callback_was_lost_is_settled_with_Twilio_and_its_investigator_is_free_again()
    {
        const string staffPhone = "+15555550909";
        var (scenario, carlos, taskId, complaint) = await VoicemailOwedAsync(staffPhone);
        await using var _ = scenario;
        using var __ = carlos;
        scenario.Simulator.Phone(Worker).Behavior = PhoneBehavior.NoAnswer;
        scenario.Simulator.Phone(staffPhone).Behavior = PhoneBehavior.Answer(afterSeconds: 1);
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        await connection.ExecuteAsync("""
            INSERT INTO oncall_shifts (staff_id, language_code, tier, starts_at, ends_at, time_zone)
            VALUES (@carlos, 'es', 1, now() - interval '1 hour', now() + interval '2 hours', 'America/New_York')
            """, new { carlos = carlos.StaffId });
        var legs = scenario.Hotline.Factory.Services.GetRequiredService<CallLegs>();
        async Task<bool> RungForCallsAsync() => (await legs.OnCallAsync("es", 1, DateTimeOffset.UtcNow, CancellationToken.None)).Any(s => s.StaffId == carlos.StaffId);
        Assert.True(await RungForCallsAsync());

        using (var started = await carlos.PostJsonAsync($"/console/api/callbacks/{taskId}/call"))
        {
            Assert.Equal(HttpStatusCode.OK, started.StatusCode);
        }
        // Calling a worker back, the investigator is not rung for calls.
        Assert.False(await RungForCallsAsync());
        await scenario.Simulator.AdvanceAsync(TimeSpan.FromSeconds(90));
        await Eventually.TrueAsync(async () => await connection.ExecuteScalarAsync<bool>(
                "SELECT ended_at IS NOT NULL FROM callback_attempts WHERE callback_task_id = @taskId", new { taskId }),
            "the unanswered attempt never ended", TimeSpan.FromSeconds(10));
        Assert.True(await RungForCallsAsync());

        // As if the last status callbacks had never reached the hotline: the attempt open, three minutes old.
        const string LoseTheEnd = "UPDATE callback_attempts SET ended_at = NULL, started_at = now() - interval '3 minutes' WHERE callback_task_id = @taskId";
        await connection.ExecuteAsync(LoseTheEnd, new { taskId });
        Assert.False(await RungForCallsAsync());

        // The safety net asks Twilio, which says both calls are over: the attempt ends, the investigator is free.
        await scenario.Hotline.Factory.Services.GetRequiredService<CallingBack>().SettleLostAttemptsAsync(CancellationToken.None);
        Assert.True(await connection.ExecuteScalarAsync<bool>(
            "SELECT ended_at IS NOT NULL FROM callback_attempts WHERE callback_task_id = @taskId", new { taskId }));
        Assert.True(await RungForCallsAsync());
        Assert.Equal(2, (await scenario.TimelineAsync(complaint)).Count(kind => kind is "callback.attempt_ended" or "callback.unanswered"));

        // Pressing Call back settles a lost attempt as well, instead of refusing for good.
        await connection.ExecuteAsync(LoseTheEnd, new { taskId });
        using var again = await carlos.PostJsonAsync($"/console/api/callbacks/{taskId}/call");
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal(2, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM callback_attempts WHERE callback_task_id = @taskId", new { taskId }));
    }

    [Fact]
    public async Task Every_status_callback_of_a_call_is_stored_from_the_spool_when_the_database_was_down()
    {
        await using var scenario = await VoiceScenario.StartAsync();
        var statusCallbacks = scenario.Hotline.Factory.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(e => e.RoutePattern.RawText is { } route && route.StartsWith("/twilio/voice/", StringComparison.Ordinal) && route.EndsWith("status", StringComparison.Ordinal))
            .ToArray();
        Assert.Contains(statusCallbacks, e => e.RoutePattern.RawText == "/twilio/voice/callback/worker-status");
        Assert.All(statusCallbacks, e => Assert.True(e.Metadata.GetMetadata<ReplayFromSpool>() is not null, $"{e.RoutePattern.RawText} is not replayed"));
    }
}
