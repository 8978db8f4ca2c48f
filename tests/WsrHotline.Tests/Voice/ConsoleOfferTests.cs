using Dapper;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using WsrHotline.Simulator;
using WsrHotline.Voice;

using WsrHotline.Tests.Infrastructure;

namespace WsrHotline.Tests.Voice;

/// <summary>
/// The console first (without a browser: presence and connections are written as a console writes
/// them, Accept is the hub's service): the phone choice, a browser that never answers, an offer that
/// runs out, and an investigator who does not speak the call's language.
/// </summary>
public sealed class ConsoleOfferTests
{
    private const string Worker = "+15555550190";

    private static async Task<int> InConsoleAsync(VoiceScenario scenario, string language, string answerMode, string? phone = null)
    {
        var id = await scenario.OnCallAsync(language, 3, phone ?? "+15555550999");
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        // Not on call now (tier 3 is never rung here): only the console can reach them.
        await connection.ExecuteAsync("""
            DELETE FROM oncall_shifts WHERE staff_id = @id;
            INSERT INTO staff_presence (staff_id, status, answer_mode) VALUES (@id, 'available', @answerMode);
            INSERT INTO console_connections (connection_id, staff_id, instance_id) VALUES ('test-' || @id, @id, 'test');
            """, new { id, answerMode });
        return id;
    }

    private static async Task<SimulatedCall> SpanishCallWaitingAsync(VoiceScenario scenario)
    {
        var call = await scenario.Simulator.CallAsync(from: Worker);
        await call.PressAsync("2");
        await call.PressAsync("1");
        return call;
    }

    private static Task<CallAcceptResult> AcceptAsync(VoiceScenario scenario, SimulatedCall call, int staffId) =>
        scenario.ScalarAsync<long>("SELECT id FROM calls WHERE call_sid = @Sid", new { call.Sid }).ContinueWith(id =>
            scenario.Hotline.Factory.Services.GetRequiredService<ConsoleOffers>()
                .AcceptAsync(id.Result, staffId, seesEverything: false, new DefaultHttpContext().Request, CancellationToken.None), TaskScheduler.Default).Unwrap();

    [Fact]
    public async Task An_investigator_who_answers_on_their_phone_is_rung_there_and_bridged_without_screening()
    {
        await using var scenario = await VoiceScenario.StartAsync();
        const string phone = "+15555550401";
        var staff = await InConsoleAsync(scenario, "es", "phone", phone);
        scenario.Simulator.Phone(phone).Behavior = PhoneBehavior.Answer(afterSeconds: 2);

        var call = await SpanishCallWaitingAsync(scenario);
        var accepted = await AcceptAsync(scenario, call, staff);
        await call.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.True(accepted.Accepted, accepted.Reason);
        Assert.True(VoiceScenario.TalkingWithInvestigator(call), string.Join("\n", call.Transcript));
        var investigator = scenario.Simulator.Phone(phone).Calls.Single();
        Assert.DoesNotContain(scenario.Text("es", "screening"), investigator.Heard);
        Assert.Equal(staff, await scenario.ScalarAsync<int>("SELECT answered_by FROM calls WHERE call_sid = @Sid", new { call.Sid }));
    }

    [Fact]
    public async Task When_the_accepted_browser_never_answers_the_call_goes_back_to_the_phone_tiers()
    {
        await using var scenario = await VoiceScenario.StartAsync();
        var staff = await InConsoleAsync(scenario, "es", "browser");
        scenario.Simulator.Phone("client:staff-" + staff).Behavior = PhoneBehavior.NoAnswer;
        const string tierOne = "+15555550402";
        var onCall = await scenario.OnCallAsync("es", 1, tierOne);
        scenario.Simulator.Phone(tierOne).Behavior = PhoneBehavior.Answer(pressDigits: "1", afterSeconds: 3);

        var call = await SpanishCallWaitingAsync(scenario);
        Assert.True((await AcceptAsync(scenario, call, staff)).Accepted);
        await call.WaitAsync(TimeSpan.FromSeconds(60));

        Assert.True(VoiceScenario.TalkingWithInvestigator(call), string.Join("\n", call.Transcript));
        Assert.Equal(onCall, await scenario.ScalarAsync<int>("SELECT answered_by FROM calls WHERE call_sid = @Sid", new { call.Sid }));
        var complaint = await scenario.ScalarAsync<long>("SELECT complaint_id FROM calls WHERE call_sid = @Sid", new { call.Sid });
        var timeline = await scenario.TimelineAsync(complaint);
        Assert.Contains("call.accepted_console", timeline);
        Assert.Contains("call.console_leg_failed", timeline);
        Assert.True(timeline.IndexOf("call.console_leg_failed") < timeline.IndexOf("call.rung"));
    }

    [Fact]
    public async Task When_nobody_accepts_in_time_the_consoles_are_told_and_the_phone_tiers_ring()
    {
        await using var scenario = await VoiceScenario.StartAsync(s => s["Voice:ConsoleOfferDuration"] = "00:00:01");
        await InConsoleAsync(scenario, "es", "browser");
        const string tierOne = "+15555550403";
        await scenario.OnCallAsync("es", 1, tierOne);
        scenario.Simulator.Phone(tierOne).Behavior = PhoneBehavior.Answer(pressDigits: "1", afterSeconds: 3);

        var call = await SpanishCallWaitingAsync(scenario);
        await scenario.ConsoleOfferRanOutAsync(call);
        await call.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.True(VoiceScenario.TalkingWithInvestigator(call), string.Join("\n", call.Transcript));
        Assert.Contains(scenario.Text("es", "hold_message"), call.Heard);
        var complaint = await scenario.ScalarAsync<long>("SELECT complaint_id FROM calls WHERE call_sid = @Sid", new { call.Sid });
        var timeline = await scenario.TimelineAsync(complaint);
        Assert.Equal(["call.offered_console", "call.console_missed", "call.rung"], timeline.Where(k => k is "call.offered_console" or "call.console_missed" or "call.rung"));
        Assert.Equal(1, await scenario.ScalarAsync<int>("SELECT count(*) FROM console_events WHERE kind = 'call.missed'"));
        // The call waited from its first wait request: the dashboard's queue view was told once, however often the wait URL was asked.
        Assert.Equal(1, await scenario.ScalarAsync<int>("""
            SELECT count(*) FROM console_events WHERE kind = 'dashboard.changed' AND audience = 'role:coordinator' AND payload ->> 'reason' = 'queue'
            """));
    }

    [Fact]
    public async Task An_investigator_who_does_not_speak_the_language_cannot_accept()
    {
        await using var scenario = await VoiceScenario.StartAsync();
        await InConsoleAsync(scenario, "es", "browser");
        var bengali = await InConsoleAsync(scenario, "bn", "browser");

        var call = await SpanishCallWaitingAsync(scenario);
        var refused = await AcceptAsync(scenario, call, bengali);

        Assert.False(refused.Accepted);
        Assert.Equal(0, await scenario.ScalarAsync<int>("SELECT count(*) FROM calls WHERE answered_by IS NOT NULL"));
        Assert.Equal(1, await scenario.ScalarAsync<int>("SELECT count(*) FROM console_events WHERE kind = 'call.offered'"));
    }
}
