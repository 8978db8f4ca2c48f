using Microsoft.Playwright;
using WsrHotline.Simulator;
using WsrHotline.Tests.Infrastructure;
using WsrHotline.Tests.Voice;

namespace WsrHotline.Tests.LiveConsole;

/// <summary>A case opened by a call (here one that ends in voicemail) reaches the signed-in consoles live.</summary>
public sealed class VoicemailLiveTests(ConsoleBrowser browser) : IClassFixture<ConsoleBrowser>
{
    private const string Password = "correct horse battery";

    [Fact]
    public async Task A_voicemail_case_appears_in_a_signed_in_console_without_a_reload()
    {
        await using var scenario = await VoiceScenario.StartAsync();
        await scenario.OnCallAsync("es", 1, "+15555550301");
        scenario.Simulator.Phone("+15555550301").Behavior = PhoneBehavior.NoAnswer;
        await ConsoleBrowser.CreateStaffAsync(scenario.DataSource, "carlos@test.example", "investigator", Password, "es");
        // Away: the call is not offered to this console, so only the new case itself can bring it there.
        var page = await browser.OpenConsoleAsync(scenario.Hotline.BaseUrl, "carlos@test.example", Password, presence: "away");
        await Assertions.Expect(page.Locator("#case-count")).ToHaveTextAsync("0 cases");

        var call = await scenario.Simulator.CallAsync(from: "+15555550180");
        await call.PressAsync("2");
        await call.PressAsync("1");
        await call.WaitAsync(TimeSpan.FromSeconds(90));
        Assert.True(call.State == CallState.Recording, string.Join("\n", call.Transcript));
        await call.RecordAsync(TimeSpan.FromSeconds(25));
        await call.WaitAsync(TimeSpan.FromSeconds(60));

        var caseNumber = await scenario.ScalarAsync<string>(
            "SELECT c.case_number FROM complaints c JOIN calls ON calls.complaint_id = c.id WHERE calls.call_sid = @Sid", new { call.Sid });
        var row = page.Locator("#case-rows tr", new() { HasText = caseNumber });
        await Assertions.Expect(row).ToBeVisibleAsync();
        await Assertions.Expect(row).ToContainTextAsync("voice");
    }
}
