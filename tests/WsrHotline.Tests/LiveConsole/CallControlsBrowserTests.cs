using Microsoft.Playwright;
using WsrHotline.Simulator;
using WsrHotline.Tests.Infrastructure;
using WsrHotline.Tests.Voice;

namespace WsrHotline.Tests.LiveConsole;

/// <summary>
/// The call controls in Debian's Chromium, through the simulator's conferences: what the investigator
/// does in the console, what the worker's phone hears, and what the case timeline keeps.
/// </summary>
public sealed class CallControlsBrowserTests(ConsoleBrowser browser) : IClassFixture<ConsoleBrowser>
{
    private const string Password = "correct horse battery";
    private const string Worker = "+15555550160";

    private static Task<VoiceScenario> StartAsync() => VoiceScenario.StartAsync(s => s["Voice:ConsoleOfferDuration"] = "00:01:00");

    private static async Task<SimulatedCall> SpanishCallWaitingAsync(VoiceScenario scenario, string from)
    {
        var call = await scenario.Simulator.CallAsync(from: from);
        await call.PressAsync("2");
        await call.PressAsync("1");
        return call;
    }

    [Fact]
    public async Task Answer_hold_resume_mute_hang_up_wrap_up_then_available_and_no_second_call_while_busy()
    {
        await using var scenario = await StartAsync();
        var carlos = await ConsoleBrowser.CreateStaffAsync(scenario.DataSource, "carlos@test.example", "investigator", Password, "es");
        scenario.Simulator.Phone("client:staff-" + carlos).Behavior = PhoneBehavior.Answer(afterSeconds: 1);
        var page = await browser.OpenConsoleAsync(scenario.Hotline.BaseUrl, "carlos@test.example", Password);

        var call = await SpanishCallWaitingAsync(scenario, Worker);
        await page.Locator(".call-banner").GetByRole(AriaRole.Button, new() { Name = "Accept" }).ClickAsync();
        await Assertions.Expect(page.Locator(".call-banner")).ToContainTextAsync("Connecting in the browser");
        await call.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(VoiceScenario.TalkingWithInvestigator(call), string.Join("\n", call.Transcript));

        var panel = page.GetByRole(AriaRole.Region, new() { Name = "Active call" });
        await Assertions.Expect(panel).ToContainTextAsync("Worker's language: Español");
        var complaint = await scenario.ScalarAsync<long>("SELECT complaint_id FROM calls WHERE call_sid = @Sid", new { call.Sid });
        var caseNumber = await scenario.ScalarAsync<string>("SELECT case_number FROM complaints WHERE id = @complaint", new { complaint });
        await Assertions.Expect(panel).ToContainTextAsync($"Case {caseNumber}");
        await Assertions.Expect(panel.Locator(".call-timer")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex(@"^\d\d:\d\d$"));
        var conference = scenario.Simulator.FindConference($"call-{await scenario.ScalarAsync<long>("SELECT id FROM calls WHERE call_sid = @Sid", new { call.Sid })}")!;
        ConferenceParticipant WorkerLeg() => conference.Participants.Single(p => p.Label == "worker");
        ConferenceParticipant InvestigatorLeg() => conference.Participants.Single(p => p.Label == $"staff-{carlos}");

        // Hold: the worker hears the hold message in Spanish (never silence) until the investigator resumes.
        var holdMessage = scenario.Text("es", "on_hold");
        var heardBefore = call.Heard.Count(line => line == holdMessage);
        await panel.GetByRole(AriaRole.Button, new() { Name = "Hold" }).ClickAsync();
        await Assertions.Expect(page.Locator("#status-line")).ToHaveTextAsync("The worker is on hold.");
        await call.WaitAsync(TimeSpan.FromSeconds(12));
        Assert.True(WorkerLeg().Hold);
        Assert.True(call.Heard.Count(line => line == holdMessage) > heardBefore, string.Join("\n", call.Transcript));
        await Assertions.Expect(panel.GetByRole(AriaRole.Button, new() { Name = "Resume" })).ToBeVisibleAsync();

        await panel.GetByRole(AriaRole.Button, new() { Name = "Resume" }).ClickAsync();
        await Assertions.Expect(page.Locator("#status-line")).ToHaveTextAsync("The worker is back.");
        await call.WaitAsync(TimeSpan.FromSeconds(2));
        Assert.False(WorkerLeg().Hold);
        // Back in the conversation: the worker hears the investigator again.
        await scenario.Simulator.Phone("client:staff-" + carlos).SayAsync("Buenas noches, ¿me escucha?");
        Assert.Contains("Buenas noches, ¿me escucha?", call.Heard);

        await panel.GetByRole(AriaRole.Button, new() { Name = "Mute" }).ClickAsync();
        await Assertions.Expect(page.Locator("#status-line")).ToHaveTextAsync("You are muted.");
        await call.WaitAsync(TimeSpan.FromSeconds(2));
        Assert.True(InvestigatorLeg().Muted);
        await Assertions.Expect(panel.GetByRole(AriaRole.Button, new() { Name = "Unmute" })).ToBeVisibleAsync();
        await panel.GetByRole(AriaRole.Button, new() { Name = "Unmute" }).ClickAsync();
        await Assertions.Expect(page.Locator("#status-line")).ToHaveTextAsync("You are unmuted.");
        await call.WaitAsync(TimeSpan.FromSeconds(2));
        Assert.False(InvestigatorLeg().Muted);

        // Hang up: the conference ends; the worker hears their case number and PIN, as after any conversation.
        await panel.GetByRole(AriaRole.Button, new() { Name = "Hang up" }).ClickAsync();
        await Assertions.Expect(page.Locator("#status-line")).ToContainTextAsync("Call ended");
        await call.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Contains(scenario.Text("es", "case_number_readout", new Dictionary<string, string> { ["case_number"] = caseNumber }), call.Heard);
        Assert.Equal(CallState.Completed, call.State);

        // Wrap-up: busy until it is done. A second call meanwhile is not offered to this investigator.
        var wrapUp = page.GetByRole(AriaRole.Form, new() { Name = "Wrap-up" });
        await Assertions.Expect(wrapUp).ToBeVisibleAsync();
        var second = await SpanishCallWaitingAsync(scenario, "+15555550161");
        await second.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(1, await scenario.ScalarAsync<int>("SELECT count(*) FROM console_events WHERE kind = 'call.offered'"));
        Assert.Equal(0, await page.Locator(".call-banner .accept").CountAsync());
        await second.HangUpAsync();

        await wrapUp.GetByLabel("Disposition").SelectOptionAsync(new SelectOptionValue { Label = "Information only" });
        await wrapUp.GetByLabel("Note").FillAsync("Preguntó por el pago de horas extra; le explicamos sus derechos.");
        await wrapUp.GetByRole(AriaRole.Button, new() { Name = "Finish wrap-up" }).ClickAsync();
        await Assertions.Expect(panel).ToContainTextAsync("Available: calls come to you again.");

        Assert.Equal("idle", await scenario.ScalarAsync<string>("SELECT activity FROM staff_presence WHERE staff_id = @carlos", new { carlos }));
        Assert.Equal("information_only", await scenario.ScalarAsync<string>("SELECT disposition FROM call_wrap_ups WHERE staff_id = @carlos", new { carlos }));
        Assert.DoesNotContain("horas extra", await scenario.ScalarAsync<string>("SELECT note_encrypted FROM call_wrap_ups WHERE staff_id = @carlos", new { carlos }),
            StringComparison.Ordinal);
        var timeline = await scenario.TimelineAsync(complaint);
        string[] expected = ["call.answered", "call.participant_joined", "call.held", "call.resumed", "call.muted", "call.unmuted", "call.hung_up",
            "call.wrapped_up"];
        Assert.Equal(expected, timeline.Where(kind => expected.Contains(kind)).Distinct());
        Assert.Contains("call.conference_ended", timeline);
        Assert.Contains("case_number.told", timeline);
    }

    [Fact]
    public async Task When_the_caller_hangs_up_while_it_rings_the_banner_clears_in_every_console_that_showed_it()
    {
        await using var scenario = await StartAsync();
        await ConsoleBrowser.CreateStaffAsync(scenario.DataSource, "maria@test.example", "investigator", Password, "es");
        await ConsoleBrowser.CreateStaffAsync(scenario.DataSource, "carlos@test.example", "investigator", Password, "es");
        var first = await browser.OpenConsoleAsync(scenario.Hotline.BaseUrl, "maria@test.example", Password);
        var second = await browser.OpenConsoleAsync(scenario.Hotline.BaseUrl, "carlos@test.example", Password);

        var call = await SpanishCallWaitingAsync(scenario, Worker);
        await Assertions.Expect(first.Locator(".call-banner .accept")).ToBeVisibleAsync();
        await Assertions.Expect(second.Locator(".call-banner .accept")).ToBeVisibleAsync();

        await call.HangUpAsync();

        foreach (var page in new[] { first, second })
        {
            await Assertions.Expect(page.Locator(".call-banner .accept")).ToHaveCountAsync(0);
            await Assertions.Expect(page.Locator(".call-banner.lost")).ToContainTextAsync("The caller hung up.");
        }
    }

    /// <summary>Carlos accepts a Spanish call in the browser and is talking with the worker.</summary>
    private async Task<(IPage Page, SimulatedCall Call, long CallId, long Complaint)> CarlosTalkingAsync(VoiceScenario scenario, int carlos)
    {
        scenario.Simulator.Phone("client:staff-" + carlos).Behavior = PhoneBehavior.Answer(afterSeconds: 1);
        var page = await browser.OpenConsoleAsync(scenario.Hotline.BaseUrl, "carlos@test.example", Password);
        var call = await SpanishCallWaitingAsync(scenario, Worker);
        await page.Locator(".call-banner").GetByRole(AriaRole.Button, new() { Name = "Accept" }).ClickAsync();
        await Assertions.Expect(page.Locator(".call-banner")).ToContainTextAsync("Connecting in the browser");
        await call.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(VoiceScenario.TalkingWithInvestigator(call), string.Join("\n", call.Transcript));
        await Assertions.Expect(page.GetByRole(AriaRole.Region, new() { Name = "Active call" })).ToContainTextAsync("On a call");
        var callId = await scenario.ScalarAsync<long>("SELECT id FROM calls WHERE call_sid = @Sid", new { call.Sid });
        var complaint = await scenario.ScalarAsync<long>("SELECT complaint_id FROM calls WHERE call_sid = @Sid", new { call.Sid });
        return (page, call, callId, complaint);
    }

    [Fact]
    public async Task A_warm_transfer_rings_the_colleague_who_joins_then_the_first_investigator_leaves()
    {
        await using var scenario = await StartAsync();
        var carlos = await ConsoleBrowser.CreateStaffAsync(scenario.DataSource, "carlos@test.example", "investigator", Password, "es");
        var lucia = await ConsoleBrowser.CreateStaffAsync(scenario.DataSource, "lucia@test.example", "investigator", Password, "es");
        scenario.Simulator.Phone("client:staff-" + lucia).Behavior = PhoneBehavior.Answer(afterSeconds: 1);
        var colleague = await browser.OpenConsoleAsync(scenario.Hotline.BaseUrl, "lucia@test.example", Password);
        var (page, call, callId, complaint) = await CarlosTalkingAsync(scenario, carlos);
        // The first call rang both; Lucia's banner now says it was taken.
        await Assertions.Expect(colleague.Locator(".call-banner .accept")).ToHaveCountAsync(0);

        var panel = page.GetByRole(AriaRole.Region, new() { Name = "Active call" });
        await panel.GetByLabel("Transfer to").SelectOptionAsync(new SelectOptionValue { Label = "lucia" });
        await panel.GetByRole(AriaRole.Button, new() { Name = "Transfer" }).ClickAsync();
        await Assertions.Expect(page.Locator("#status-line")).ToContainTextAsync("Transfer offered");

        var offer = colleague.Locator(".call-banner[data-transfer]");
        await Assertions.Expect(offer).ToContainTextAsync("A colleague transfers a call in Español to you");
        await offer.GetByRole(AriaRole.Button, new() { Name = "Accept" }).ClickAsync();
        await Assertions.Expect(offer).ToContainTextAsync("Connecting in the browser");
        await call.WaitAsync(TimeSpan.FromSeconds(10));

        await scenario.TakenOverAsync(call, callId, from: carlos, to: lucia, "Hola, soy Lucía, sigo con su caso.");
        Assert.Equal(CallState.InConference, call.State);

        await Assertions.Expect(colleague.GetByRole(AriaRole.Region, new() { Name = "Active call" })).ToContainTextAsync("On a call");
        await Assertions.Expect(page.GetByRole(AriaRole.Form, new() { Name = "Wrap-up" })).ToBeVisibleAsync();
        Assert.Equal(lucia, await scenario.ScalarAsync<int>("SELECT answered_by FROM calls WHERE id = @callId", new { callId }));
        var timeline = await scenario.TimelineAsync(complaint);
        string[] expected = ["call.transfer_offered", "call.transfer_accepted", "call.transferred"];
        Assert.Equal(expected, timeline.Where(kind => expected.Contains(kind)));
        Assert.Contains("call.participant_left", timeline);
    }

    [Fact]
    public async Task A_transfer_to_the_haitian_creole_queue_rings_its_consoles_the_first_to_accept_joins_and_the_call_goes_on_in_haitian_creole()
    {
        await using var scenario = await StartAsync();
        var carlos = await ConsoleBrowser.CreateStaffAsync(scenario.DataSource, "carlos@test.example", "investigator", Password, "es");
        var jean = await ConsoleBrowser.CreateStaffAsync(scenario.DataSource, "jean@test.example", "investigator", Password, "ht");
        await ConsoleBrowser.CreateStaffAsync(scenario.DataSource, "marie@test.example", "investigator", Password, "ht");
        scenario.Simulator.Phone("client:staff-" + jean).Behavior = PhoneBehavior.Answer(afterSeconds: 1);
        var jeanConsole = await browser.OpenConsoleAsync(scenario.Hotline.BaseUrl, "jean@test.example", Password);
        var marieConsole = await browser.OpenConsoleAsync(scenario.Hotline.BaseUrl, "marie@test.example", Password);
        var (page, call, callId, complaint) = await CarlosTalkingAsync(scenario, carlos);
        var caseNumber = await scenario.ScalarAsync<string>("SELECT case_number FROM complaints WHERE id = @complaint", new { complaint });

        // The worker turns out to speak Haitian Creole: Carlos transfers the call to that language's queue.
        var panel = page.GetByRole(AriaRole.Region, new() { Name = "Active call" });
        await panel.GetByLabel("Transfer to").SelectOptionAsync(new SelectOptionValue { Label = "Kreyòl ayisyen queue" });
        await panel.GetByRole(AriaRole.Button, new() { Name = "Transfer" }).ClickAsync();
        await Assertions.Expect(page.Locator("#status-line")).ToContainTextAsync("Transfer offered to the Kreyòl ayisyen queue");

        // It rings like a new call in both Haitian Creole consoles; Jean accepts, Marie's banner says it was taken.
        foreach (var console in new[] { jeanConsole, marieConsole })
        {
            await Assertions.Expect(console.Locator(".call-banner[data-transfer]")).ToContainTextAsync("Incoming call in Kreyòl ayisyen");
        }
        var offer = jeanConsole.Locator(".call-banner[data-transfer]");
        await offer.GetByRole(AriaRole.Button, new() { Name = "Accept" }).ClickAsync();
        await Assertions.Expect(offer).ToContainTextAsync("Connecting in the browser");
        await Assertions.Expect(marieConsole.Locator(".call-banner .accept")).ToHaveCountAsync(0);
        await Assertions.Expect(marieConsole.Locator(".call-banner.lost")).ToContainTextAsync("Taken by jean");
        await call.WaitAsync(TimeSpan.FromSeconds(10));

        // Jean is in, Carlos has left; the worker hears Jean.
        await scenario.TakenOverAsync(call, callId, from: carlos, to: jean, "Bonswa, se Jean, m ap kontinye ak dosye ou a.");
        var jeanPanel = jeanConsole.GetByRole(AriaRole.Region, new() { Name = "Active call" });
        await Assertions.Expect(jeanPanel).ToContainTextAsync("Worker's language: Kreyòl ayisyen");
        await Assertions.Expect(page.GetByRole(AriaRole.Form, new() { Name = "Wrap-up" })).ToBeVisibleAsync();
        Assert.Equal("ht", await scenario.ScalarAsync<string>("SELECT language_code FROM calls WHERE id = @callId", new { callId }));
        Assert.Equal(jean, await scenario.ScalarAsync<int>("SELECT answered_by FROM calls WHERE id = @callId", new { callId }));

        // Jean hangs up: the worker hears their case number in Haitian Creole (recordings: ht has no voice), not in Spanish.
        await jeanPanel.GetByRole(AriaRole.Button, new() { Name = "Hang up" }).ClickAsync();
        await Assertions.Expect(jeanConsole.Locator("#status-line")).ToContainTextAsync("Call ended");
        await call.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(CallState.Completed, call.State);
        var readout = new Dictionary<string, string> { ["case_number"] = caseNumber };
        var haitianReadout = scenario.Flow.Render("ht", "case_number_readout", readout, "https://hotline.test/ivr-audio").Segments
            .OfType<WsrHotline.Ivr.PlaySegment>().Select(play => play.Url).ToList();
        Assert.True(haitianReadout.All(call.Heard.Contains), string.Join("\n", call.Heard));
        Assert.DoesNotContain(scenario.Text("es", "case_number_readout", readout), call.Heard);

        var timeline = await scenario.TimelineAsync(complaint);
        string[] expected = ["call.transfer_offered", "call.transfer_accepted", "call.transferred"];
        Assert.Equal(expected, timeline.Where(kind => expected.Contains(kind)));
        Assert.Equal("ht", await scenario.ScalarAsync<string>(
            "SELECT details ->> 'to_language' FROM case_timeline WHERE complaint_id = @complaint AND kind = 'call.transfer_offered'", new { complaint }));
        Assert.Equal("ht", await scenario.ScalarAsync<string>(
            "SELECT details ->> 'to_language' FROM case_timeline WHERE complaint_id = @complaint AND kind = 'call.transferred'", new { complaint }));
        Assert.Contains("call.participant_left", timeline);
    }

    [Fact]
    public async Task An_interpreter_is_dialled_in_and_a_coordinator_listens_then_coaches()
    {
        await using var scenario = await VoiceScenario.StartAsync(s =>
        {
            s["Voice:ConsoleOfferDuration"] = "00:01:00";
            s["Voice:Interpreters:mam:Name"] = "Mam interpreter line";
            s["Voice:Interpreters:mam:Phone"] = "+15555550600";
        });
        var carlos = await ConsoleBrowser.CreateStaffAsync(scenario.DataSource, "carlos@test.example", "investigator", Password, "es");
        var ana = await ConsoleBrowser.CreateStaffAsync(scenario.DataSource, "ana@test.example", "coordinator", Password, "es");
        var interpreterPhone = scenario.Simulator.Phone("+15555550600");
        interpreterPhone.Behavior = PhoneBehavior.Answer(afterSeconds: 2);
        scenario.Simulator.Phone("client:staff-" + ana).Behavior = PhoneBehavior.Answer(afterSeconds: 1);
        var coordinator = await browser.OpenConsoleAsync(scenario.Hotline.BaseUrl, "ana@test.example", Password, presence: "away");
        var (page, call, callId, complaint) = await CarlosTalkingAsync(scenario, carlos);
        var panel = page.GetByRole(AriaRole.Region, new() { Name = "Active call" });

        await panel.GetByLabel("Interpreter").SelectOptionAsync(new SelectOptionValue { Label = "Mam interpreter line" });
        await panel.GetByRole(AriaRole.Button, new() { Name = "Add interpreter" }).ClickAsync();
        await Assertions.Expect(page.Locator("#status-line")).ToHaveTextAsync("Calling the interpreter line.");
        await call.WaitAsync(TimeSpan.FromSeconds(6));
        await interpreterPhone.SayAsync("Ntzalaj, in ajb'il xjal.");
        Assert.Contains("Ntzalaj, in ajb'il xjal.", call.Heard);
        await Assertions.Expect(panel).ToContainTextAsync("An interpreter is in the call");

        // The coordinator listens: muted, the worker does not hear her; the investigator's console shows it.
        var monitor = coordinator.GetByRole(AriaRole.Group, new() { Name = "Monitor carlos's call" });
        await monitor.GetByRole(AriaRole.Button, new() { Name = "Listen" }).ClickAsync();
        await Assertions.Expect(coordinator.Locator("#status-line")).ToHaveTextAsync("Listening to carlos's call.");
        await call.WaitAsync(TimeSpan.FromSeconds(4));
        var conference = scenario.Simulator.FindConference($"call-{callId}")!;
        Assert.Contains(conference.Participants, p => p.Label == $"coordinator-{ana}" && p.Muted && p.Status == "connected");
        await Assertions.Expect(panel).ToContainTextAsync("ana is listening");
        await scenario.Simulator.Phone("client:staff-" + ana).SayAsync("Solo escucho.");
        Assert.DoesNotContain("Solo escucho.", call.Heard);

        // Then coaches: only the investigator hears her.
        await monitor.GetByRole(AriaRole.Button, new() { Name = "Coach" }).ClickAsync();
        await Assertions.Expect(coordinator.Locator("#status-line")).ToHaveTextAsync("Coaching carlos: only they hear you.");
        await call.WaitAsync(TimeSpan.FromSeconds(2));
        await Assertions.Expect(panel).ToContainTextAsync("ana is coaching you");
        await scenario.Simulator.Phone("client:staff-" + ana).SayAsync("Pregúntele el nombre de la finca.");
        Assert.Contains("Pregúntele el nombre de la finca.", scenario.Simulator.Phone("client:staff-" + carlos).Heard);
        Assert.DoesNotContain("Pregúntele el nombre de la finca.", call.Heard);

        await interpreterPhone.HangUpAsync();
        await call.WaitAsync(TimeSpan.FromSeconds(2));
        var timeline = await scenario.TimelineAsync(complaint);
        Assert.Contains("call.interpreter_called", timeline);
        Assert.Equal(2, timeline.Count(kind => kind == "call.monitor"));
        Assert.Equal(1, await scenario.ScalarAsync<int>("""
            SELECT count(*) FROM case_timeline WHERE complaint_id = @complaint AND kind = 'call.participant_left'
               AND details ->> 'role' = 'interpreter' AND (details ->> 'seconds')::int >= 0
            """, new { complaint }));
        Assert.Equal(1, await scenario.ScalarAsync<int>("""
            SELECT count(*) FROM case_timeline WHERE complaint_id = @complaint AND kind = 'call.participant_joined' AND details ->> 'role' = 'coordinator'
            """, new { complaint }));
    }
}
