using Dapper;
using Microsoft.Extensions.DependencyInjection;
using WsrHotline.Simulator;
using WsrHotline.Tests.Infrastructure;
using WsrHotline.Voice;

namespace WsrHotline.Tests.Voice;

/// <summary>
/// The call's conference and the presence that follows it: the conference status callbacks (signed
/// as Twilio signs them, posted to the app), an answer that comes after the caller hung up (defect 1),
/// a busy investigator who is offered no second call, and a wrap-up that runs out.
/// </summary>
public sealed class ConferenceTests
{
    private const string Worker = "+15555550170";

    /// <summary>A call with a complaint, answered by a new investigator who is on it, as a claim leaves them.</summary>
    private static async Task<(long CallId, long ComplaintId, int StaffId)> AnsweredCallAsync(VoiceScenario scenario)
    {
        var staffId = await scenario.OnCallAsync("es", 1, "+15555550471");
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        var complaintId = await connection.ExecuteScalarAsync<long>("""
            INSERT INTO complaints (case_number, pin_hash, channel, language_code) VALUES ('40000001', 'x', 'voice', 'es') RETURNING id
            """);
        var callId = await connection.ExecuteScalarAsync<long>("""
            INSERT INTO calls (call_sid, direction, status, status_rank, stage, language_code, complaint_id, answered_by, answered_at)
            VALUES ('CAworker0000000000000000000000001', 'inbound', 'in-progress', 4, 'conference', 'es', @complaintId, @staffId, now())
            RETURNING id
            """, new { complaintId, staffId });
        await connection.ExecuteAsync("""
            INSERT INTO staff_presence (staff_id, status, activity, activity_call_id) VALUES (@staffId, 'available', 'on_call', @callId)
            """, new { staffId, callId });
        return (callId, complaintId, staffId);
    }

    private static Task<HttpResponseMessage> ConferenceEventAsync(VoiceScenario scenario, long callId, string kind, string? callSid = null,
        string? label = null, params (string, string)[] more)
    {
        var fields = new List<(string, string)>
        {
            ("AccountSid", TestKeys.TwilioAccountSid), ("ConferenceSid", "CFconference000000000000000000001"),
            ("FriendlyName", $"call-{callId}"), ("StatusCallbackEvent", kind), ("Timestamp", DateTimeOffset.UtcNow.ToString("R")),
        };
        if (callSid is not null)
        {
            fields.Add(("CallSid", callSid));
        }
        if (label is not null)
        {
            fields.Add(("ParticipantLabel", label));
        }
        fields.AddRange(more);
        return scenario.SignedPostAsync($"/twilio/voice/conference-status?call={callId}", [.. fields]);
    }

    [Fact]
    public async Task Conference_status_callbacks_keep_the_participants_and_the_investigator_who_leaves_wraps_up()
    {
        await using var scenario = await VoiceScenario.StartAsync();
        var (callId, complaintId, staffId) = await AnsweredCallAsync(scenario);
        const string staffLeg = "CAstaff00000000000000000000000001";

        Assert.True((await ConferenceEventAsync(scenario, callId, "conference-start")).IsSuccessStatusCode);
        Assert.True((await ConferenceEventAsync(scenario, callId, "participant-join", staffLeg, $"staff-{staffId}", ("Muted", "false"), ("Hold", "false"))).IsSuccessStatusCode);
        Assert.True((await ConferenceEventAsync(scenario, callId, "participant-join", "CAworker0000000000000000000000001", "worker")).IsSuccessStatusCode);
        Assert.True((await ConferenceEventAsync(scenario, callId, "participant-hold", "CAworker0000000000000000000000001", "worker", ("Hold", "true"))).IsSuccessStatusCode);
        Assert.True((await ConferenceEventAsync(scenario, callId, "participant-mute", staffLeg, $"staff-{staffId}", ("Muted", "true"))).IsSuccessStatusCode);

        Assert.Equal("CFconference000000000000000000001", await scenario.ScalarAsync<string>("SELECT conference_sid FROM calls WHERE id = @callId", new { callId }));
        Assert.True(await scenario.ScalarAsync<bool>("SELECT held FROM call_participants WHERE role = 'worker'"));
        Assert.True(await scenario.ScalarAsync<bool>("SELECT muted FROM call_participants WHERE role = 'investigator' AND staff_id = @staffId", new { staffId }));
        Assert.Equal("on_call", await scenario.ScalarAsync<string>("SELECT activity FROM staff_presence WHERE staff_id = @staffId", new { staffId }));
        // The investigator's console hears of each change (labels and ids only).
        Assert.True(await scenario.ScalarAsync<int>(
            "SELECT count(*) FROM console_events WHERE kind = 'call.participants' AND audience = @audience", new { audience = $"staff:{staffId}" }) >= 4);

        // The investigator leaves; the worker is alone (the app asks Twilio to end the conference).
        Assert.True((await ConferenceEventAsync(scenario, callId, "participant-leave", staffLeg, $"staff-{staffId}")).IsSuccessStatusCode);

        Assert.Equal("wrap_up", await scenario.ScalarAsync<string>("SELECT activity FROM staff_presence WHERE staff_id = @staffId", new { staffId }));
        Assert.Equal(1, await scenario.ScalarAsync<int>(
            "SELECT count(*) FROM console_events WHERE kind = 'call.wrap_up' AND audience = @audience", new { audience = $"staff:{staffId}" }));
        Assert.True((await ConferenceEventAsync(scenario, callId, "conference-end")).IsSuccessStatusCode);
        Assert.Equal(0, await scenario.ScalarAsync<int>("SELECT count(*) FROM call_participants WHERE left_at IS NULL"));
        var timeline = await scenario.TimelineAsync(complaintId);
        Assert.Equal(["call.participant_joined", "call.participant_joined", "call.participant_left", "call.conference_ended"],
            timeline.Where(k => k.StartsWith("call.participant", StringComparison.Ordinal) || k == "call.conference_ended"));
        // A repeated callback changes nothing.
        Assert.True((await ConferenceEventAsync(scenario, callId, "participant-leave", staffLeg, $"staff-{staffId}")).IsSuccessStatusCode);
        Assert.Equal(timeline.Count, (await scenario.TimelineAsync(complaintId)).Count);
    }

    [Fact]
    public async Task An_unsigned_conference_callback_is_refused()
    {
        await using var scenario = await VoiceScenario.StartAsync();
        using var client = scenario.Hotline.CreateClient();
        using var response = await client.PostAsync(new Uri("/twilio/voice/conference-status?call=1", UriKind.Relative),
            new FormUrlEncodedContent([KeyValuePair.Create("StatusCallbackEvent", "conference-end")]));
        Assert.Equal(System.Net.HttpStatusCode.Forbidden, response.StatusCode);
    }

    [Fact]
    public async Task A_held_worker_hears_that_they_are_on_hold_in_their_language_and_a_waiting_one_the_route_hold_message_looping()
    {
        await using var scenario = await VoiceScenario.StartAsync();
        using var held = await scenario.SignedPostAsync("/twilio/voice/hold-music?lang=bn&held=1", ("CallSid", "CAworker0000000000000000000000001"));
        var twiml = await held.Content.ReadAsStringAsync();
        Assert.Contains(scenario.Text("bn", "on_hold"), twiml, StringComparison.Ordinal);
        Assert.DoesNotContain(scenario.Text("bn", "hold_message"), twiml, StringComparison.Ordinal);
        Assert.Contains("<Redirect>https://hotline.test/twilio/voice/hold-music?lang=bn&amp;held=1</Redirect>", twiml, StringComparison.Ordinal);

        using var waiting = await scenario.SignedPostAsync("/twilio/voice/hold-music?lang=ht", ("CallSid", "CAworker0000000000000000000000001"));
        twiml = await waiting.Content.ReadAsStringAsync();
        // Haitian Creole is played from audio (Twilio has no voice for it).
        Assert.Contains("/ivr-audio/ht/hold_message.wav", twiml, StringComparison.Ordinal);
        Assert.DoesNotContain("on_hold.wav", twiml, StringComparison.Ordinal);
        Assert.Contains("<Redirect>https://hotline.test/twilio/voice/hold-music?lang=ht</Redirect>", twiml, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_caller_who_hangs_up_before_the_accepted_leg_connects_is_not_recorded_as_contacted_and_is_owed_a_callback()
    {
        await using var scenario = await VoiceScenario.StartAsync();
        const string phone = "+15555550472";
        await scenario.OnCallAsync("es", 1, phone);
        var investigator = scenario.Simulator.Phone(phone);
        investigator.Behavior = PhoneBehavior.Manual;

        var call = await scenario.Simulator.CallAsync(from: Worker);
        await call.PressAsync("2");
        await call.PressAsync("1");
        await Eventually.TrueAsync(() => Task.FromResult(investigator.CurrentCall?.State == CallState.Ringing), "the tier-one phone rang");
        await investigator.AnswerAsync();
        // The screening asks for 1; meanwhile the worker gives up.
        await call.HangUpAsync();
        await investigator.PressAsync("1");

        Assert.Contains(scenario.Text("es", "screening_caller_left"), investigator.Heard);
        var complaint = await scenario.ScalarAsync<long>("SELECT complaint_id FROM calls WHERE call_sid = @Sid", new { call.Sid });
        var timeline = await scenario.TimelineAsync(complaint);
        Assert.DoesNotContain("call.answered", timeline);
        Assert.Equal(0, await scenario.ScalarAsync<int>(
            "SELECT count(*) FROM case_timeline WHERE complaint_id = @complaint AND kind = 'clock.met' AND details ->> 'kind' = 'first_contact'", new { complaint }));
        Assert.Null(await scenario.ScalarAsync<int?>("SELECT answered_by FROM calls WHERE call_sid = @Sid", new { call.Sid }));
        Assert.Equal("abandoned_ringing", await scenario.ScalarAsync<string>("SELECT reason FROM callback_tasks WHERE complaint_id = @complaint", new { complaint }));
        Assert.Contains("callback.owed", timeline);
    }

    [Fact]
    public async Task A_busy_investigator_is_offered_no_second_call_neither_in_the_console_nor_on_the_phone()
    {
        await using var scenario = await VoiceScenario.StartAsync();
        const string busyPhone = "+15555550473", freePhone = "+15555550474";
        var busy = await scenario.OnCallAsync("es", 1, busyPhone);
        var free = await scenario.OnCallAsync("es", 2, freePhone);
        scenario.Simulator.Phone(freePhone).Behavior = PhoneBehavior.Answer(pressDigits: "1", afterSeconds: 2);
        await using (var connection = await scenario.DataSource.OpenConnectionAsync())
        {
            // The busy one is in the console too, available by choice, but on another call.
            var other = await connection.ExecuteScalarAsync<long>(
                "INSERT INTO calls (call_sid, direction, status, status_rank, stage) VALUES ('CAother', 'inbound', 'in-progress', 4, 'conference') RETURNING id");
            await connection.ExecuteAsync("""
                INSERT INTO staff_presence (staff_id, status, activity, activity_call_id) VALUES (@busy, 'available', 'on_call', @other);
                INSERT INTO console_connections (connection_id, staff_id, instance_id) VALUES ('test-busy', @busy, 'test');
                """, new { busy, other });
        }

        var call = await scenario.Simulator.CallAsync(from: Worker);
        await call.PressAsync("2");
        await call.PressAsync("1");
        await call.WaitAsync(TimeSpan.FromSeconds(20));

        Assert.Equal(0, await scenario.ScalarAsync<int>("SELECT count(*) FROM console_events WHERE kind = 'call.offered'"));
        Assert.Empty(scenario.Simulator.Phone(busyPhone).Calls);
        Assert.Single(scenario.Simulator.Phone(freePhone).Calls);
        Assert.Equal(free, await scenario.ScalarAsync<int>("SELECT answered_by FROM calls WHERE call_sid = @Sid", new { call.Sid }));
        // Texts are not calls: the busy investigator still gets the language's messages (their groups are unchanged).
        Assert.Equal("on_call", await scenario.ScalarAsync<string>("SELECT activity FROM staff_presence WHERE staff_id = @busy", new { busy }));
    }

    [Fact]
    public async Task A_wrap_up_that_runs_out_makes_the_investigator_available_again_by_itself()
    {
        await using var scenario = await VoiceScenario.StartAsync(s => s["Voice:WrapUpMaximum"] = "00:00:00");
        var (callId, complaintId, staffId) = await AnsweredCallAsync(scenario);
        var presence = scenario.Hotline.Factory.Services.GetRequiredService<CallPresence>();

        await presence.CallEndedAsync(callId, null, CancellationToken.None);
        Assert.Equal("wrap_up", await scenario.ScalarAsync<string>("SELECT activity FROM staff_presence WHERE staff_id = @staffId", new { staffId }));
        // The job scheduled for the end of the wrap-up (Hangfire's scheduled set) is what frees them.
        Assert.Equal(1, await scenario.ScalarAsync<int>("SELECT count(*) FROM hangfire.job WHERE invocationdata::text LIKE '%EndWrapUpAsync%'"));
        Assert.True(await presence.EndWrapUpAsync(staffId, callId, CancellationToken.None));

        Assert.Equal("idle", await scenario.ScalarAsync<string>("SELECT activity FROM staff_presence WHERE staff_id = @staffId", new { staffId }));
        Assert.Contains("call.wrap_up_timed_out", await scenario.TimelineAsync(complaintId));
        Assert.False(await presence.EndWrapUpAsync(staffId, callId, CancellationToken.None));
    }

    [Fact]
    public async Task A_wrap_up_still_running_is_left_alone_by_its_job()
    {
        await using var scenario = await VoiceScenario.StartAsync();
        var (callId, _, staffId) = await AnsweredCallAsync(scenario);
        var presence = scenario.Hotline.Factory.Services.GetRequiredService<CallPresence>();

        await presence.CallEndedAsync(callId, staffId, CancellationToken.None);

        Assert.False(await presence.EndWrapUpAsync(staffId, callId, CancellationToken.None));
        Assert.Equal("wrap_up", await scenario.ScalarAsync<string>("SELECT activity FROM staff_presence WHERE staff_id = @staffId", new { staffId }));
    }

    [Fact]
    public async Task When_the_caller_hangs_up_while_ringing_every_console_that_showed_the_offer_is_told()
    {
        await using var scenario = await VoiceScenario.StartAsync(s => s["Voice:ConsoleOfferDuration"] = "00:01:00");
        await using (var connection = await scenario.DataSource.OpenConnectionAsync())
        {
            foreach (var name in new[] { "a", "b" })
            {
                var id = await scenario.OnCallAsync("es", 3, "+1555555048" + (name == "a" ? "1" : "2"));
                // Only the console can reach them: no shift of theirs rings a phone.
                await connection.ExecuteAsync("""
                    DELETE FROM oncall_shifts WHERE staff_id = @id;
                    INSERT INTO staff_presence (staff_id, status) VALUES (@id, 'available');
                    INSERT INTO console_connections (connection_id, staff_id, instance_id) VALUES ('test-' || @id, @id, 'test');
                    """, new { id });
            }
        }
        var call = await scenario.Simulator.CallAsync(from: Worker);
        await call.PressAsync("2");
        await call.PressAsync("1");
        Assert.Equal(2, await scenario.ScalarAsync<int>("SELECT count(*) FROM console_events WHERE kind = 'call.offered'"));

        await call.HangUpAsync();

        var callId = await scenario.ScalarAsync<long>("SELECT id FROM calls WHERE call_sid = @Sid", new { call.Sid });
        await Eventually.TrueAsync(async () => await scenario.ScalarAsync<int>(
            "SELECT count(*) FROM console_events WHERE kind = 'call.ended' AND audience = 'lang:es' AND (payload ->> 'callId')::bigint = @callId", new { callId }) == 1,
            "the end of the call was announced to the Spanish consoles");
    }

    [Fact]
    public async Task A_worker_left_alone_when_twilio_fails_to_end_the_conference_is_not_kept_there_a_job_ends_it()
    {
        await using var scenario = await VoiceScenario.StartAsync();
        const string investigatorPhone = "+15555550475";
        await scenario.OnCallAsync("es", 1, investigatorPhone);
        var investigator = scenario.Simulator.Phone(investigatorPhone);
        investigator.Behavior = PhoneBehavior.Answer(pressDigits: "1", afterSeconds: 2);
        var call = await scenario.Simulator.CallAsync(from: Worker);
        await call.PressAsync("2");
        await call.PressAsync("1");
        await call.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.True(VoiceScenario.TalkingWithInvestigator(call), string.Join("\n", call.Transcript));
        var conference = call.Conference!;

        // The investigator hangs up; Twilio fails the request that ends the conference left to the worker.
        scenario.Simulator.ConferenceUpdatesFailWith = 503;
        await investigator.HangUpAsync();
        await call.WaitAsync(TimeSpan.FromSeconds(3));
        Assert.Equal(CallState.InConference, call.State);
        await Eventually.TrueAsync(async () => await scenario.ScalarAsync<int>(
                "SELECT count(*)::int FROM hangfire.job WHERE invocationdata::text LIKE '%EndConferenceJobAsync%'") == 1,
            "no job was enqueued to end the conference again");

        // Twilio is back: the job ends it, and the worker hears their case number as after any conversation.
        scenario.Simulator.ConferenceUpdatesFailWith = null;
        await scenario.Hotline.Factory.Services.GetRequiredService<CallControls>().EndConferenceJobAsync(conference.Sid, CancellationToken.None);
        await call.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(CallState.Completed, call.State);
        var complaint = await scenario.ScalarAsync<long>("SELECT complaint_id FROM calls WHERE call_sid = @Sid", new { call.Sid });
        var caseNumber = await scenario.ScalarAsync<string>("SELECT case_number FROM complaints WHERE id = @complaint", new { complaint });
        Assert.Contains(scenario.Text("es", "case_number_readout", new Dictionary<string, string> { ["case_number"] = caseNumber }), call.Heard);
        // Ended already: the job run again (a retry) changes nothing.
        await scenario.Hotline.Factory.Services.GetRequiredService<CallControls>().EndConferenceJobAsync(conference.Sid, CancellationToken.None);
    }
}
