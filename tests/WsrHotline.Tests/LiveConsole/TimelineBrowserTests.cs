using System.Text.Json;
using Microsoft.Playwright;
using WsrHotline.Simulator;
using WsrHotline.Tests.Infrastructure;
using WsrHotline.Tests.Voice;

namespace WsrHotline.Tests.LiveConsole;

/// <summary>The case timeline in Chromium: sentences in the browser's time, the raw entries for admins only.</summary>
public sealed class TimelineBrowserTests(ConsoleBrowser browser) : IClassFixture<ConsoleBrowser>
{
    private const string Password = "correct horse battery";

    [Fact]
    public async Task An_investigator_reads_the_timeline_as_sentences_and_only_an_admin_gets_the_raw_entries()
    {
        await using var scenario = await VoiceScenario.StartAsync();
        await ConsoleBrowser.CreateStaffAsync(scenario.DataSource, "carlos@test.example", "investigator", Password, "es");
        await ConsoleBrowser.CreateStaffAsync(scenario.DataSource, "root@test.example", "admin", Password, "es");
        await scenario.Simulator.TextAsync("+15555550180", "Hola, en la finca no nos pagan las horas extra.", TextChannels.WhatsApp);
        var page = await browser.OpenConsoleAsync(scenario.Hotline.BaseUrl, "carlos@test.example", Password, presence: null);

        await page.Locator("#case-rows tr a").First.ClickAsync();
        var timeline = page.GetByRole(AriaRole.Region, new() { Name = "Timeline" });
        await Assertions.Expect(timeline).ToContainTextAsync("Case opened from a WhatsApp message, in Spanish");
        await Assertions.Expect(timeline).ToContainTextAsync("Worker sent a WhatsApp message");
        await Assertions.Expect(timeline).ToContainTextAsync("Clocks started: acknowledgement");
        var text = await timeline.InnerTextAsync();
        Assert.DoesNotContain("{", text, StringComparison.Ordinal);
        Assert.DoesNotContain("message.received", text, StringComparison.Ordinal);
        Assert.DoesNotContain("complaint.opened", text, StringComparison.Ordinal);
        Assert.Equal(0, await timeline.Locator("details").CountAsync());
        // The time is the browser's own, with its zone.
        var shown = await timeline.Locator("li time").First.InnerTextAsync();
        var expected = await page.EvaluateAsync<string>("""
            () => { const t = document.querySelector('.timeline li time');
              return new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'short' }).format(new Date(t.getAttribute('datetime'))); }
            """);
        Assert.Equal(expected, shown);

        // The server does not send the raw details to an investigator at all.
        var id = await scenario.ScalarAsync<long>("SELECT id FROM complaints");
        var investigatorJson = await (await page.APIRequest.GetAsync($"/console/api/complaints/{id}")).TextAsync();
        using (var detail = JsonDocument.Parse(investigatorJson))
        {
            var entries = detail.RootElement.GetProperty("timeline").EnumerateArray().ToList();
            Assert.NotEmpty(entries);
            Assert.All(entries, e => Assert.Equal(JsonValueKind.Null, e.GetProperty("details").ValueKind));
            Assert.All(entries, e => Assert.False(string.IsNullOrWhiteSpace(e.GetProperty("sentence").GetString())));
        }

        var admin = await browser.OpenConsoleAsync(scenario.Hotline.BaseUrl, "root@test.example", Password, presence: null);
        await admin.GotoAsync($"/console#case/{id}");
        await admin.WaitForSelectorAsync("body[data-ready=true]");
        var adminTimeline = admin.GetByRole(AriaRole.Region, new() { Name = "Timeline" });
        await Assertions.Expect(adminTimeline).ToContainTextAsync("Worker sent a WhatsApp message");
        var raw = adminTimeline.Locator("li[data-kind='message.received'] details");
        await Assertions.Expect(raw.Locator("code")).Not.ToBeVisibleAsync();
        await raw.Locator("summary").ClickAsync();
        await Assertions.Expect(raw.Locator("code")).ToContainTextAsync("\"channel\": \"whatsapp\"");
    }
}
