using Microsoft.Playwright;
using WsrHotline.Simulator;
using WsrHotline.Tests.Infrastructure;
using WsrHotline.Tests.Voice;

namespace WsrHotline.Tests.Simulator;

/// <summary>The simulator's own page in Chromium, as the person running the local tour sees it.</summary>
public sealed class SimulatorPageTests(ConsoleBrowser browser) : IClassFixture<ConsoleBrowser>
{
    private const string Password = "correct horse battery";

    [Fact]
    public async Task A_signed_in_consoles_browser_leg_is_listed_as_a_console_not_as_an_investigators_phone()
    {
        await using var scenario = await VoiceScenario.StartAsync(s => s["Voice:ConsoleOfferDuration"] = "00:01:00");
        var carlos = await ConsoleBrowser.CreateStaffAsync(scenario.DataSource, "carlos@test.example", "investigator", Password, "es");
        scenario.Simulator.Phone("+15555550111").Behavior = PhoneBehavior.Answer(afterSeconds: 1);
        scenario.Simulator.Phone("client:staff-" + carlos).Behavior = PhoneBehavior.Answer(afterSeconds: 1);
        var console = await browser.OpenConsoleAsync(scenario.Hotline.BaseUrl, "carlos@test.example", Password);
        var call = await scenario.Simulator.CallAsync(from: "+15555550180");
        await call.PressAsync("2");
        await call.PressAsync("1");
        var banner = console.Locator(".call-banner");
        await banner.GetByRole(AriaRole.Button, new() { Name = "Accept" }).ClickAsync();
        await Assertions.Expect(banner).ToContainTextAsync("Connecting in the browser");
        await call.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(CallState.InConference, call.State); // the answered call is a conference of its own now

        var page = await console.Context.NewPageAsync();
        await page.GotoAsync("/simulator/");
        var phones = page.Locator("#phones");
        await Assertions.Expect(phones).ToContainTextAsync("+15555550111");
        var consoles = page.GetByRole(AriaRole.List, new() { Name = "Consoles (calls to a signed-in browser)" });
        await Assertions.Expect(consoles).ToContainTextAsync("client:staff-" + carlos);
        Assert.DoesNotContain("client:", await phones.InnerTextAsync(), StringComparison.Ordinal);
    }
}
