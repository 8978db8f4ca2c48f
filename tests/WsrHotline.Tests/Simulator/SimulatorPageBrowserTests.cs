using Microsoft.Playwright;
using Twilio.TwiML;
using WsrHotline.Tests.Infrastructure;
using Dial = Twilio.TwiML.Voice.Dial;

namespace WsrHotline.Tests.Simulator;

/// <summary>The simulator's page in Chromium: a caller in a conference, the plain hint that time stands still, Say and Wait.</summary>
public sealed class SimulatorPageBrowserTests(ConsoleBrowser browser) : IClassFixture<ConsoleBrowser>
{
    [Fact]
    public async Task The_page_shows_the_conference_says_time_is_paused_lets_the_caller_speak_and_wait()
    {
        await using var hotline = await FakeHotline.StartAsync();
        hotline.On("/twilio/voice/incoming", _ => new VoiceResponse()
            .Append(new Dial().Conference("case-12", startConferenceOnEnter: false, participantLabel: "worker")));
        await using var context = await browser.Browser.NewContextAsync();
        var page = await context.NewPageAsync();
        await page.GotoAsync(new Uri(hotline.ListeningAddress, "/simulator/").AbsoluteUri);

        var hint = page.Locator("#time-hint");
        await Assertions.Expect(hint).ToBeHiddenAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Call", Exact = true }).ClickAsync();

        await Assertions.Expect(page.Locator("#call-status")).ToContainTextAsync("in conference \"case-12\"");
        await Assertions.Expect(hint).ToContainTextAsync("Time is paused until someone acts: press Wait to let 30 s pass");
        await Assertions.Expect(page.Locator("#conferences")).ToContainTextAsync("case-12: waiting to start");
        await Assertions.Expect(page.Locator("#conferences")).ToContainTextAsync("worker: +15555550123");
        await Assertions.Expect(page.Locator("#transcript")).ToContainTextAsync("Joined conference \"case-12\"");

        await page.GetByLabel("Speak into the call").FillAsync("Is anyone there?");
        await page.GetByRole(AriaRole.Button, new() { Name = "Say", Exact = true }).First.ClickAsync();
        await Assertions.Expect(page.Locator("#transcript")).ToContainTextAsync("You said: \"Is anyone there?\" (heard by 0)");

        await page.GetByRole(AriaRole.Button, new() { Name = "Wait", Exact = true }).ClickAsync();
        await Assertions.Expect(page.Locator("#clock")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex("Time: ([3-9][0-9]|[1-9][0-9]{2,}) s"));
        await page.ScreenshotAsync(new() { Path = Path.Combine(Path.GetTempPath(), "simulator-conference-page.png"), FullPage = true });
    }
}
