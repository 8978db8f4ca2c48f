using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using WsrHotline.Escalation;
using WsrHotline.Intake;
using WsrHotline.Tests.Infrastructure;
using WsrHotline.Tests.Voice;

namespace WsrHotline.Tests.LiveConsole;

/// <summary>
/// Clocks where investigators work, in Chromium: the case list and the case page show each open clock
/// with its due time, time left and a mark in words; zero-tolerance and retaliation cases stand out; the
/// sweep's warning and breach reach the assigned investigator's console live, naming the case by its number.
/// </summary>
public sealed class ConsoleClocksTests(ConsoleBrowser browser) : IClassFixture<ConsoleBrowser>
{
    private const string Password = "correct horse battery";

    private static async Task<(long Id, string CaseNumber)> CaseAsync(VoiceScenario scenario, string severity, int? assignedTo,
        string kind, TimeSpan startedAgo, TimeSpan dueIn)
    {
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        var caseNumber = CaseNumbers.NewCaseNumber();
        var id = await connection.ExecuteScalarAsync<long>("""
            INSERT INTO complaints (case_number, pin_hash, channel, language_code, severity, assigned_staff_id)
            VALUES (@caseNumber, 'x', 'sms', 'es', @severity, @assignedTo) RETURNING id
            """, new { caseNumber, severity, assignedTo });
        await connection.ExecuteAsync("""
            INSERT INTO deadlines (complaint_id, kind, starts_at, due_at, next_check_at)
            VALUES (@id, @kind, now() - @startedAgo, now() + @dueIn, now() - interval '1 second')
            """, new { id, kind, startedAgo, dueIn });
        return (id, caseNumber);
    }

    [Fact]
    public async Task Open_clocks_show_in_the_list_and_on_the_case_and_a_warning_and_a_breach_reach_the_assigned_investigator_live()
    {
        await using var scenario = await VoiceScenario.StartAsync();
        var carlos = await ConsoleBrowser.CreateStaffAsync(scenario.DataSource, "carlos@test.example", "investigator", Password, "es");
        await ConsoleBrowser.CreateStaffAsync(scenario.DataSource, "lucia@test.example", "investigator", Password, "es");
        var page = await browser.OpenConsoleAsync(scenario.Hotline.BaseUrl, "carlos@test.example", Password);
        var colleague = await browser.OpenConsoleAsync(scenario.Hotline.BaseUrl, "lucia@test.example", Password);

        // Three quarters of an hour gone of the hour to acknowledge; and a zero-tolerance case already past due.
        var warned = await CaseAsync(scenario, "retaliation", carlos, "acknowledged", TimeSpan.FromMinutes(50), TimeSpan.FromMinutes(10));
        var breached = await CaseAsync(scenario, "zero_tolerance", carlos, "first_contact", TimeSpan.FromHours(25), TimeSpan.FromMinutes(-30));
        var quiet = await CaseAsync(scenario, "standard", null, "resolved", TimeSpan.FromDays(1), TimeSpan.FromDays(13));
        await page.ReloadAsync();
        await page.WaitForSelectorAsync("body[data-ready=true]");

        var quietRow = page.Locator($"#case-rows tr[data-case='{quiet.CaseNumber}']");
        await Assertions.Expect(quietRow).ToContainTextAsync("Resolution due");
        await Assertions.Expect(quietRow).ToContainTextAsync("days left");
        Assert.DoesNotContain("Zero tolerance", await quietRow.InnerTextAsync(), StringComparison.Ordinal);
        var breachedRow = page.Locator($"#case-rows tr[data-case='{breached.CaseNumber}']");
        // Past due: marked in words even before the sweep has run.
        await Assertions.Expect(breachedRow).ToContainTextAsync("BREACHED");
        await Assertions.Expect(breachedRow).ToContainTextAsync("overdue by 30 min");
        await Assertions.Expect(breachedRow.Locator(".mark.zero_tolerance")).ToHaveTextAsync("Zero tolerance");
        await Assertions.Expect(page.Locator($"#case-rows tr[data-case='{warned.CaseNumber}'] .mark.retaliation")).ToHaveTextAsync("Retaliation");

        var sweep = scenario.Hotline.Factory.Services.GetRequiredService<DeadlineSweep>();
        Assert.True(await sweep.SweepAsync(CancellationToken.None) >= 2);

        var notices = page.Locator("#notices");
        var warning = notices.Locator("li[data-kind='clock.warning']");
        await Assertions.Expect(warning).ToContainTextAsync($"Case {warned.CaseNumber}: Acknowledgement due ");
        await Assertions.Expect(warning).ToContainTextAsync("min left)");
        var breach = notices.Locator("li[data-kind='clock.breached']");
        await Assertions.Expect(breach).ToContainTextAsync($"Case {breached.CaseNumber}: First contact clock breached, it was due ");
        await Assertions.Expect(page.Locator($"#case-rows tr[data-case='{warned.CaseNumber}']")).ToContainTextAsync("WARNING");
        // The colleague is not assigned: neither reaches their console.
        Assert.Equal(0, await colleague.Locator("#notices li").CountAsync());

        await breach.GetByRole(AriaRole.Link).ClickAsync();
        var clocks = page.GetByRole(AriaRole.Region, new() { Name = "Clocks" });
        await Assertions.Expect(clocks).ToContainTextAsync("BREACHED First contact due");
        await Assertions.Expect(clocks).ToContainTextAsync("overdue by 30 min");
    }
}
