using System.Text.Json;
using Microsoft.Playwright;
using WsrHotline.Simulator;
using WsrHotline.Tests.Infrastructure;
using WsrHotline.Tests.Voice;

namespace WsrHotline.Tests.LiveConsole;

/// <summary>
/// The console's layout in Chromium at a laptop's width (1,400 px) and at a phone's (390 px): its main
/// regions (<c>[data-region]</c>) never overlap, none runs past the window, nothing in them spills out,
/// and Bengali is drawn with the font the app ships. The screenshots land in docs/images/.
/// </summary>
public sealed class ConsoleLayoutTests(ConsoleBrowser browser) : IClassFixture<ConsoleBrowser>
{
    private const string Password = "correct horse battery";

    private sealed record Box(string Name, double Left, double Top, double Right, double Bottom, double ScrollWidth, double ClientWidth);

    // Every visible region's box, and how wide its content is against its own width.
    private const string RegionsScript = """
        () => JSON.stringify([...document.querySelectorAll('[data-region]')]
          .filter(e => e.getClientRects().length > 0)
          .map(e => { const r = e.getBoundingClientRect();
            return { name: e.dataset.region, left: r.left, top: r.top, right: r.right, bottom: r.bottom,
                     scrollWidth: e.scrollWidth, clientWidth: e.clientWidth }; })
          .filter(b => b.right - b.left > 0 && b.bottom - b.top > 0))
        """;

    [Theory]
    [InlineData(1400, 900, "console-1400.png")]
    [InlineData(390, 844, "console-phone.png")]
    public async Task The_consoles_regions_do_not_overlap_and_fit_the_window(int width, int height, string screenshot)
    {
        await using var scenario = await VoiceScenario.StartAsync();
        await ConsoleBrowser.CreateStaffAsync(scenario.DataSource, "carlos@test.example", "investigator", Password, "es", "en");
        await ConsoleBrowser.CreateStaffAsync(scenario.DataSource, "rahima@test.example", "investigator", Password, "bn", "en");
        await scenario.Simulator.TextAsync("+15555550181", "Hola, en la finca no nos pagan las horas extra y el mayordomo nos grita.", TextChannels.WhatsApp);
        await scenario.Simulator.TextAsync("+15555550182", "We are locked in the packing shed at night.", TextChannels.Sms);
        var page = await browser.OpenConsoleAsync(scenario.Hotline.BaseUrl, "carlos@test.example", Password);
        await browser.OpenConsoleAsync(scenario.Hotline.BaseUrl, "rahima@test.example", Password);
        await page.SetViewportSizeAsync(width, height);

        await Assertions.Expect(page.Locator("#case-rows tr")).ToHaveCountAsync(2);
        await page.Locator("#case-rows tr a").First.ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.List, new() { Name = "Conversation" })).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#colleagues li")).ToHaveCountAsync(2);

        var boxes = JsonSerializer.Deserialize<Box[]>(await page.EvaluateAsync<string>(RegionsScript), JsonSerializerOptions.Web)!;
        var names = boxes.Select(b => b.Name).ToArray();
        Assert.Contains("bar", names);
        Assert.Contains("worklist", names);
        Assert.Contains("case", names);
        Assert.Contains("side", names);
        var viewport = await page.EvaluateAsync<double>("() => document.documentElement.clientWidth");
        foreach (var box in boxes)
        {
            Assert.True(box.Left >= 0 && box.Right <= viewport + 0.5, $"at {width} px the {box.Name} region runs from {box.Left} to {box.Right}, past the window's {viewport} px");
            Assert.True(box.ScrollWidth <= box.ClientWidth + 1, $"at {width} px the {box.Name} region's content is {box.ScrollWidth} px wide in {box.ClientWidth} px: it spills over its neighbours");
        }
        foreach (var (a, i) in boxes.Select((b, i) => (b, i)))
        {
            foreach (var b in boxes.Skip(i + 1))
            {
                var overlap = a.Left < b.Right - 0.5 && b.Left < a.Right - 0.5 && a.Top < b.Bottom - 0.5 && b.Top < a.Bottom - 0.5;
                Assert.False(overlap, $"at {width} px the {a.Name} region {JsonSerializer.Serialize(a)} overlaps the {b.Name} region {JsonSerializer.Serialize(b)}");
            }
        }
        Assert.True(await page.EvaluateAsync<bool>("() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"),
            $"at {width} px the page scrolls sideways");

        var images = Path.Combine(RepositoryRoot(), "docs", "images");
        Directory.CreateDirectory(images);
        await page.ScreenshotAsync(new() { Path = Path.Combine(images, screenshot), FullPage = true });
    }

    [Fact]
    public async Task Bengali_is_drawn_with_the_font_the_app_serves()
    {
        await using var scenario = await VoiceScenario.StartAsync();
        await ConsoleBrowser.CreateStaffAsync(scenario.DataSource, "rahima@test.example", "investigator", Password, "bn");
        var page = await browser.OpenConsoleAsync(scenario.Hotline.BaseUrl, "rahima@test.example", Password, presence: null);

        var css = await page.APIRequest.GetAsync("/app/hotline.css");
        Assert.Equal(200, css.Status);
        var styles = await css.TextAsync();
        Assert.Contains("Noto Sans Bengali", styles, StringComparison.Ordinal);
        var fontUrl = System.Text.RegularExpressions.Regex.Match(styles, @"url\(""?\./(fonts/[^"")]+\.woff2)").Groups[1].Value;
        Assert.NotEmpty(fontUrl);
        var font = await page.APIRequest.GetAsync("/app/" + fontUrl);
        Assert.Equal(200, font.Status);
        Assert.Equal("font/woff2", font.Headers["content-type"]);
        Assert.True((await font.BodyAsync()).Length > 10_000, "the Bengali font file is nearly empty");

        // The language picker shows বাংলা: the browser fetches the shipped face and draws with it.
        await Assertions.Expect(page.Locator("#languages")).ToContainTextAsync("বাংলা");
        await page.WaitForFunctionAsync("""
            () => document.fonts.check('16px "Noto Sans Bengali"', 'বাংলা')
              && [...document.fonts].some(f => f.family.replaceAll('"', '') === 'Noto Sans Bengali' && f.status === 'loaded')
            """, null, new() { Timeout = 15_000 });
    }

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "WsrHotline.sln")))
            {
                return directory.FullName;
            }
        }
        throw new InvalidOperationException("WsrHotline.sln not found above " + AppContext.BaseDirectory);
    }
}
