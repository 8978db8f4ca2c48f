using System.Net;
using System.Text.Json;
using Dapper;
using WsrHotline.Tests.Infrastructure;

namespace WsrHotline.Tests.LiveConsole;

/// <summary>
/// Case work through the console's API, signed in as real staff over real cookies and antiforgery
/// tokens: the lifecycle's rules, the timeline (who did what), classification, confidentiality,
/// assignment, revealing the number, restricted cases and the admins' page.
/// </summary>
public sealed class CaseWorkTests(CaseWorkApp app) : IClassFixture<CaseWorkApp>
{
    private static string Url(long id, string action) => $"/console/api/complaints/{id}/{action}";

    private static async Task AssertAnswer(HttpStatusCode expected, HttpResponseMessage response, string? detailContains = null)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(expected == response.StatusCode, $"Expected {(int)expected}, got {(int)response.StatusCode}: {body}");
        if (detailContains is not null)
        {
            Assert.Contains(detailContains, await StaffSession.ProblemDetailAsync(response), StringComparison.Ordinal);
        }
    }

    private static async Task MoveAsync(StaffSession who, long id, string status, string? text = null) =>
        await AssertAnswer(HttpStatusCode.NoContent, await who.PostJsonAsync(Url(id, "status"), new { status, text }));

    private Task<string> StatusAsync(long id) => app.ScalarAsync<string>("SELECT status FROM complaints WHERE id = @id", new { id });

    [Fact]
    public async Task The_lifecycle_runs_to_verified_each_move_on_the_timeline_with_the_staff_member_and_a_live_event()
    {
        var (id, _) = await app.OpenCaseAsync();

        foreach (var status in new[] { "acknowledged", "investigating", "resolution_proposed" })
        {
            await MoveAsync(app.North, id, status);
        }
        Assert.Null(await app.ScalarAsync<DateTime?>("SELECT closed_at FROM complaints WHERE id = @id", new { id }));
        await MoveAsync(app.North, id, "resolved", "Back pay of 3 weeks paid; supervisors trained on overtime rules.");
        Assert.NotNull(await app.ScalarAsync<DateTime?>("SELECT closed_at FROM complaints WHERE id = @id", new { id }));
        await MoveAsync(app.North, id, "verified");

        Assert.Equal("verified", await StatusAsync(id));
        var timeline = await app.StaffTimelineAsync(id);
        Assert.Equal(
            ["received>acknowledged", "acknowledged>investigating", "investigating>resolution_proposed", "resolution_proposed>resolved", "resolved>verified"],
            timeline.Select(t => { using var d = JsonDocument.Parse(t.Details); return $"{d.RootElement.GetProperty("from")}>{d.RootElement.GetProperty("to")}"; }));
        Assert.All(timeline, t => Assert.Equal(("complaint.status_changed", "staff", app.North.StaffId), (t.Kind, t.ActorKind, t.ActorStaffId)));
        Assert.DoesNotContain("Back pay", string.Concat(timeline.Select(t => t.Details)), StringComparison.Ordinal);
        var events = await app.ScalarAsync<long>("""
            SELECT count(*) FROM console_events WHERE complaint_id = @id AND kind = 'complaint.changed' AND audience = 'lang:es'
              AND payload->>'change' = 'status'
            """, new { id });
        Assert.Equal(5, events);
        // The clocks followed: each stage's clock met along the way, none left running on a verified case.
        Assert.Equal(0, await app.ScalarAsync<long>("SELECT count(*) FROM deadlines WHERE complaint_id = @id AND met_at IS NULL", new { id }));
        Assert.True(await app.ScalarAsync<long>("SELECT count(*) FROM case_timeline WHERE complaint_id = @id AND kind LIKE 'clock%'", new { id }) >= 5);
        Assert.True(await app.ScalarAsync<DateTime>("SELECT last_activity_at FROM complaints WHERE id = @id", new { id })
            > await app.ScalarAsync<DateTime>("SELECT opened_at FROM complaints WHERE id = @id", new { id }));
    }

    [Fact]
    public async Task A_move_the_lifecycle_does_not_have_is_refused_with_the_moves_it_has_and_changes_nothing()
    {
        var (id, _) = await app.OpenCaseAsync();

        await AssertAnswer(HttpStatusCode.Conflict, await app.North.PostJsonAsync(Url(id, "status"), new { status = "resolved", text = "done" }),
            "A case that is received cannot become resolved. From received it can become: acknowledged, not substantiated, rejected, referred.");
        await MoveAsync(app.North, id, "not_substantiated");
        await AssertAnswer(HttpStatusCode.Conflict, await app.North.PostJsonAsync(Url(id, "status"), new { status = "investigating" }),
            "A not substantiated case is final.");

        Assert.Equal("not_substantiated", await StatusAsync(id));
        Assert.Single(await app.StaffTimelineAsync(id));
    }

    [Theory]
    [InlineData("rejected", "A rejection needs its grounds")]
    [InlineData("referred", "A referral needs to say to whom")]
    public async Task A_side_exit_that_needs_a_text_is_refused_without_it_and_keeps_it_as_an_encrypted_note(string status, string refusal)
    {
        var (id, _) = await app.OpenCaseAsync();
        await MoveAsync(app.North, id, "acknowledged");

        await AssertAnswer(HttpStatusCode.BadRequest, await app.North.PostJsonAsync(Url(id, "status"), new { status, text = "  " }), refusal);
        Assert.Equal("acknowledged", await StatusAsync(id));

        const string text = "Derivado al mecanismo nacional de derivación (trata de personas)";
        await MoveAsync(app.North, id, status, text);

        Assert.Equal(status, await StatusAsync(id));
        Assert.NotNull(await app.ScalarAsync<DateTime?>("SELECT closed_at FROM complaints WHERE id = @id", new { id }));
        var stored = await app.ScalarAsync<string>("SELECT body_encrypted FROM case_notes WHERE complaint_id = @id", new { id });
        Assert.DoesNotContain("mecanismo", stored, StringComparison.Ordinal);
        var work = await app.North.GetJsonAsync<JsonElement>(Url(id, "casework"));
        var note = Assert.Single(work.GetProperty("notes").EnumerateArray());
        Assert.Equal(text, note.GetProperty("body").GetString());
        Assert.Equal(status == "rejected" ? "rejection_grounds" : "referral", note.GetProperty("kind").GetString());
    }

    [Fact]
    public async Task A_resolution_needs_its_outcome()
    {
        var (id, _) = await app.OpenCaseAsync();
        foreach (var status in new[] { "acknowledged", "investigating", "resolution_proposed" })
        {
            await MoveAsync(app.North, id, status);
        }

        await AssertAnswer(HttpStatusCode.BadRequest, await app.North.PostJsonAsync(Url(id, "status"), new { status = "resolved" }),
            "A resolution needs its outcome");
        Assert.Equal("resolution_proposed", await StatusAsync(id));
    }

    [Fact]
    public async Task Only_a_coordinator_reopens_a_resolved_case()
    {
        var (id, _) = await app.OpenCaseAsync();
        foreach (var status in new[] { "acknowledged", "investigating", "resolution_proposed" })
        {
            await MoveAsync(app.North, id, status);
        }
        await MoveAsync(app.North, id, "resolved", "Wages paid.");
        var offered = await app.North.GetJsonAsync<JsonElement>(Url(id, "casework"));
        Assert.Equal(["verified"], offered.GetProperty("transitions").EnumerateArray().Select(t => t.GetProperty("to").GetString()));

        await AssertAnswer(HttpStatusCode.Forbidden, await app.North.PostJsonAsync(Url(id, "status"), new { status = "investigating" }),
            "Only a coordinator can move a resolved case back to investigating.");
        await MoveAsync(app.Coordinator, id, "investigating");

        Assert.Equal("investigating", await StatusAsync(id));
        Assert.Null(await app.ScalarAsync<DateTime?>("SELECT closed_at FROM complaints WHERE id = @id", new { id }));
        var last = (await app.StaffTimelineAsync(id))[^1];
        Assert.Equal(("complaint.reopened", app.Coordinator.StaffId), (last.Kind, last.ActorStaffId));
    }

    [Fact]
    public async Task Revealing_the_number_is_recorded_with_who_before_it_is_shown_and_never_logged()
    {
        var (id, phone) = await app.OpenCaseAsync();

        using var response = await app.South.PostJsonAsync(Url(id, "reveal-number"));

        await AssertAnswer(HttpStatusCode.OK, response);
        Assert.Equal(phone, (await System.Net.Http.Json.HttpContentJsonExtensions.ReadFromJsonAsync<JsonElement>(response.Content)).GetProperty("phone").GetString());
        Assert.Equal("no-store", response.Headers.CacheControl?.ToString());
        var entry = Assert.Single(await app.StaffTimelineAsync(id));
        Assert.Equal(("caller.number_revealed", "staff", app.South.StaffId), (entry.Kind, entry.ActorKind, entry.ActorStaffId));
        Assert.DoesNotContain(app.Factory.Logs.Lines, line => line.Contains(phone[2..], StringComparison.Ordinal));
        Assert.Equal(0, await app.ScalarAsync<long>("SELECT count(*) FROM console_events WHERE payload::text LIKE '%' || @digits || '%'",
            new { digits = phone[2..] }));
    }

    [Fact]
    public async Task A_restricted_case_is_403_for_another_teams_investigator_and_opens_for_its_team_and_a_coordinator()
    {
        var (id, _) = await app.OpenCaseAsync();

        await AssertAnswer(HttpStatusCode.Forbidden, await app.North.PostJsonAsync(Url(id, "restriction"), new { team = "north" }));
        await AssertAnswer(HttpStatusCode.NoContent, await app.Coordinator.PostJsonAsync(Url(id, "restriction"), new { team = "north" }));

        using (var south = await app.South.GetAsync($"/console/api/complaints/{id}"))
        {
            Assert.Equal(HttpStatusCode.Forbidden, south.StatusCode);
        }
        await AssertAnswer(HttpStatusCode.Forbidden, await app.South.PostJsonAsync(Url(id, "notes"), new { body = "hola" }),
            "This case is restricted to another team");
        await AssertAnswer(HttpStatusCode.Forbidden, await app.South.PostJsonAsync(Url(id, "reveal-number")), "restricted to another team");
        await AssertAnswer(HttpStatusCode.Forbidden, await app.South.GetAsync(Url(id, "casework")));
        await AssertAnswer(HttpStatusCode.OK, await app.North.GetAsync($"/console/api/complaints/{id}"));
        await AssertAnswer(HttpStatusCode.OK, await app.Coordinator.GetAsync($"/console/api/complaints/{id}"));
        await AssertAnswer(HttpStatusCode.Conflict, await app.Coordinator.PostJsonAsync(Url(id, "assignment"), new { staffId = app.South.StaffId }),
            "Sam South cannot open this case: it is restricted to team north.");
        Assert.Equal(0, await app.ScalarAsync<long>("SELECT count(*) FROM case_notes WHERE complaint_id = @id", new { id }));
        var entry = Assert.Single(await app.StaffTimelineAsync(id));
        Assert.Equal(("complaint.restricted", app.Coordinator.StaffId), (entry.Kind, entry.ActorStaffId));
        await AssertAnswer(HttpStatusCode.NotFound, await app.North.PostJsonAsync(Url(999_999, "notes"), new { body = "x" }), "There is no case with id 999999.");
    }

    [Fact]
    public async Task A_change_without_the_antiforgery_token_is_refused_and_changes_nothing()
    {
        var (id, _) = await app.OpenCaseAsync();

        await AssertAnswer(HttpStatusCode.BadRequest, await app.North.PostJsonAsync(Url(id, "notes"), new { body = "hola" }, withCsrfToken: false),
            "security token");
        await AssertAnswer(HttpStatusCode.BadRequest, await app.North.PostJsonAsync(Url(id, "status"), new { status = "acknowledged" }, withCsrfToken: false));

        Assert.Equal("received", await StatusAsync(id));
        Assert.Equal(0, await app.ScalarAsync<long>("SELECT count(*) FROM case_notes WHERE complaint_id = @id", new { id }));
    }

    [Fact]
    public async Task Notes_are_stored_encrypted_listed_with_their_author_and_the_timeline_holds_no_words()
    {
        var (id, _) = await app.OpenCaseAsync();
        const string words = "শ্রমিক বলেছেন সুপারভাইজার তাকে হুমকি দিয়েছে — el capataz la amenazó";

        await AssertAnswer(HttpStatusCode.OK, await app.North.PostJsonAsync(Url(id, "notes"), new { body = words }));

        await using var connection = await app.DataSource.OpenConnectionAsync();
        var dump = await connection.ExecuteScalarAsync<string>("SELECT string_agg(n::text, ' ') FROM case_notes n WHERE complaint_id = @id", new { id });
        Assert.DoesNotContain("সুপারভাইজার", dump, StringComparison.Ordinal);
        Assert.DoesNotContain("capataz", dump, StringComparison.Ordinal);
        var note = Assert.Single((await app.North.GetJsonAsync<JsonElement>(Url(id, "casework"))).GetProperty("notes").EnumerateArray());
        Assert.Equal((words, "Nora North"), (note.GetProperty("body").GetString(), note.GetProperty("staffName").GetString()));
        var entry = Assert.Single(await app.StaffTimelineAsync(id));
        Assert.Equal(("note.added", app.North.StaffId), (entry.Kind, entry.ActorStaffId));
        Assert.DoesNotContain("capataz", entry.Details, StringComparison.Ordinal);
        await AssertAnswer(HttpStatusCode.BadRequest, await app.North.PostJsonAsync(Url(id, "notes"), new { body = " " }), "A note needs 1 to");
    }

    [Fact]
    public async Task Each_summary_edit_is_a_version_on_the_timeline_without_its_text()
    {
        var (id, _) = await app.OpenCaseAsync();

        await AssertAnswer(HttpStatusCode.NoContent, await app.North.PostJsonAsync(Url(id, "summary"), new { text = "Unpaid overtime at a tomato farm." }));
        await AssertAnswer(HttpStatusCode.NoContent, await app.North.PostJsonAsync(Url(id, "summary"), new { text = "Unpaid overtime at a tomato farm." }));
        await AssertAnswer(HttpStatusCode.NoContent, await app.North.PostJsonAsync(Url(id, "summary"), new { text = "Unpaid overtime, 3 weeks." }));

        Assert.Equal(2, await app.ScalarAsync<int>("SELECT shareable_summary_version FROM complaints WHERE id = @id", new { id }));
        var entries = await app.StaffTimelineAsync(id);
        Assert.Equal(["summary.changed", "summary.changed"], entries.Select(e => e.Kind));
        Assert.Equal("""{"length": 25, "version": 2}""", entries[1].Details);
    }

    [Fact]
    public async Task A_zero_tolerance_provision_forces_zero_tolerance_severity_until_it_is_removed()
    {
        var (id, _) = await app.OpenCaseAsync();
        var provisions = await app.North.GetJsonAsync<JsonElement>("/console/api/provisions");
        Assert.Equal(["1.1", "2.1", "4.1"], provisions.EnumerateArray().Select(p => p.GetProperty("number").GetString()));
        int Provision(string number) => provisions.EnumerateArray().Single(p => p.GetProperty("number").GetString() == number).GetProperty("id").GetInt32();
        var old = await app.ScalarAsync<int>("SELECT id FROM provisions WHERE number = '9.9'");

        await AssertAnswer(HttpStatusCode.BadRequest, await app.North.PostJsonAsync(Url(id, "provisions"), new { provisionIds = new[] { old } }),
            "is not in the Code in force");
        await AssertAnswer(HttpStatusCode.NoContent, await app.North.PostJsonAsync(Url(id, "provisions"), new { provisionIds = new[] { Provision("1.1"), Provision("2.1") } }));

        Assert.Equal("zero_tolerance", await app.ScalarAsync<string>("SELECT severity FROM complaints WHERE id = @id", new { id }));
        Assert.Equal(["complaint.classified", "complaint.severity_changed"], (await app.StaffTimelineAsync(id)).Select(e => e.Kind));
        // Zero tolerance does not wait for a clock: the escalation is recorded in the same change.
        Assert.True(await app.ScalarAsync<long>("SELECT count(*) FROM escalations WHERE complaint_id = @id", new { id }) > 0);
        Assert.Equal(1, await app.ScalarAsync<long>("SELECT count(*) FROM case_timeline WHERE complaint_id = @id AND kind = 'clocks.recomputed'", new { id }));
        await AssertAnswer(HttpStatusCode.Conflict, await app.North.PostJsonAsync(Url(id, "severity"), new { severity = "retaliation" }),
            "This case is classified under zero-tolerance provision 1.1");
        await AssertAnswer(HttpStatusCode.NoContent, await app.North.PostJsonAsync(Url(id, "provisions"), new { provisionIds = new[] { Provision("2.1"), Provision("4.1") } }));
        await AssertAnswer(HttpStatusCode.NoContent, await app.North.PostJsonAsync(Url(id, "severity"), new { severity = "retaliation" }));
        Assert.Equal("retaliation", await app.ScalarAsync<string>("SELECT severity FROM complaints WHERE id = @id", new { id }));
        Assert.Equal(["2.1", "4.1"], (await app.QueryAsync<string>(
            "SELECT p.number FROM complaint_provisions c JOIN provisions p ON p.id = c.provision_id WHERE c.complaint_id = @id ORDER BY 1", new { id })));
    }

    [Fact]
    public async Task The_supplier_comes_from_the_registry_with_its_buyers_or_is_named_outside_the_program()
    {
        var (id, _) = await app.OpenCaseAsync();
        var suppliers = await app.North.GetJsonAsync<JsonElement>("/console/api/suppliers");
        var sunny = suppliers.EnumerateArray().Single(s => s.GetProperty("name").GetString() == "Sunny Farms");
        Assert.Equal(["FreshMart", "GreenLeaf"], sunny.GetProperty("buyers").EnumerateArray().Select(b => b.GetProperty("name").GetString()));
        var sunnyId = sunny.GetProperty("id").GetInt32();

        await AssertAnswer(HttpStatusCode.BadRequest, await app.North.PostJsonAsync(Url(id, "supplier"), new { supplierId = sunnyId, outsideSupplierName = "X" }),
            "not both");
        await AssertAnswer(HttpStatusCode.NoContent, await app.North.PostJsonAsync(Url(id, "supplier"), new { supplierId = sunnyId }));
        Assert.Equal("Sunny Farms", (await app.North.GetJsonAsync<JsonElement>($"/console/api/complaints/{id}")).GetProperty("complaint").GetProperty("supplier_name").GetString());
        await AssertAnswer(HttpStatusCode.NoContent, await app.North.PostJsonAsync(Url(id, "supplier"), new { outsideSupplierName = "Rancho El Sol" }));

        var row = Assert.Single(await app.QueryAsync<(int? SupplierId, string? Outside)>(
            "SELECT supplier_id, outside_supplier_name FROM complaints WHERE id = @id", new { id }));
        Assert.Equal((null, "Rancho El Sol"), row);
        Assert.Equal(["complaint.supplier_changed", "complaint.supplier_changed"], (await app.StaffTimelineAsync(id)).Select(e => e.Kind));
    }

    [Fact]
    public async Task Disclosure_needs_the_workers_recorded_consent_and_a_refusal_takes_it_back()
    {
        var (id, _) = await app.OpenCaseAsync();

        await AssertAnswer(HttpStatusCode.Conflict, await app.North.PostJsonAsync(Url(id, "confidentiality"), new { level = "disclosure_consented" }),
            "Disclosure needs the worker's consent");
        await AssertAnswer(HttpStatusCode.BadRequest, await app.North.PostJsonAsync(Url(id, "disclosure-decisions"), new { decision = "may_share_details", how = "carrier pigeon" }));
        await AssertAnswer(HttpStatusCode.NoContent, await app.North.PostJsonAsync(Url(id, "disclosure-decisions"), new { decision = "may_share_details", how = "phone" }));
        await AssertAnswer(HttpStatusCode.NoContent, await app.North.PostJsonAsync(Url(id, "confidentiality"), new { level = "disclosure_consented" }));
        await AssertAnswer(HttpStatusCode.NoContent, await app.South.PostJsonAsync(Url(id, "disclosure-decisions"), new { decision = "refuses_disclosure", how = "text" }));

        Assert.Equal("confidential", await app.ScalarAsync<string>("SELECT confidentiality FROM complaints WHERE id = @id", new { id }));
        var timeline = await app.StaffTimelineAsync(id);
        Assert.Equal(
            [("disclosure.decision_recorded", app.North.StaffId), ("complaint.confidentiality_changed", app.North.StaffId),
             ("disclosure.decision_recorded", app.South.StaffId), ("complaint.confidentiality_changed", app.South.StaffId)],
            timeline.Select(e => (e.Kind, e.ActorStaffId ?? 0)));
        Assert.Contains("worker_refused_disclosure", timeline[3].Details, StringComparison.Ordinal);
        var decisions = (await app.North.GetJsonAsync<JsonElement>(Url(id, "casework"))).GetProperty("decisions").EnumerateArray()
            .Select(d => (d.GetProperty("decision").GetString(), d.GetProperty("how").GetString(), d.GetProperty("recordedByName").GetString()));
        Assert.Equal([("may_share_details", "phone", "Nora North"), ("refuses_disclosure", "text", "Sam South")], decisions);
    }

    [Fact]
    public async Task Investigators_take_cases_themselves_coordinators_assign_anyone_and_the_assignee_is_told()
    {
        var (id, _) = await app.OpenCaseAsync();

        await AssertAnswer(HttpStatusCode.Forbidden, await app.North.PostJsonAsync(Url(id, "assignment"), new { staffId = app.South.StaffId }),
            "only a coordinator assigns it to someone else");
        await AssertAnswer(HttpStatusCode.NoContent, await app.North.PostJsonAsync(Url(id, "assignment"), new { staffId = app.North.StaffId }));
        await AssertAnswer(HttpStatusCode.Conflict, await app.South.PostJsonAsync(Url(id, "assignment"), new { staffId = app.South.StaffId }),
            "This case is assigned to Nora North: ask a coordinator to reassign it.");
        await AssertAnswer(HttpStatusCode.NoContent, await app.Coordinator.PostJsonAsync(Url(id, "assignment"), new { staffId = app.South.StaffId }));

        Assert.Equal(app.South.StaffId, await app.ScalarAsync<int>("SELECT assigned_staff_id FROM complaints WHERE id = @id", new { id }));
        var last = (await app.StaffTimelineAsync(id))[^1];
        Assert.Equal(("complaint.assigned", app.Coordinator.StaffId), (last.Kind, last.ActorStaffId));
        Assert.Equal($$"""{"to_staff_id": {{app.South.StaffId}}, "from_staff_id": {{app.North.StaffId}}}""", last.Details);
        Assert.Equal(1, await app.ScalarAsync<long>(
            "SELECT count(*) FROM console_events WHERE complaint_id = @id AND audience = @audience AND payload->>'change' = 'assignment'",
            new { id, audience = $"staff:{app.South.StaffId}" }));
    }

    [Fact]
    public async Task The_admin_page_is_refused_to_an_investigator_and_lets_an_admin_unlock_an_account()
    {
        using (var denied = await app.North.GetAsync("/admin"))
        {
            Assert.Equal(HttpStatusCode.Redirect, denied.StatusCode);
            Assert.StartsWith("/signin/denied", denied.Headers.Location!.PathAndQuery, StringComparison.Ordinal);
            using var deniedPage = await app.North.GetAsync(denied.Headers.Location.PathAndQuery);
            Assert.Equal(HttpStatusCode.Forbidden, deniedPage.StatusCode);
        }
        using (var guesser = app.Factory.CreateClient(new Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactoryClientOptions { AllowAutoRedirect = false }))
        {
            for (var attempt = 0; attempt < 5; attempt++)
            {
                using var _ = await StaffSession.PostSignInFormAsync(guesser, "south@test", "not the password");
            }
            using var locked = await StaffSession.PostSignInFormAsync(guesser, "south@test", StaffSession.DefaultPassword);
            Assert.Equal(HttpStatusCode.TooManyRequests, locked.StatusCode);
        }
        const string LockedRows = "SELECT count(*) FROM sign_in_throttle WHERE scope = 'pair' AND locked_until > now()";

        var page = await app.Admin.Client.GetStringAsync(new Uri("/admin", UriKind.Relative));
        Assert.Contains("Nora North", page, StringComparison.Ordinal);
        Assert.Contains("locked from 1 address(es) until", page, StringComparison.Ordinal);
        var token = System.Text.RegularExpressions.Regex.Match(page, """name="__RequestVerificationToken" value="([^"]+)">""").Groups[1].Value;
        using (var noToken = await app.Admin.Client.PostAsync(new Uri($"/admin/staff/{app.South.StaffId}/unlock", UriKind.Relative), new FormUrlEncodedContent([])))
        {
            Assert.Equal(HttpStatusCode.BadRequest, noToken.StatusCode);
        }
        Assert.Equal(1, await app.ScalarAsync<long>(LockedRows));
        using var unlocked = await app.Admin.Client.PostAsync(new Uri($"/admin/staff/{app.South.StaffId}/unlock", UriKind.Relative),
            new FormUrlEncodedContent([new("__RequestVerificationToken", WebUtility.HtmlDecode(token))]));

        Assert.Equal(HttpStatusCode.Redirect, unlocked.StatusCode);
        Assert.Equal(0, await app.ScalarAsync<long>(LockedRows));
        using (var again = await StaffSession.SignInAsync(app.Factory, "south@test"))
        {
            Assert.Equal(app.South.StaffId, again.StaffId);
        }
        using var investigatorPost = await app.North.PostJsonAsync($"/admin/staff/{app.South.StaffId}/unlock");
        Assert.Equal(HttpStatusCode.Redirect, investigatorPost.StatusCode);
        Assert.StartsWith("/signin/denied", investigatorPost.Headers.Location!.PathAndQuery, StringComparison.Ordinal);
    }
}
