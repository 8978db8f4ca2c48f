using Microsoft.Playwright;
using WsrHotline.Simulator;
using WsrHotline.Tests.Infrastructure;
using WsrHotline.Tests.Voice;

namespace WsrHotline.Tests.LiveConsole;

/// <summary>
/// The call controls for an investigator whose voice is on their own phone, not in the browser: the
/// console still holds, mutes and hangs up, through the call's conference. Both ways a phone gets the
/// call: accepted in the console with "Answer calls on my phone", and rung by the rota's phone tier.
/// </summary>
public sealed class PhoneAnsweredControlsBrowserTests(ConsoleBrowser browser) : IClassFixture<ConsoleBrowser>
{
    private const string Password = "correct horse battery";
    private const string Worker = "+15555550170";
    private const string CarlosPhone = "+15555550931";

    private static async Task<SimulatedCall> SpanishCallWaitingAsync(VoiceScenario scenario)
    {
        var call = await scenario.Simulator.CallAsync(from: Worker);
        await call.PressAsync("2");
        await call.PressAsync("1");
        return call;
    }

    private static async Task<int> CarlosWithPhoneAsync(VoiceScenario scenario)
    {
        var carlos = await ConsoleBrowser.CreateStaffAsync(scenario.DataSource, "carlos@test.example", "investigator", Password, "es");
        await scenario.ScalarAsync<int>("UPDATE staff SET phone_e164 = @CarlosPhone WHERE id = @carlos; SELECT 1", new { CarlosPhone, carlos });
        return carlos;
    }

    private static async Task<Func<string, ConferenceParticipant>> LegsAsync(VoiceScenario scenario, SimulatedCall call)
    {
        var conference = scenario.Simulator.FindConference($"call-{await scenario.ScalarAsync<long>("SELECT id FROM calls WHERE call_sid = @Sid", new { call.Sid })}")!;
        return label => conference.Participants.Single(p => p.Label == label && p.Status == "connected");
    }

    [Fact]
    public async Task Accepted_in_the_console_and_answered_on_the_phone_the_console_holds_mutes_and_hangs_up()
    {
        await using var scenario = await VoiceScenario.StartAsync(s => s["Voice:ConsoleOfferDuration"] = "00:01:00");
        var carlos = await CarlosWithPhoneAsync(scenario);
        var phone = scenario.Simulator.Phone(CarlosPhone);
        phone.Behavior = PhoneBehavior.Answer(afterSeconds: 1);
        var page = await browser.OpenConsoleAsync(scenario.Hotline.BaseUrl, "carlos@test.example", Password);
        await page.GetByLabel("Answer calls").SelectOptionAsync("phone");
        await Eventually.TrueAsync(async () => await scenario.ScalarAsync<string>(
                "SELECT answer_mode FROM staff_presence WHERE staff_id = @carlos", new { carlos }) == "phone",
            "the answer mode 'on my phone' was never saved");

        var call = await SpanishCallWaitingAsync(scenario);
        await page.Locator(".call-banner").GetByRole(AriaRole.Button, new() { Name = "Accept" }).ClickAsync();
        await Assertions.Expect(page.Locator(".call-banner")).ToContainTextAsync("Your phone is ringing.");
        await call.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(VoiceScenario.TalkingWithInvestigator(call), string.Join("\n", call.Transcript));
        // The voice is on the phone: no browser leg was called.
        Assert.Empty(scenario.Simulator.Phone("client:staff-" + carlos).Calls);
        var phoneLeg = Assert.Single(phone.Calls);

        var panel = page.GetByRole(AriaRole.Region, new() { Name = "Active call" });
        await Assertions.Expect(panel).ToContainTextAsync("Worker's language: Español");
        var Leg = await LegsAsync(scenario, call);

        var onHold = scenario.Text("es", "on_hold");
        await panel.GetByRole(AriaRole.Button, new() { Name = "Hold" }).ClickAsync();
        await Assertions.Expect(page.Locator("#status-line")).ToHaveTextAsync("The worker is on hold.");
        await call.WaitAsync(TimeSpan.FromSeconds(8));
        Assert.True(Leg("worker").Hold);
        Assert.Contains(onHold, call.Heard);
        await panel.GetByRole(AriaRole.Button, new() { Name = "Resume" }).ClickAsync();
        await Assertions.Expect(page.Locator("#status-line")).ToHaveTextAsync("The worker is back.");
        await call.WaitAsync(TimeSpan.FromSeconds(2));
        Assert.False(Leg("worker").Hold);

        await panel.GetByRole(AriaRole.Button, new() { Name = "Mute" }).ClickAsync();
        await Assertions.Expect(page.Locator("#status-line")).ToHaveTextAsync("You are muted.");
        await call.WaitAsync(TimeSpan.FromSeconds(2));
        Assert.True(Leg($"staff-{carlos}").Muted);
        // Muted, what is said on the phone does not reach the worker; unmuted, it does.
        await phoneLeg.SayAsync("Un momento, reviso su caso.");
        Assert.DoesNotContain("Un momento, reviso su caso.", call.Heard);
        await panel.GetByRole(AriaRole.Button, new() { Name = "Unmute" }).ClickAsync();
        await Assertions.Expect(page.Locator("#status-line")).ToHaveTextAsync("You are unmuted.");
        await call.WaitAsync(TimeSpan.FromSeconds(2));
        await phoneLeg.SayAsync("Ya estoy de vuelta.");
        Assert.Contains("Ya estoy de vuelta.", call.Heard);

        await panel.GetByRole(AriaRole.Button, new() { Name = "Hang up" }).ClickAsync();
        await Assertions.Expect(page.Locator("#status-line")).ToContainTextAsync("Call ended");
        await call.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(CallState.Completed, call.State);
        Assert.Equal(CallState.Completed, phoneLeg.State);
        await Assertions.Expect(page.GetByRole(AriaRole.Form, new() { Name = "Wrap-up" })).ToBeVisibleAsync();

        var complaint = await scenario.ScalarAsync<long>("SELECT complaint_id FROM calls WHERE call_sid = @Sid", new { call.Sid });
        string[] expected = ["call.answered", "call.held", "call.resumed", "call.muted", "call.unmuted", "call.hung_up"];
        Assert.Equal(expected, (await scenario.TimelineAsync(complaint)).Where(kind => expected.Contains(kind)).Distinct());
    }

    [Fact]
    public async Task Rung_on_the_phone_by_the_rota_the_investigator_gets_the_call_controls_in_their_open_console()
    {
        await using var scenario = await VoiceScenario.StartAsync(s => s["Voice:ConsoleOfferDuration"] = "00:00:01");
        var carlos = await CarlosWithPhoneAsync(scenario);
        await scenario.ScalarAsync<int>("""
            INSERT INTO oncall_shifts (staff_id, language_code, tier, starts_at, ends_at, time_zone)
            VALUES (@carlos, 'es', 1, now() - interval '1 hour', now() + interval '2 hours', 'America/New_York');
            SELECT 1
            """, new { carlos });
        var phone = scenario.Simulator.Phone(CarlosPhone);
        phone.Behavior = PhoneBehavior.Answer(pressDigits: "1", afterSeconds: 3);
        // Signed in, but the console offer (one second) is not taken: the phone tier rings Carlos's phone.
        var page = await browser.OpenConsoleAsync(scenario.Hotline.BaseUrl, "carlos@test.example", Password);

        var call = await SpanishCallWaitingAsync(scenario);
        await Assertions.Expect(page.Locator(".call-banner .accept")).ToBeVisibleAsync();
        await scenario.ConsoleOfferRanOutAsync(call);
        await call.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(VoiceScenario.TalkingWithInvestigator(call), string.Join("\n", call.Transcript));
        var phoneLeg = Assert.Single(phone.Calls);
        // Screened on the phone as any rota call is ("press 1 to accept").
        Assert.Contains(phoneLeg.Heard, line => line.StartsWith("Llamada de la línea de ayuda", StringComparison.Ordinal));

        var panel = page.GetByRole(AriaRole.Region, new() { Name = "Active call" });
        await Assertions.Expect(panel).ToContainTextAsync("Worker's language: Español");
        await panel.GetByRole(AriaRole.Button, new() { Name = "Hold" }).ClickAsync();
        await Assertions.Expect(page.Locator("#status-line")).ToHaveTextAsync("The worker is on hold.");
        await call.WaitAsync(TimeSpan.FromSeconds(8));
        Assert.Contains(scenario.Text("es", "on_hold"), call.Heard);
        await panel.GetByRole(AriaRole.Button, new() { Name = "Resume" }).ClickAsync();
        await Assertions.Expect(page.Locator("#status-line")).ToHaveTextAsync("The worker is back.");

        await panel.GetByRole(AriaRole.Button, new() { Name = "Hang up" }).ClickAsync();
        await call.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(CallState.Completed, call.State);
        Assert.Equal(CallState.Completed, phoneLeg.State);
        await Assertions.Expect(page.GetByRole(AriaRole.Form, new() { Name = "Wrap-up" })).ToBeVisibleAsync();
        var complaint = await scenario.ScalarAsync<long>("SELECT complaint_id FROM calls WHERE call_sid = @Sid", new { call.Sid });
        string[] expected = ["call.rung", "call.answered", "call.held", "call.resumed", "call.hung_up"];
        Assert.Equal(expected, (await scenario.TimelineAsync(complaint)).Where(kind => expected.Contains(kind)).Distinct());
    }
}
