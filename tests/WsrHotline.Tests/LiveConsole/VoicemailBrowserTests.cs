using Dapper;
using Microsoft.Playwright;
using WsrHotline.Simulator;
using WsrHotline.Tests.Infrastructure;
using WsrHotline.Tests.Voice;

namespace WsrHotline.Tests.LiveConsole;

/// <summary>
/// Voicemails and callbacks in Debian's Chromium, against the real app with the simulator standing in
/// for Twilio: what the investigator sees and does, what the worker's phone heard, what the timeline holds.
/// </summary>
public sealed class VoicemailBrowserTests(ConsoleBrowser browser) : IClassFixture<ConsoleBrowser>
{
    private const string Password = "correct horse battery";
    private const string Worker = "+15555550161";
    private const string TollFree = "+18005550100";

    private static async Task<List<(string Kind, int? StaffId)>> TimelineAsync(VoiceScenario scenario, long complaint)
    {
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        return [.. await connection.QueryAsync<(string, int?)>(
            "SELECT kind, actor_staff_id FROM case_timeline WHERE complaint_id = @complaint ORDER BY id", new { complaint })];
    }

    [Fact]
    public async Task A_voicemail_is_played_back_in_the_console_and_the_play_is_on_the_timeline()
    {
        await using var scenario = await VoiceScenario.StartAsync();
        var carlos = await ConsoleBrowser.CreateStaffAsync(scenario.DataSource, "carlos@test.example", "investigator", Password, "es");
        var page = await browser.OpenConsoleAsync(scenario.Hotline.BaseUrl, "carlos@test.example", Password);

        var call = await VoicemailCopyTests.LeaveVoicemailAsync(scenario, Worker, seconds: 4);
        var complaint = await scenario.ScalarAsync<long>("SELECT complaint_id FROM calls WHERE call_sid = @Sid", new { call.Sid });
        var caseNumber = await scenario.ScalarAsync<string>("SELECT case_number FROM complaints WHERE id = @complaint", new { complaint });
        // The worker heard the message offer, that it was saved, their case number and the callback promise, in Spanish.
        Assert.Contains(scenario.Text("es", "voicemail_offer"), call.Heard);
        Assert.Contains(scenario.Text("es", "voicemail_saved"), call.Heard);
        Assert.Contains(scenario.Text("es", "case_number_readout", new Dictionary<string, string> { ["case_number"] = caseNumber }), call.Heard);
        Assert.Contains(scenario.Text("es", "callback_promise"), call.Heard);
        Assert.Equal(1, await VoicemailCopyTests.RunCopiesAsync(scenario));

        // The callback owed appeared live in the list; its case opens from there.
        var owed = page.Locator($"#callback-rows li[data-case='{caseNumber}']");
        await Assertions.Expect(owed).ToContainTextAsync("left a voicemail");
        await Assertions.Expect(owed.Locator(".clock")).ToContainTextAsync("min left");
        await owed.GetByRole(AriaRole.Link, new() { Name = $"Case {caseNumber}" }).ClickAsync();
        var voicemails = page.GetByRole(AriaRole.Region, new() { Name = "Voicemails" });
        var player = voicemails.Locator("audio");
        await Assertions.Expect(player).ToHaveCountAsync(1);
        Assert.DoesNotContain("voicemail.played", (await TimelineAsync(scenario, complaint)).Select(t => t.Kind));

        await player.EvaluateAsync("audio => audio.play()");
        await page.WaitForFunctionAsync("() => { const a = document.querySelector('.voicemails audio'); return a && a.readyState >= 2 && a.duration > 3; }");

        await Eventually.TrueAsync(async () => (await TimelineAsync(scenario, complaint)).Any(t => t.Kind == "voicemail.played"),
            "the play never reached the timeline", TimeSpan.FromSeconds(10));
        var timeline = await TimelineAsync(scenario, complaint);
        Assert.Equal(carlos, Assert.Single(timeline, t => t.Kind == "voicemail.played").StaffId);
        var kinds = timeline.Select(t => t.Kind).ToList();
        Assert.True(kinds.IndexOf("voicemail.left") < kinds.IndexOf("voicemail.copied"));
        Assert.True(kinds.IndexOf("voicemail.copied") < kinds.IndexOf("voicemail.twilio_copy_deleted"));
        Assert.True(kinds.IndexOf("voicemail.twilio_copy_deleted") < kinds.IndexOf("voicemail.played"));
        // What played is the hotline's own copy: Twilio's is gone.
        Assert.Null(scenario.Simulator.RecordingDuration(await scenario.ScalarAsync<string>("SELECT recording_sid FROM calls WHERE call_sid = @Sid", new { call.Sid })));
    }

    [Fact]
    public async Task A_callback_from_the_list_reaches_the_worker_and_meets_the_clock()
    {
        await using var scenario = await VoiceScenario.StartAsync();
        var carlos = await ConsoleBrowser.CreateStaffAsync(scenario.DataSource, "carlos@test.example", "investigator", Password, "es");
        var page = await browser.OpenConsoleAsync(scenario.Hotline.BaseUrl, "carlos@test.example", Password);

        var call = await VoicemailCopyTests.LeaveVoicemailAsync(scenario, Worker, seconds: 3);
        var complaint = await scenario.ScalarAsync<long>("SELECT complaint_id FROM calls WHERE call_sid = @Sid", new { call.Sid });
        var caseNumber = await scenario.ScalarAsync<string>("SELECT case_number FROM complaints WHERE id = @complaint", new { complaint });
        var worker = scenario.Simulator.Phone(Worker);
        var before = worker.Calls.Count;
        worker.Behavior = PhoneBehavior.Answer(afterSeconds: 2);

        var owed = page.Locator($"#callback-rows li[data-case='{caseNumber}']");
        await owed.GetByRole(AriaRole.Button, new() { Name = "Call back" }).ClickAsync();
        await Assertions.Expect(owed.Locator(".callback-status")).ToContainTextAsync("Connecting in the browser");
        // Phones ring and people answer in the simulator's time.
        await scenario.Simulator.AdvanceAsync(TimeSpan.FromSeconds(20));

        var callback = worker.Calls.Skip(before).Single();
        Assert.Equal(TollFree, callback.From);
        Assert.Contains(scenario.Text("es", "connecting"), callback.Heard);
        var browserLeg = scenario.Simulator.Phone("client:staff-" + carlos).Calls.Single();
        Assert.Equal(callback.Conference, browserLeg.Conference);
        await callback.SayAsync("Sí, ahora puedo hablar.");
        Assert.Contains(browserLeg.Heard, line => line.Contains("Sí, ahora puedo hablar.", StringComparison.Ordinal));

        // Done: off the list, live, with its clock met.
        await Assertions.Expect(page.Locator($"#callback-rows li[data-case='{caseNumber}']")).ToHaveCountAsync(0);
        await Assertions.Expect(page.Locator("#callback-rows")).ToContainTextAsync("No callbacks owed");
        Assert.Equal("met", await scenario.ScalarAsync<string>(
            "SELECT d.met_reason FROM deadlines d JOIN callback_tasks t ON t.id = d.callback_task_id WHERE t.complaint_id = @complaint", new { complaint }));
        var kinds = (await TimelineAsync(scenario, complaint)).Select(t => t.Kind).ToList();
        var started = kinds.IndexOf("callback.started");
        Assert.True(started >= 0, string.Join(", ", kinds));
        Assert.Equal(["callback.started", "callback.reached", "clock.met"], kinds.Skip(started).Take(3));

        await worker.HangUpAsync();
        await scenario.Simulator.AdvanceAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(CallState.Completed, browserLeg.State);
        Assert.Empty(callback.Errors);
    }
}
