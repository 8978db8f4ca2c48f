using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Dapper;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using WsrHotline.Dashboard;
using WsrHotline.Staff;
using WsrHotline.Tests.Infrastructure;

namespace WsrHotline.Tests.Escalation;

public sealed class DashboardTests
{
    [Fact]
    public async Task The_dashboard_figures_count_what_the_coordinators_need_to_see()
    {
        await using var scenario = await EscalationScenario.StartAsync();
        var a = await scenario.SeedComplaintAsync(suffix: "1");
        var b = await scenario.SeedComplaintAsync(severity: "retaliation", suffix: "2");
        var c = await scenario.SeedComplaintAsync(supplierStatus: "outside_program", suffix: "3");
        var queries = scenario.App.Services.GetRequiredService<DashboardQueries>();
        var all = new DashboardFilter();

        // Fresh: within 24 hours only the acknowledgements (1 h; retaliation 30 min) and the retaliation
        // case's first contact (4 h); within 25 hours the standard first contacts (24 h) and the retaliation
        // case's investigation (24 h) too.
        var due = await queries.DueSoonAsync(all, TimeSpan.FromHours(24), CancellationToken.None);
        Assert.Equal(4, due.Total);
        Assert.Equal((b.Id, "acknowledged"), (due.Clocks[0].ComplaintId, due.Clocks[0].Kind));
        Assert.Equal(7, (await queries.DueSoonAsync(all, TimeSpan.FromHours(25), CancellationToken.None)).Total);
        Assert.Equal(3, (await queries.DueSoonAsync(all with { Severity = "retaliation" }, TimeSpan.FromHours(25), CancellationToken.None)).Total);

        // Eight days later: a is resolved on day 8, b and c stall; their clocks have breached.
        scenario.Time.Advance(TimeSpan.FromDays(8));
        await EscalationLadderTests.Move(scenario, a.Id, "resolved");
        await using (var connection = await scenario.DataSource.OpenConnectionAsync())
        {
            await connection.ExecuteAsync("UPDATE complaints SET last_activity_at = @old WHERE id = ANY(@ids)",
                new { old = scenario.Time.GetUtcNow() - TimeSpan.FromDays(8), ids = new[] { b.Id, c.Id } });
        }
        await scenario.Sweep.SweepAsync(CancellationToken.None);
        var breached = await queries.BreachedAsync(all, CancellationToken.None);
        Assert.DoesNotContain(breached.Clocks, k => k.ComplaintId == a.Id);
        Assert.Equal(breached.Total, breached.Clocks.Count);
        Assert.Equal(breached.Total, (await queries.BreachedAsync(all with { Language = "es" }, CancellationToken.None)).Total);
        Assert.Equal(0, (await queries.BreachedAsync(all with { Language = "bn" }, CancellationToken.None)).Total);
        Assert.Contains(breached.Clocks, k => k.ComplaintId == b.Id && k.Kind == "resolved" && k.EscalatedAt is not null);
        var stalled = await queries.StalledAsync(all, 7, CancellationToken.None);
        Assert.Equal([b.Id, c.Id], stalled.Complaints.Select(s => s.ComplaintId).Order());

        // Counted live, then from the snapshot the job refreshes: the same figures.
        for (var pass = 0; pass < 2; pass++)
        {
            var counts = await queries.CountsAsync(all, CancellationToken.None);
            Assert.Equal(pass == 1, counts.AsOf is not null);
            Assert.Equal(2, counts.ByStatus.Single(s => s.Key == "received").Value);
            Assert.Equal(1, counts.ByStatus.Single(s => s.Key == "resolved").Value);
            Assert.Equal(1, counts.BySeverity.Single(s => s.Key == "retaliation").Value);
            Assert.Equal(("Spanish", 3), counts.ByLanguage.Select(l => (l.Label, l.Value)).Single());
            Assert.Equal(3, counts.ByProvision.Single().Value);
            Assert.Equal(2, counts.BySupplier.Single(s => s.Label == "Sunny Acres Farm participating").Value);
            Assert.Equal(1, (await queries.CountsAsync(all with { Severity = "retaliation" }, CancellationToken.None)).ByProvision.Single().Value);

            var resolution = await queries.ResolutionTimesAsync(all, 90, CancellationToken.None);
            Assert.Equal((1, 8.0, 1, 1), (resolution.Resolved, Math.Round(resolution.MedianDays!.Value, 1), resolution.WithinFourteenDays, resolution.WithinThirtyDays));
            var outsideProgram = Assert.Single(await queries.OutsideProgramAsync(all, CancellationToken.None));
            Assert.Equal(("Sunny Acres Farm outside_program", 1), (outsideProgram.Supplier, outsideProgram.Complaints));
            await queries.RefreshSnapshotAsync(CancellationToken.None);
        }

        // b (retaliation) went to FreshMart after its 7-day resolution and 1-day grace: 1 escalation (2 contacts) pending.
        var escalations = await queries.EscalationsByBuyerAsync(all, CancellationToken.None);
        Assert.Contains(escalations, e => e.Buyer == "FreshMart" && e.Status == "pending" && e.Count >= 1);

        using var csv = new StringWriter();
        await queries.WriteCsvAsync(all, csv, CancellationToken.None);
        var lines = csv.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(4, lines.Length);
        Assert.StartsWith("complaint_id,case_number", lines[0], StringComparison.Ordinal);
        foreach (var secret in new[] { a.WorkerNumber, a.WorkerName, a.Words, a.PrivateNote })
        {
            Assert.DoesNotContain(secret, csv.ToString(), StringComparison.Ordinal);
        }
        Assert.Equal("'=cmd", DashboardQueries.Csv("=cmd"));
        Assert.Equal("\"a,\"\"b\"\"\"", DashboardQueries.Csv("a,\"b\""));
    }

    [Fact]
    public async Task Counts_filtered_by_opening_dates_read_whole_months_and_days_from_the_snapshot_and_count_the_partial_days_live()
    {
        await using var scenario = await EscalationScenario.StartAsync();
        var a = await scenario.SeedComplaintAsync(suffix: "1");
        var b = await scenario.SeedComplaintAsync(severity: "retaliation", suffix: "2");
        var c = await scenario.SeedComplaintAsync(suffix: "3");
        var day = new DateTimeOffset(2026, 3, 1, 0, 0, 0, TimeSpan.Zero);
        await using (var connection = await scenario.DataSource.OpenConnectionAsync())
        {
            // a on 1 March 10:00, b on 2 March 15:00, c on 3 March 08:00 (UTC).
            await connection.ExecuteAsync("""
                UPDATE complaints SET opened_at = @a WHERE id = @aId;
                UPDATE complaints SET opened_at = @b WHERE id = @bId;
                UPDATE complaints SET opened_at = @c WHERE id = @cId;
                """, new { a = day.AddHours(10), aId = a.Id, b = day.AddHours(24 + 15), bId = b.Id, c = day.AddHours(48 + 8), cId = c.Id });
        }
        var queries = scenario.App.Services.GetRequiredService<DashboardQueries>();
        await queries.RefreshSnapshotAsync(CancellationToken.None);

        async Task<(int Total, int Retaliation, int Provision31, DateTime? AsOf)> CountAsync(DateTimeOffset? from, DateTimeOffset? to)
        {
            var counts = await queries.CountsAsync(new DashboardFilter(OpenedFrom: from, OpenedTo: to), CancellationToken.None);
            return (counts.ByStatus.Sum(s => s.Value), counts.BySeverity.SingleOrDefault(s => s.Key == "retaliation")?.Value ?? 0,
                counts.ByProvision.SingleOrDefault()?.Value ?? 0, counts.AsOf);
        }

        // Whole days only: all from the snapshot.
        var wholeDays = await CountAsync(day, day.AddDays(2));
        Assert.Equal((2, 1, 2), (wholeDays.Total, wholeDays.Retaliation, wholeDays.Provision31));
        Assert.NotNull(wholeDays.AsOf);
        // Partial days at both edges: 1 March from noon (a is before it) to 3 March 09:00 (c is before it).
        var edges = await CountAsync(day.AddHours(12), day.AddHours(48 + 9));
        Assert.Equal((2, 1, 2), (edges.Total, edges.Retaliation, edges.Provision31));
        Assert.Equal(1, (await CountAsync(day.AddHours(12), day.AddHours(48 + 7))).Total);
        // Within one day (all live), open-ended each way, and an empty range.
        var withinOneDay = await CountAsync(day.AddHours(24 + 14), day.AddHours(24 + 16));
        Assert.Equal((1, 1, (DateTime?)null), (withinOneDay.Total, withinOneDay.Retaliation, withinOneDay.AsOf));
        Assert.Equal(2, (await CountAsync(day.AddHours(24), null)).Total);
        Assert.Equal(1, (await CountAsync(null, day.AddHours(24))).Total);
        Assert.Equal(0, (await CountAsync(day.AddHours(30), day.AddHours(30))).Total);
        // Whole months (March) and the whole days before them (from 19 February).
        var months = await CountAsync(day.AddDays(-10), day.AddMonths(1));
        Assert.Equal((3, 1, 3), (months.Total, months.Retaliation, months.Provision31));
        Assert.Equal(0, (await CountAsync(day.AddMonths(1), null)).Total);
        // The other filters still apply to the pre-counted days and the live edges.
        var retaliationOnly = await queries.CountsAsync(
            new DashboardFilter(Severity: "retaliation", OpenedFrom: day.AddHours(12), OpenedTo: day.AddDays(3)), CancellationToken.None);
        Assert.Equal(1, retaliationOnly.ByStatus.Sum(s => s.Value));

        // A change to a counted dimension shows after the next refresh (the triggers note b's day).
        await using (var connection = await scenario.DataSource.OpenConnectionAsync())
        {
            await connection.ExecuteAsync("UPDATE complaints SET severity = 'standard' WHERE id = @Id", new { b.Id });
            await connection.ExecuteAsync("DELETE FROM complaint_provisions WHERE complaint_id = @Id", new { c.Id });
        }
        Assert.Equal(1, (await CountAsync(day, day.AddDays(3))).Retaliation);
        await queries.RefreshSnapshotAsync(CancellationToken.None);
        var refreshed = await CountAsync(day, day.AddDays(3));
        Assert.Equal((3, 0, 2), (refreshed.Total, refreshed.Retaliation, refreshed.Provision31));
        var refreshedMonth = await CountAsync(day, day.AddMonths(1));
        Assert.Equal((3, 0, 2), (refreshedMonth.Total, refreshedMonth.Retaliation, refreshedMonth.Provision31));
        Assert.Equal(0, (await queries.CountsAsync(new DashboardFilter(Severity: "retaliation"), CancellationToken.None)).ByStatus.Sum(s => s.Value));
    }

    [Fact]
    public void An_opening_date_range_splits_into_whole_months_whole_days_and_partial_edges()
    {
        var march = new DateTimeOffset(2026, 3, 1, 0, 0, 0, TimeSpan.Zero);
        var aligned = DashboardQueries.OpeningPeriods.Of(march, march.AddMonths(2));
        Assert.Equal(((DateTime?)new DateTime(2026, 3, 1), (DateTime?)new DateTime(2026, 5, 1)), aligned.Months);
        Assert.Empty(aligned.Days);
        Assert.Empty(aligned.Edges);

        // 20 Feb 06:00 to 10 May 02:00: 20 Feb counted live from 06:00, 21–28 Feb by day, March and April
        // by month, 1–9 May by day, 10 May live until 02:00.
        var ragged = DashboardQueries.OpeningPeriods.Of(march.AddDays(-9).AddHours(6), march.AddMonths(2).AddDays(9).AddHours(2));
        Assert.Equal(((DateTime?)new DateTime(2026, 3, 1), (DateTime?)new DateTime(2026, 5, 1)), ragged.Months);
        Assert.Equal([(new DateTime(2026, 2, 21), new DateTime(2026, 3, 1)), (new DateTime(2026, 5, 1), new DateTime(2026, 5, 10))], ragged.Days);
        Assert.Equal([(march.AddDays(-9).AddHours(6), march.AddDays(-8)), (march.AddMonths(2).AddDays(9), march.AddMonths(2).AddDays(9).AddHours(2))], ragged.Edges);

        // Within one month: days only; open-ended: months without an end.
        var inMarch = DashboardQueries.OpeningPeriods.Of(march.AddDays(4), march.AddDays(20));
        Assert.Null(inMarch.Months);
        Assert.Equal([(new DateTime(2026, 3, 5), new DateTime(2026, 3, 21))], inMarch.Days);
        var lastThirtyDays = DashboardQueries.OpeningPeriods.Of(march.AddDays(-30).AddHours(15), null);
        Assert.Equal(((DateTime?)new DateTime(2026, 2, 1), (DateTime?)null), lastThirtyDays.Months);
        Assert.Equal([(march.AddDays(-30).AddHours(15), march.AddDays(-29))], lastThirtyDays.Edges);

        // Days are UTC days, whatever the offset of the bounds.
        var offset = DashboardQueries.OpeningPeriods.Of(new DateTimeOffset(2026, 3, 1, 19, 0, 0, TimeSpan.FromHours(-5)), null);
        Assert.Equal(((DateTime?)new DateTime(2026, 3, 2), (DateTime?)new DateTime(2026, 4, 1)), (offset.Days.Single().From, offset.Months!.Value.From));
        Assert.Empty(offset.Edges);

        var withinOneDay = DashboardQueries.OpeningPeriods.Of(march.AddHours(1), march.AddHours(2));
        Assert.Equal((null, 0), (withinOneDay.Months, withinOneDay.Days.Count));
        Assert.Equal([(march.AddHours(1), march.AddHours(2))], withinOneDay.Edges);
    }

    [Fact]
    public async Task The_dashboard_api_answers_coordinators_only()
    {
        await using var scenario = await EscalationScenario.StartAsync();
        await using (var connection = await scenario.DataSource.OpenConnectionAsync())
        {
            foreach (var (email, role) in new[] { ("ines@hotline.test", "investigator"), ("cora@hotline.test", "coordinator") })
            {
                var id = await connection.ExecuteScalarAsync<int>(
                    "INSERT INTO staff (email, display_name, role) VALUES (@email, @email, @role) RETURNING id", new { email, role });
                await connection.ExecuteAsync("UPDATE staff SET password_hash = @hash WHERE id = @id",
                    new { id, hash = StaffPasswords.Hash(new StaffMember(id, email), "correct horse battery") });
            }
        }
        using var signedOut = scenario.App.CreateClient();
        Assert.Equal(HttpStatusCode.Unauthorized, (await signedOut.GetAsync(new Uri("/dashboard/api/counts", UriKind.Relative))).StatusCode);
        using var investigator = await SignedInAsync(scenario, "ines@hotline.test");
        Assert.Equal(HttpStatusCode.Forbidden, (await investigator.GetAsync(new Uri("/dashboard/api/counts", UriKind.Relative))).StatusCode);
        using var coordinator = await SignedInAsync(scenario, "cora@hotline.test");
        var counts = await coordinator.GetAsync(new Uri("/dashboard/api/counts?language=es", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, counts.StatusCode);
        Assert.Contains("\"byStatus\"", await counts.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var export = await coordinator.GetAsync(new Uri("/dashboard/api/export.csv", UriKind.Relative));
        Assert.Equal("text/csv", export.Content.Headers.ContentType!.MediaType);
        Assert.StartsWith("complaint_id,", await export.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_queue_view_counts_the_calls_waiting_per_language_and_who_speaks_it_by_state_and_covers_it_now()
    {
        await using var scenario = await EscalationScenario.StartAsync();
        var now = scenario.Time.GetUtcNow();
        var data = scenario.DataSource;
        await StaffSession.CreateStaffAsync(data, "cora@hotline.test", "coordinator", password: "correct horse battery", languages: ["es"]);
        async Task<int> BengaliAsync(string name, string? status, string? activity, DateTimeOffset? wrapUpUntil, DateTimeOffset? consoleSeen, bool active = true)
        {
            var id = await StaffSession.CreateStaffAsync(data, name.ToLowerInvariant() + "@hotline.test", "investigator", languages: ["bn"], displayName: name);
            await using var connection = await data.OpenConnectionAsync();
            await connection.ExecuteAsync("""
                UPDATE staff SET active = @active WHERE id = @id;
                INSERT INTO staff_presence (staff_id, status, activity, wrap_up_until)
                    SELECT @id, @status, coalesce(@activity, 'idle'), @wrapUpUntil WHERE @status::text IS NOT NULL;
                INSERT INTO console_connections (connection_id, staff_id, instance_id, last_seen_at)
                    SELECT 'test-' || @id, @id, 'test', @consoleSeen WHERE @consoleSeen::timestamptz IS NOT NULL;
                """, new { id, active, status, activity, wrapUpUntil, consoleSeen });
            return id;
        }
        async Task<long> CallAsync(string language, string stage, DateTimeOffset? waitingSince, int? answeredBy = null, bool ended = false)
        {
            await using var connection = await data.OpenConnectionAsync();
            return await connection.ExecuteScalarAsync<long>("""
                INSERT INTO calls (call_sid, direction, language_code, status, status_rank, stage, answered_by, console_offered_at, started_at,
                                   voicemail_at)
                VALUES ('CA' || md5(random()::text), 'inbound', @language, CASE WHEN @ended THEN 'completed' ELSE 'in-progress' END,
                        CASE WHEN @ended THEN 5 ELSE 4 END, @stage, @answeredBy, @waitingSince, @started,
                        CASE WHEN @stage = 'voicemail' THEN @started END)
                RETURNING id
                """, new { language, stage, answeredBy, waitingSince, ended, started = now.AddMinutes(-3) });
        }

        var fresh = now.AddSeconds(-10);
        var nasima = await BengaliAsync("Nasima", "available", "on_call", null, null);
        await BengaliAsync("Farid", "available", "wrap_up", now.AddSeconds(60), null);
        // A wrap-up whose time ran out counts as free: Jahid is what he chose.
        await BengaliAsync("Jahid", "busy", "wrap_up", now.AddSeconds(-5), fresh);
        await BengaliAsync("Rupa", "away", null, null, fresh);
        // Chose available, but the console has not been seen for 90 s; his phone shift ended a minute ago.
        var sumon = await BengaliAsync("Sumon", "available", null, null, now.AddSeconds(-90));
        // On a phone shift now, but with no phone to ring.
        var mitu = await BengaliAsync("Mitu", null, null, null, null);
        await BengaliAsync("Karim", "available", null, null, fresh, active: false);
        var carlos = await StaffSession.CreateStaffAsync(data, "carlos@hotline.test", "investigator", languages: ["es"], displayName: "Carlos");
        await using (var connection = await data.OpenConnectionAsync())
        {
            await connection.ExecuteAsync("""
                UPDATE staff SET phone_e164 = '+15555550301' WHERE id = @sumon;
                INSERT INTO oncall_shifts (staff_id, language_code, tier, starts_at, ends_at, time_zone) VALUES
                    (@sumon, 'bn', 1, @now - interval '3 hours', @now - interval '1 minute', 'America/New_York'),
                    (@mitu, 'bn', 1, @now - interval '1 hour', @now + interval '1 hour', 'America/New_York');
                INSERT INTO staff_presence (staff_id, status) VALUES (@carlos, 'available');
                INSERT INTO console_connections (connection_id, staff_id, instance_id, last_seen_at) VALUES ('test-carlos', @carlos, 'test', @fresh);
                """, new { sumon, mitu, carlos, now, fresh });
        }
        await CallAsync("bn", "connect", now.AddSeconds(-95));
        await CallAsync("bn", "connect", now.AddSeconds(-20));
        // Its first wait request has not come yet: waiting, for no time so far.
        await CallAsync("bn", "connect", null);
        var taken = await CallAsync("bn", "connect", now.AddSeconds(-200), answeredBy: nasima);
        await CallAsync("bn", "voicemail", now.AddSeconds(-300));
        await CallAsync("bn", "connect", now.AddSeconds(-400), ended: true);
        await using (var connection = await data.OpenConnectionAsync())
        {
            await connection.ExecuteAsync("UPDATE staff_presence SET activity_call_id = @taken WHERE staff_id = @nasima", new { taken, nasima });
        }

        using var coordinator = await SignedInAsync(scenario, "cora@hotline.test");
        async Task<QueueNow> QueueAsync()
        {
            var response = await coordinator.GetAsync(new Uri("/dashboard/api/queue", UriKind.Relative));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return (await response.Content.ReadFromJsonAsync<QueueNow>(JsonSerializerOptions.Web))!;
        }
        static Dictionary<string, string[]> ByState(QueueLanguage language) =>
            language.Staff.GroupBy(s => s.State).ToDictionary(g => g.Key, g => g.Select(s => s.DisplayName).ToArray());

        // Scenario time moves on: the waits are measured with the app's clock.
        scenario.Time.Advance(TimeSpan.FromSeconds(30));
        var queue = await QueueAsync();
        Assert.Equal(["Bengali", "English", "Haitian Creole", "Spanish"], queue.Languages.Select(l => l.Name));
        var bengali = queue.Languages.Single(l => l.LanguageCode == "bn");
        Assert.Equal((3, (int?)125, false), (bengali.Waiting, bengali.LongestWaitSeconds, bengali.CoveredNow));
        var states = ByState(bengali);
        Assert.Equal(["away", "busy", "offline", "on_call", "wrap_up"], states.Keys.Order());
        Assert.Equal(["Jahid"], states["busy"]);
        Assert.Equal(["Rupa"], states["away"]);
        Assert.Equal(["Mitu", "Sumon"], states["offline"]);
        Assert.Equal(["Nasima"], states["on_call"]);
        Assert.Equal(["Farid"], states["wrap_up"]);
        Assert.DoesNotContain(bengali.Staff, s => s.OnPhoneShift);
        var spanish = queue.Languages.Single(l => l.LanguageCode == "es");
        Assert.Equal((0, (int?)null, true), (spanish.Waiting, spanish.LongestWaitSeconds, spanish.CoveredNow));
        Assert.Equal(["Carlos"], ByState(spanish)["available"]);
        // The coordinator signed in over HTTP, with no console open, is offline.
        Assert.Equal(["cora"], ByState(spanish)["offline"]);
        Assert.False(queue.Languages.Single(l => l.LanguageCode == "en").CoveredNow);

        // Sumon, offline, is on Bengali's phone rota from now: the phone tiers would ring him.
        await using (var connection = await data.OpenConnectionAsync())
        {
            await connection.ExecuteAsync("""
                INSERT INTO oncall_shifts (staff_id, language_code, tier, starts_at, ends_at, time_zone)
                VALUES (@sumon, 'bn', 2, @now, @now + interval '2 hours', 'America/New_York')
                """, new { sumon, now = scenario.Time.GetUtcNow() });
        }
        bengali = (await QueueAsync()).Languages.Single(l => l.LanguageCode == "bn");
        Assert.True(bengali.CoveredNow);
        var onShift = Assert.Single(bengali.Staff, s => s.OnPhoneShift);
        Assert.Equal(("Sumon", "offline"), (onShift.DisplayName, onShift.State));
    }

    /// <summary>Signs in through the real sign-in page (antiforgery token and cookie).</summary>
    private static async Task<HttpClient> SignedInAsync(EscalationScenario scenario, string email)
    {
        var client = scenario.App.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });
        var page = await client.GetStringAsync(new Uri("/signin", UriKind.Relative));
        var token = Regex.Match(page, "name=\"__RequestVerificationToken\" value=\"([^\"]+)\"").Groups[1].Value;
        using var form = new FormUrlEncodedContent([
            KeyValuePair.Create("email", email), KeyValuePair.Create("password", "correct horse battery"),
            KeyValuePair.Create("__RequestVerificationToken", WebUtility.HtmlDecode(token))]);
        var signedIn = await client.PostAsync(new Uri("/signin", UriKind.Relative), form);
        Assert.True(signedIn.StatusCode is HttpStatusCode.Redirect or HttpStatusCode.Found or HttpStatusCode.SeeOther, signedIn.StatusCode.ToString());
        return client;
    }
}
