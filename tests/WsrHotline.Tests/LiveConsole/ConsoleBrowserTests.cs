using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using WsrHotline.Messaging;
using WsrHotline.Simulator;
using WsrHotline.Tests.Infrastructure;
using WsrHotline.Tests.Messaging;
using WsrHotline.Tests.Simulator;
using WsrHotline.Tests.Voice;

namespace WsrHotline.Tests.LiveConsole;

/// <summary>
/// The investigators' console in Debian's Chromium, against the real app on a loopback port with the
/// simulator standing in for Twilio: what an investigator sees and does, and what the worker's phone gets.
/// </summary>
public sealed class ConsoleBrowserTests(ConsoleBrowser browser) : IClassFixture<ConsoleBrowser>
{
    private const string Password = "correct horse battery";
    private const string Worker = "+15555550180";

    // A long console offer: on a loaded machine two browsers may take more than the usual 15 s to
    // show the banner and press Accept, and an expired offer would make these tests about timing.
    private static Task<VoiceScenario> StartAsync() => VoiceScenario.StartAsync(s =>
    {
        s["Voice:ConsoleOfferDuration"] = "00:01:00";
    });

    /// <summary>The worker calls, picks Spanish (2) and asks for an investigator (1): the call waits in its queue.</summary>
    private static async Task<SimulatedCall> SpanishCallWaitingAsync(VoiceScenario scenario)
    {
        var call = await scenario.Simulator.CallAsync(from: Worker);
        await call.PressAsync("2");
        await call.PressAsync("1");
        return call;
    }

    [Fact]
    public async Task A_spanish_call_rings_only_the_spanish_speaking_available_investigators_and_accept_bridges_it()
    {
        await using var scenario = await StartAsync();
        var carlos = await ConsoleBrowser.CreateStaffAsync(scenario.DataSource, "carlos@test.example", "investigator", Password, "es");
        await ConsoleBrowser.CreateStaffAsync(scenario.DataSource, "rahima@test.example", "investigator", Password, "bn", "en");
        await ConsoleBrowser.CreateStaffAsync(scenario.DataSource, "lucia@test.example", "investigator", Password, "es");
        scenario.Simulator.Phone("client:staff-" + carlos).Behavior = PhoneBehavior.Answer(afterSeconds: 1);
        var spanish = await browser.OpenConsoleAsync(scenario.Hotline.BaseUrl, "carlos@test.example", Password);
        var bengali = await browser.OpenConsoleAsync(scenario.Hotline.BaseUrl, "rahima@test.example", Password);
        var away = await browser.OpenConsoleAsync(scenario.Hotline.BaseUrl, "lucia@test.example", Password, presence: "away");

        var call = await SpanishCallWaitingAsync(scenario);

        var banner = spanish.Locator(".call-banner");
        await Assertions.Expect(banner).ToContainTextAsync("Incoming call in Español");
        Assert.Equal(0, await bengali.Locator(".call-banner").CountAsync());
        Assert.Equal(0, await away.Locator(".call-banner").CountAsync());

        await banner.GetByRole(AriaRole.Button, new() { Name = "Accept" }).ClickAsync();
        await Assertions.Expect(banner).ToContainTextAsync("Connecting in the browser");
        await call.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.True(VoiceScenario.TalkingWithInvestigator(call), string.Join("\n", call.Transcript));
        Assert.Equal(carlos, await scenario.ScalarAsync<int>("SELECT answered_by FROM calls WHERE call_sid = @Sid", new { call.Sid }));
        var complaint = await scenario.ScalarAsync<long>("SELECT complaint_id FROM calls WHERE call_sid = @Sid", new { call.Sid });
        var timeline = await scenario.TimelineAsync(complaint);
        Assert.Contains("call.offered_console", timeline);
        Assert.Contains("call.accepted_console", timeline);
        Assert.Contains("call.answered", timeline);
        Assert.DoesNotContain("call.rung", timeline);
    }

    [Fact]
    public async Task The_sign_out_button_signs_out_with_the_antiforgery_token()
    {
        await using var scenario = await StartAsync();
        await ConsoleBrowser.CreateStaffAsync(scenario.DataSource, "carlos@test.example", "investigator", Password, "es");
        var console = await browser.OpenConsoleAsync(scenario.Hotline.BaseUrl, "carlos@test.example", Password, presence: null);

        await console.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();

        await Assertions.Expect(console).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/signin$"));
        await Assertions.Expect(console.GetByRole(AriaRole.Button, new() { Name = "Sign in" })).ToBeVisibleAsync();
        var me = await console.APIRequest.GetAsync("/console/api/me");
        Assert.Equal(401, me.Status);
    }

    [Fact]
    public async Task Two_investigators_race_to_accept_and_exactly_one_wins()
    {
        await using var scenario = await StartAsync();
        var maria = await ConsoleBrowser.CreateStaffAsync(scenario.DataSource, "maria@test.example", "investigator", Password, "es");
        var carlos = await ConsoleBrowser.CreateStaffAsync(scenario.DataSource, "carlos@test.example", "investigator", Password, "es");
        var first = await browser.OpenConsoleAsync(scenario.Hotline.BaseUrl, "maria@test.example", Password);
        var second = await browser.OpenConsoleAsync(scenario.Hotline.BaseUrl, "carlos@test.example", Password);

        var call = await SpanishCallWaitingAsync(scenario);
        await Assertions.Expect(first.Locator(".call-banner .accept")).ToBeVisibleAsync();
        await Assertions.Expect(second.Locator(".call-banner .accept")).ToBeVisibleAsync();

        // Both press Accept at the same moment (a click through Playwright waits for the button, which
        // the winner's "taken" event may already have removed from the other console).
        const string press = "() => document.querySelector('.call-banner .accept').click()";
        await Task.WhenAll(first.EvaluateAsync(press), second.EvaluateAsync(press));

        await Assertions.Expect(first.Locator(".call-banner.won, .call-banner.lost")).ToHaveCountAsync(1);
        await Assertions.Expect(second.Locator(".call-banner.won, .call-banner.lost")).ToHaveCountAsync(1);
        var won = await first.Locator(".call-banner.won").CountAsync() + await second.Locator(".call-banner.won").CountAsync();
        Assert.Equal(1, won);
        var winner = await scenario.ScalarAsync<int>("SELECT answered_by FROM calls WHERE call_sid = @Sid", new { call.Sid });
        var loserPage = winner == maria ? second : first;
        Assert.Contains(winner, new[] { maria, carlos });
        await Assertions.Expect(loserPage.Locator(".call-banner.lost")).ToContainTextAsync("taken", new() { IgnoreCase = true });
        Assert.Equal(1, await scenario.ScalarAsync<int>("SELECT count(*) FROM call_legs WHERE tier = 0"));
    }

    [Fact]
    public async Task A_whatsapp_message_appears_live_and_the_reply_reaches_the_workers_phone()
    {
        await using var scenario = await StartAsync();
        await ConsoleBrowser.CreateStaffAsync(scenario.DataSource, "carlos@test.example", "investigator", Password, "es");
        var page = await browser.OpenConsoleAsync(scenario.Hotline.BaseUrl, "carlos@test.example", Password);

        await scenario.Simulator.TextAsync(Worker, "Hola, en la finca no nos pagan las horas extra.", TextChannels.WhatsApp);
        var row = page.Locator("#case-rows tr").First;
        await Assertions.Expect(row).ToContainTextAsync("whatsapp");
        await row.GetByRole(AriaRole.Link).ClickAsync();
        var conversation = page.GetByRole(AriaRole.List, new() { Name = "Conversation" });
        await Assertions.Expect(conversation).ToContainTextAsync("no nos pagan las horas extra");

        // A second message shows up in the open conversation without a reload.
        await scenario.Simulator.TextAsync(Worker, "Y el mayordomo nos grita.", TextChannels.WhatsApp);
        await Assertions.Expect(conversation).ToContainTextAsync("el mayordomo nos grita");

        await page.GetByLabel("Canned responses").SelectOptionAsync(new SelectOptionValue { Label = "¿Cuándo podemos llamarle?" });
        await Assertions.Expect(page.GetByLabel("Reply in Español")).ToHaveValueAsync("¿A qué hora es seguro llamarle a este número?");
        await page.GetByRole(AriaRole.Button, new() { Name = "Send reply" }).ClickAsync();
        var reply = conversation.Locator("li.outbound", new() { HasText = "¿A qué hora es seguro llamarle" });
        await Assertions.Expect(reply).ToContainTextAsync("pending");

        var sender = new DueReplies(scenario.Hotline.Factory.Services);
        await sender.SendDueAsync(CancellationToken.None);
        await scenario.Simulator.DeliverTextsAsync();

        var inbox = scenario.Simulator.Inbox(Worker, TextChannels.WhatsApp);
        Assert.Contains(inbox.Received, text => text.Body == "¿A qué hora es seguro llamarle a este número?");
        // The delivery report reaches the console live.
        await Assertions.Expect(reply).ToContainTextAsync("delivered");
    }

    [Fact]
    public async Task A_workers_photo_opens_in_the_console_and_not_for_an_investigator_of_another_team_when_restricted()
    {
        await using var scenario = await StartAsync();
        await ConsoleBrowser.CreateStaffAsync(scenario.DataSource, "carlos@test.example", "investigator", Password, "es");
        await ConsoleBrowser.CreateStaffAsync(scenario.DataSource, "pedro@test.example", "investigator", Password, "es");
        await using (var connection = await scenario.DataSource.OpenConnectionAsync())
        {
            await Dapper.SqlMapper.ExecuteAsync(connection, "UPDATE staff SET team = CASE WHEN email LIKE 'carlos%' THEN 'north' ELSE 'south' END");
        }
        var page = await browser.OpenConsoleAsync(scenario.Hotline.BaseUrl, "carlos@test.example", Password);
        var photo = TextMedia.Photo(30_000);

        await scenario.Simulator.TextAsync(Worker, "Hola, le mando foto del talón de pago, no nos pagan las horas extra.", TextChannels.WhatsApp, textMedia: [photo]);
        // No Hangfire server runs in these tests: the photo's download job runs here, once the text is processed.
        var downloads = new DueMedia(scenario.Hotline.Factory.Services);
        await Eventually.TrueAsync(async () => await downloads.FetchDueAsync(CancellationToken.None) > 0,
            "the worker's photo queued for download (and fetched)", TimeSpan.FromSeconds(15), TimeSpan.FromMilliseconds(100));
        await page.Locator("#case-rows tr a").First.ClickAsync();
        var image = page.GetByRole(AriaRole.Img, new() { Name = "Photo sent by the worker" });
        await Assertions.Expect(image).ToBeVisibleAsync(new() { Timeout = 15_000 });
        var source = await image.GetAttributeAsync("src");
        const string fetchScript = "url => fetch(url).then(async r => [r.status, (await r.arrayBuffer()).byteLength, r.headers.get('content-type')].join(' '))";
        Assert.Equal("200 30000 image/jpeg", await page.EvaluateAsync<string>(fetchScript, source));

        await scenario.ScalarAsync<int>("UPDATE complaints SET restricted_team = 'north' RETURNING 1");
        var otherTeam = await browser.OpenConsoleAsync(scenario.Hotline.BaseUrl, "pedro@test.example", Password, presence: null);
        Assert.Equal("403 0 ", await otherTeam.EvaluateAsync<string>(fetchScript, source));
        Assert.Equal("200 30000 image/jpeg", await page.EvaluateAsync<string>(fetchScript, source));
    }

    [Fact]
    public async Task Roles_are_enforced_in_the_browser_and_a_signed_out_browser_cannot_reach_the_hub()
    {
        await using var scenario = await StartAsync();
        await ConsoleBrowser.CreateStaffAsync(scenario.DataSource, "carlos@test.example", "investigator", Password, "es");
        await ConsoleBrowser.CreateStaffAsync(scenario.DataSource, "ana@test.example", "coordinator", Password, "es");

        var investigator = await browser.OpenConsoleAsync(scenario.Hotline.BaseUrl, "carlos@test.example", Password, presence: null);
        var denied = await investigator.GotoAsync("/dashboard");
        Assert.Equal(403, denied!.Status);
        await Assertions.Expect(investigator.GetByRole(AriaRole.Heading, new() { Name = "Not allowed" })).ToBeVisibleAsync();

        var coordinator = await browser.OpenConsoleAsync(scenario.Hotline.BaseUrl, "ana@test.example", Password, presence: null);
        Assert.Equal(200, (await coordinator.GotoAsync("/dashboard"))!.Status);

        var signedOut = await (await browser.Browser.NewContextAsync(new() { BaseURL = scenario.Hotline.BaseUrl })).NewPageAsync();
        await signedOut.GotoAsync("/signin");
        var negotiate = await signedOut.EvaluateAsync<int>("() => fetch('/hubs/console/negotiate?negotiateVersion=1', { method: 'POST' }).then(r => r.status)");
        Assert.Equal(401, negotiate);
        var console = await signedOut.GotoAsync("/console");
        Assert.EndsWith("/signin?ReturnUrl=%2Fconsole", console!.Url, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_webhook_on_instance_a_reaches_a_browser_connected_to_instance_b_within_a_second()
    {
        await using var scenario = await StartAsync();
        await using var instanceB = SimulatedHotline.Start(PostgresServer.ConnectionStringFor(scenario.DatabaseName),
            s => s["Messaging:SenderEnabled"] = "false");
        await ConsoleBrowser.CreateStaffAsync(scenario.DataSource, "carlos@test.example", "investigator", Password, "es");
        var page = await browser.OpenConsoleAsync(instanceB.BaseUrl, "carlos@test.example", Password);
        await page.EvaluateAsync("""
            () => { window.received = []; document.addEventListener('wsr:event', e => window.received.push({ kind: e.detail.kind, at: Date.now() })); }
            """);

        // The simulator of instance A posts the signed webhook to instance A.
        var sent = await scenario.Simulator.TextAsync(Worker, "Hola, no nos pagan las horas extra.", TextChannels.WhatsApp);
        var accepted = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        Assert.Equal(200, sent.HttpStatus);

        await page.WaitForFunctionAsync("() => window.received.some(e => e.kind === 'message.received')", null, new() { Timeout = 5_000 });
        var arrived = await page.EvaluateAsync<long>("() => window.received.find(e => e.kind === 'message.received').at");
        Assert.True(arrived - accepted < 1_000, $"The event reached instance B's browser {arrived - accepted} ms after instance A accepted the webhook.");
        await Assertions.Expect(page.Locator("#case-rows tr").First).ToContainTextAsync("whatsapp");
    }
}
