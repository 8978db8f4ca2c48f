using Dapper;
using Microsoft.Playwright;
using WsrHotline.Intake;
using WsrHotline.LiveEvents;
using WsrHotline.Tests.Infrastructure;
using WsrHotline.Tests.Voice;

namespace WsrHotline.Tests.LiveConsole;

/// <summary>The coordinators' dashboard in Debian's Chromium: what a coordinator sees, filters, export, drill-down, live refresh.</summary>
public sealed class DashboardBrowserTests(ConsoleBrowser browser) : IClassFixture<ConsoleBrowser>
{
    private const string Password = "correct horse battery";

    private static async Task<(long Id, string CaseNumber)> ComplaintWithClockAsync(VoiceScenario scenario, string language, TimeSpan dueIn)
    {
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        var caseNumber = CaseNumbers.NewCaseNumber();
        var id = await connection.ExecuteScalarAsync<long>("""
            INSERT INTO complaints (case_number, pin_hash, channel, language_code, opened_at, last_activity_at)
            VALUES (@caseNumber, 'x', 'sms', @language, now() - interval '3 days', now() - interval '3 days') RETURNING id
            """, new { caseNumber, language });
        await connection.ExecuteAsync("""
            INSERT INTO deadlines (complaint_id, kind, starts_at, due_at) VALUES (@id, 'first_contact', now() - interval '3 days', now() + @dueIn)
            """, new { id, dueIn });
        return (id, caseNumber);
    }

    [Fact]
    public async Task A_coordinator_sees_breached_and_due_clocks_filters_them_exports_them_and_drills_down_to_the_case()
    {
        await using var scenario = await VoiceScenario.StartAsync();
        await ConsoleBrowser.CreateStaffAsync(scenario.DataSource, "ana@test.example", "coordinator", Password, "es", "en");
        var breached = await ComplaintWithClockAsync(scenario, "es", TimeSpan.FromHours(-2));
        var due = await ComplaintWithClockAsync(scenario, "bn", TimeSpan.FromHours(5));

        var page = await browser.OpenConsoleAsync(scenario.Hotline.BaseUrl, "ana@test.example", Password, presence: null);
        await page.GotoAsync("/dashboard");
        await page.WaitForSelectorAsync("body[data-ready=true]", new() { Timeout = 15_000 });

        await Assertions.Expect(page.Locator("#tile-breached .tile-value")).ToHaveTextAsync("1");
        await Assertions.Expect(page.Locator("#tile-breached")).ToHaveClassAsync(new System.Text.RegularExpressions.Regex("alarm"));
        var breachedTable = page.GetByRole(AriaRole.Table, new() { Name = "Breached clocks" });
        await Assertions.Expect(breachedTable).ToContainTextAsync(breached.CaseNumber);
        await Assertions.Expect(page.GetByRole(AriaRole.Table, new() { Name = "Clocks due in the next 24 hours" })).ToContainTextAsync(due.CaseNumber);

        // Filtering by Bengali leaves the Spanish breach out.
        await page.GetByLabel("Language").SelectOptionAsync("bn");
        await Assertions.Expect(page.Locator("#tile-breached .tile-value")).ToHaveTextAsync("0");
        var csv = await page.EvaluateAsync<string>("() => fetch(document.getElementById('export').href).then(r => r.text())");
        Assert.Contains(due.CaseNumber, csv, StringComparison.Ordinal);
        Assert.DoesNotContain(breached.CaseNumber, csv, StringComparison.Ordinal);
        await page.GetByLabel("Language").SelectOptionAsync("");

        // Opened in the last 30 days: the breach of a complaint opened 40 days ago is left out, in the export too.
        await using (var connection = await scenario.DataSource.OpenConnectionAsync())
        {
            await connection.ExecuteAsync("UPDATE complaints SET opened_at = now() - interval '40 days' WHERE id = @Id", new { breached.Id });
        }
        await page.GetByLabel("Opened").SelectOptionAsync("30");
        await Assertions.Expect(page.Locator("#tile-breached .tile-value")).ToHaveTextAsync("0");
        csv = await page.EvaluateAsync<string>("() => fetch(document.getElementById('export').href).then(r => r.text())");
        Assert.Contains(due.CaseNumber, csv, StringComparison.Ordinal);
        Assert.DoesNotContain(breached.CaseNumber, csv, StringComparison.Ordinal);
        await page.GetByLabel("Opened").SelectOptionAsync("");

        // Live: a clock that breaches shows up without a reload once the hub says the dashboard changed.
        var late = await ComplaintWithClockAsync(scenario, "es", TimeSpan.FromMinutes(-1));
        await using (var connection = await scenario.DataSource.OpenConnectionAsync())
        {
            await ConsoleEvents.AppendAsync(connection, null, ConsoleEventKinds.Dashboard, Audience.Coordinators, late.Id, new { reason = "test" }, CancellationToken.None);
        }
        await Assertions.Expect(page.Locator("#tile-breached .tile-value")).ToHaveTextAsync("2");

        await breachedTable.GetByRole(AriaRole.Link, new() { Name = breached.CaseNumber }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = $"Case {breached.CaseNumber}" })).ToBeVisibleAsync();
    }

    [Fact]
    public async Task The_queue_shows_a_bengali_call_waiting_and_the_covered_now_tile_names_bengali_until_a_speaker_is_on_the_phone_rota()
    {
        await using var scenario = await VoiceScenario.StartAsync();
        await ConsoleBrowser.CreateStaffAsync(scenario.DataSource, "ana@test.example", "coordinator", Password, "es", "en");
        // Rahima speaks Bengali but has no console open and no shift: nobody can take a Bengali call now.
        var rahima = await ConsoleBrowser.CreateStaffAsync(scenario.DataSource, "rahima@test.example", "investigator", Password, "bn");
        await using (var connection = await scenario.DataSource.OpenConnectionAsync())
        {
            await connection.ExecuteAsync("""
                INSERT INTO calls (call_sid, direction, language_code, status, status_rank, stage, console_offered_at)
                VALUES ('CAqueuedbengali', 'inbound', 'bn', 'in-progress', 4, 'connect', now() - interval '75 seconds')
                """);
        }

        var page = await browser.OpenConsoleAsync(scenario.Hotline.BaseUrl, "ana@test.example", Password, presence: null);
        await page.GotoAsync("/dashboard");
        await page.WaitForSelectorAsync("body[data-ready=true]", new() { Timeout = 15_000 });

        var coveredNow = page.Locator("#tile-covered-now");
        await Assertions.Expect(coveredNow).ToHaveClassAsync(new System.Text.RegularExpressions.Regex("alarm"));
        await Assertions.Expect(coveredNow).ToContainTextAsync("Bengali");
        await Assertions.Expect(coveredNow).ToContainTextAsync("not covered now");
        var queue = page.GetByRole(AriaRole.Table, new() { Name = "Calls waiting and who speaks each language, now" });
        var bengali = queue.GetByRole(AriaRole.Row).Filter(new() { HasText = "Bengali" });
        var cells = bengali.GetByRole(AriaRole.Cell);
        await Assertions.Expect(cells.Nth(1)).ToHaveTextAsync("1");
        await Assertions.Expect(cells.Nth(2)).ToHaveTextAsync(new System.Text.RegularExpressions.Regex(@"^1 min \d+ s$"));
        await Assertions.Expect(cells.Nth(7)).ToContainTextAsync("rahima");
        await Assertions.Expect(cells.Nth(8)).ToHaveTextAsync("not covered");
        await Assertions.Expect(page.Locator("#tile-waiting .tile-value")).ToHaveTextAsync("1");

        // Live: Rahima goes on Bengali's phone rota; the presence event redraws the dashboard, which no longer names Bengali.
        await using (var connection = await scenario.DataSource.OpenConnectionAsync())
        {
            await connection.ExecuteAsync("""
                UPDATE staff SET phone_e164 = '+15555550311' WHERE id = @rahima;
                INSERT INTO oncall_shifts (staff_id, language_code, tier, starts_at, ends_at, time_zone)
                VALUES (@rahima, 'bn', 1, now() - interval '1 minute', now() + interval '2 hours', 'Asia/Dhaka');
                """, new { rahima });
            await ConsoleEvents.AppendAsync(connection, null, ConsoleEventKinds.Presence, Audience.All, null, new { staffId = rahima }, CancellationToken.None);
        }
        await Assertions.Expect(cells.Nth(8)).ToHaveTextAsync("yes");
        await Assertions.Expect(coveredNow).Not.ToContainTextAsync("Bengali");
        await Assertions.Expect(cells.Nth(7)).ToContainTextAsync("rahima (phone shift)");
    }

    [Fact]
    public async Task A_failing_delivery_names_its_case_by_the_case_number()
    {
        await using var scenario = await VoiceScenario.StartAsync();
        await ConsoleBrowser.CreateStaffAsync(scenario.DataSource, "ana@test.example", "coordinator", Password, "es");
        var complaint = await ComplaintWithClockAsync(scenario, "es", TimeSpan.FromHours(-2));
        await using (var connection = await scenario.DataSource.OpenConnectionAsync())
        {
            await connection.ExecuteAsync("""
                INSERT INTO escalations (complaint_id, level, channel, status, attempts, last_error)
                VALUES (@Id, 'coordinator_alert', 'email', 'failed', 2, 'SMTP 451')
                """, new { complaint.Id });
        }

        var page = await browser.OpenConsoleAsync(scenario.Hotline.BaseUrl, "ana@test.example", Password, presence: null);
        await page.GotoAsync("/dashboard");
        await page.WaitForSelectorAsync("body[data-ready=true]", new() { Timeout = 15_000 });

        var failing = page.GetByRole(AriaRole.Table, new() { Name = "Deliveries failing or dead" });
        await Assertions.Expect(failing.GetByRole(AriaRole.Link, new() { Name = complaint.CaseNumber })).ToBeVisibleAsync();
        Assert.DoesNotContain("#" + complaint.Id, await failing.InnerTextAsync(), StringComparison.Ordinal);
    }
}
