using System.Net;
using Dapper;
using WsrHotline.Tests.Infrastructure;
using WsrHotline.Tests.Voice;

namespace WsrHotline.Tests.LiveConsole;

/// <summary>
/// The call controls' API where no Twilio call is reached: who a call may be transferred to (a
/// colleague, or another language's queue), and the answer to a control that cannot apply to the
/// call as it is. The call, its conference and the
/// consoles are written as the app writes them (a connected console is a fresh
/// <c>console_connections</c> row).
/// </summary>
public sealed class CallControlApiTests
{
    private const string Password = StaffSession.DefaultPassword;

    /// <summary>An investigator whose console is open and who chose "available".</summary>
    private static async Task<int> AvailableInConsoleAsync(VoiceScenario scenario, string email, string role, string? team, params string[] languages)
    {
        var id = await StaffSession.CreateStaffAsync(scenario.DataSource, email, role, team, languages, Password);
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        await connection.ExecuteAsync("""
            INSERT INTO staff_presence (staff_id, status) VALUES (@id, 'available');
            INSERT INTO console_connections (connection_id, staff_id, instance_id) VALUES ('test-' || @id, @id, 'test');
            """, new { id });
        return id;
    }

    /// <summary>A Spanish call in its conference, about a case restricted to <paramref name="restrictedTeam"/>, answered by <paramref name="staffId"/>.</summary>
    private static async Task<(long CallId, long ComplaintId)> CallInConferenceAsync(VoiceScenario scenario, int staffId, string? restrictedTeam)
    {
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        var complaintId = await connection.ExecuteScalarAsync<long>("""
            INSERT INTO complaints (case_number, pin_hash, channel, language_code, restricted_team)
            VALUES ('40000002', 'x', 'voice', 'es', @restrictedTeam) RETURNING id
            """, new { restrictedTeam });
        var callId = await connection.ExecuteScalarAsync<long>("""
            INSERT INTO calls (call_sid, direction, status, status_rank, stage, language_code, complaint_id, answered_by, answered_at, conference_sid)
            VALUES ('CAworker0000000000000000000000002', 'inbound', 'in-progress', 4, 'conference', 'es', @complaintId, @staffId, now(),
                    'CFconference000000000000000000002')
            RETURNING id
            """, new { complaintId, staffId });
        await connection.ExecuteAsync("""
            UPDATE staff_presence SET activity = 'on_call', activity_call_id = @callId WHERE staff_id = @staffId
            """, new { staffId, callId });
        return (callId, complaintId);
    }

    [Fact]
    public async Task A_call_about_a_restricted_case_is_transferred_only_to_a_colleague_of_the_cases_team()
    {
        await using var scenario = await VoiceScenario.StartAsync();
        var carlos = await AvailableInConsoleAsync(scenario, "carlos@test.example", "investigator", "north", "es");
        var sam = await AvailableInConsoleAsync(scenario, "sam@test.example", "investigator", "south", "es");
        var nora = await AvailableInConsoleAsync(scenario, "nora@test.example", "investigator", "north", "es");
        var (callId, complaintId) = await CallInConferenceAsync(scenario, carlos, restrictedTeam: "north");
        using var session = await StaffSession.SignInAsync(scenario.Hotline.Factory, "carlos@test.example", Password, new Uri(scenario.Hotline.BaseUrl));

        // Sam speaks Spanish and is free, but the case is restricted to team north: refused, and nothing changed.
        using (var refused = await session.PostJsonAsync($"/console/api/calls/{callId}/transfer", new { staffId = sam }))
        {
            Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
            Assert.Contains("may open the case", await StaffSession.ProblemDetailAsync(refused), StringComparison.Ordinal);
        }
        Assert.Null(await scenario.ScalarAsync<int?>("SELECT transfer_to_staff_id FROM calls WHERE id = @callId", new { callId }));
        Assert.Equal(0, await scenario.ScalarAsync<int>("SELECT count(*) FROM console_events WHERE kind = 'call.offered'"));
        Assert.DoesNotContain("call.transfer_offered", await scenario.TimelineAsync(complaintId));

        // Nora is of team north: her console rings.
        using (var offered = await session.PostJsonAsync($"/console/api/calls/{callId}/transfer", new { staffId = nora }))
        {
            Assert.Equal(HttpStatusCode.NoContent, offered.StatusCode);
        }
        Assert.Equal(nora, await scenario.ScalarAsync<int>("SELECT transfer_to_staff_id FROM calls WHERE id = @callId", new { callId }));
        Assert.Equal($"staff:{nora}", await scenario.ScalarAsync<string>("SELECT audience FROM console_events WHERE kind = 'call.offered'"));
        Assert.Contains("call.transfer_offered", await scenario.TimelineAsync(complaintId));
    }

    [Fact]
    public async Task A_control_that_cannot_apply_to_the_call_as_it_is_answers_409_with_why_not_500()
    {
        await using var scenario = await VoiceScenario.StartAsync();
        var carlos = await AvailableInConsoleAsync(scenario, "carlos@test.example", "investigator", null, "es");
        var ana = await AvailableInConsoleAsync(scenario, "ana@test.example", "coordinator", null, "es");
        // The conference is up, but no investigator leg is in it (none has joined yet, or theirs has left).
        var (callId, complaintId) = await CallInConferenceAsync(scenario, carlos, restrictedTeam: null);
        using var investigator = await StaffSession.SignInAsync(scenario.Hotline.Factory, "carlos@test.example", Password, new Uri(scenario.Hotline.BaseUrl));
        using var coordinator = await StaffSession.SignInAsync(scenario.Hotline.Factory, "ana@test.example", Password, new Uri(scenario.Hotline.BaseUrl));

        using (var mute = await investigator.PostJsonAsync($"/console/api/calls/{callId}/mute", new { on = true }))
        {
            Assert.Equal(HttpStatusCode.Conflict, mute.StatusCode);
            Assert.Equal("There is no investigator's line in this call to mute.", await StaffSession.ProblemDetailAsync(mute));
        }
        using (var coach = await coordinator.PostJsonAsync($"/console/api/calls/{callId}/monitor", new { mode = "coach" }))
        {
            Assert.Equal(HttpStatusCode.Conflict, coach.StatusCode);
            Assert.Equal("There is no investigator in this call to coach.", await StaffSession.ProblemDetailAsync(coach));
        }
        // Nothing was done: the coordinator's browser was not dialled in, nothing is on the timeline.
        Assert.Empty(scenario.Simulator.Phone("client:staff-" + ana).Calls);
        var timeline = await scenario.TimelineAsync(complaintId);
        Assert.DoesNotContain("call.muted", timeline);
        Assert.DoesNotContain("call.monitor", timeline);
    }

    [Fact]
    public async Task A_transfer_to_another_languages_queue_rings_only_those_who_may_take_it_there_and_with_nobody_is_refused_changing_nothing()
    {
        await using var scenario = await VoiceScenario.StartAsync();
        var carlos = await AvailableInConsoleAsync(scenario, "carlos@test.example", "investigator", "north", "es");
        var (callId, complaintId) = await CallInConferenceAsync(scenario, carlos, restrictedTeam: "north");
        using var session = await StaffSession.SignInAsync(scenario.Hotline.Factory, "carlos@test.example", Password, new Uri(scenario.Hotline.BaseUrl));

        async Task NobodyAsync()
        {
            using var refused = await session.PostJsonAsync($"/console/api/calls/{callId}/transfer", new { language = "ht" });
            Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
            Assert.Equal("Nobody who speaks Haitian Creole is available now.", await StaffSession.ProblemDetailAsync(refused));
            Assert.Null(await scenario.ScalarAsync<string?>("SELECT transfer_to_language FROM calls WHERE id = @callId", new { callId }));
            Assert.Equal(0, await scenario.ScalarAsync<int>("SELECT count(*) FROM console_events WHERE kind = 'call.offered'"));
            Assert.DoesNotContain("call.transfer_offered", await scenario.TimelineAsync(complaintId));
        }

        // Nobody speaks Haitian Creole.
        await NobodyAsync();
        // Sam does, but the case is restricted to team north.
        await AvailableInConsoleAsync(scenario, "sam@test.example", "investigator", "south", "ht");
        await NobodyAsync();

        // Nora, of team north, does: only her console rings; the call stays Carlos's and Spanish until she is in.
        var nora = await AvailableInConsoleAsync(scenario, "nora@test.example", "investigator", "north", "ht");
        using (var offered = await session.PostJsonAsync($"/console/api/calls/{callId}/transfer", new { language = "ht" }))
        {
            Assert.Equal(HttpStatusCode.NoContent, offered.StatusCode);
        }
        Assert.Equal($"staff:{nora}", await scenario.ScalarAsync<string>("SELECT audience FROM console_events WHERE kind = 'call.offered'"));
        Assert.Equal(1, await scenario.ScalarAsync<int>("SELECT count(*) FROM console_events WHERE kind = 'call.offered'"));
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        Assert.Equal(("ht", "es", carlos), await connection.QuerySingleAsync<(string, string, int)>(
            "SELECT transfer_to_language, language_code, answered_by FROM calls WHERE id = @callId", new { callId }));
    }
}
