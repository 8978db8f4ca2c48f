using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using WsrHotline.Pii;
using WsrHotline.Tests.Infrastructure;

namespace WsrHotline.Tests.Voice;

/// <summary>
/// Voicemails and callbacks in the console's API, against the real app with the simulator standing in
/// for Twilio: playback for those who may open the case (each play audited), the callback list, and
/// closing a callback by hand.
/// </summary>
public sealed class VoicemailConsoleTests
{
    private const string Worker = "+15555550141";

    private static Task<StaffSession> SignInAsync(VoiceScenario scenario, string email) =>
        StaffSession.SignInAsync(scenario.Hotline.Factory, email, baseAddress: new Uri(scenario.Hotline.BaseUrl));

    [Fact]
    public async Task A_voicemail_plays_for_staff_who_may_open_the_case_each_play_is_audited_and_others_are_refused()
    {
        await using var scenario = await VoiceScenario.StartAsync();
        await StaffSession.CreateStaffAsync(scenario.DataSource, "carlos@test.example", "investigator", team: "north", languages: ["es"]);
        await StaffSession.CreateStaffAsync(scenario.DataSource, "pedro@test.example", "investigator", team: "south", languages: ["es"]);
        var call = await VoicemailCopyTests.LeaveVoicemailAsync(scenario, Worker, seconds: 3);
        var complaint = await scenario.ScalarAsync<long>("SELECT complaint_id FROM calls WHERE call_sid = @Sid", new { call.Sid });
        using var carlos = await SignInAsync(scenario, "carlos@test.example");
        using var pedro = await SignInAsync(scenario, "pedro@test.example");

        // Listed before it is copied, and not playable yet.
        var listed = await carlos.GetJsonAsync<JsonElement[]>($"/console/api/complaints/{complaint}/recordings");
        var recording = Assert.Single(listed);
        var id = recording.GetProperty("id").GetInt64();
        Assert.Equal("pending", recording.GetProperty("status").GetString());
        using (var early = await carlos.GetAsync($"/console/api/recordings/{id}"))
        {
            Assert.Equal(HttpStatusCode.NotFound, early.StatusCode);
        }

        Assert.Equal(1, await VoicemailCopyTests.RunCopiesAsync(scenario));
        using (var play = await carlos.GetAsync($"/console/api/recordings/{id}"))
        {
            Assert.Equal(HttpStatusCode.OK, play.StatusCode);
            Assert.Equal("audio/wav", play.Content.Headers.ContentType?.MediaType);
            Assert.Equal("no-store", play.Headers.CacheControl?.ToString());
            var bytes = await play.Content.ReadAsByteArrayAsync();
            Assert.Equal("RIFF", System.Text.Encoding.ASCII.GetString(bytes, 0, 4));
        }
        // A seek further into the file is a range of the same play.
        using (var request = new HttpRequestMessage(HttpMethod.Get, new Uri($"/console/api/recordings/{id}", UriKind.Relative)))
        {
            request.Headers.Range = new RangeHeaderValue(1000, 1999);
            using var seek = await carlos.Client.SendAsync(request);
            Assert.Equal(HttpStatusCode.PartialContent, seek.StatusCode);
            Assert.Equal(1000, (await seek.Content.ReadAsByteArrayAsync()).Length);
        }
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        var plays = (await connection.QueryAsync<(int StaffId, string Details)>(
            "SELECT actor_staff_id, details::text FROM case_timeline WHERE complaint_id = @complaint AND kind = 'voicemail.played'", new { complaint })).ToList();
        var played = Assert.Single(plays);
        Assert.Equal(carlos.StaffId, played.StaffId);
        Assert.Equal($$"""{"recording_id": {{id}}}""", played.Details);

        // Restricted to carlos's team: pedro is refused and nothing is audited for him.
        await connection.ExecuteAsync("UPDATE complaints SET restricted_team = 'north' WHERE id = @complaint", new { complaint });
        using (var refused = await pedro.GetAsync($"/console/api/recordings/{id}"))
        {
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        }
        using (var refusedList = await pedro.GetAsync($"/console/api/complaints/{complaint}/recordings"))
        {
            Assert.Equal(HttpStatusCode.Forbidden, refusedList.StatusCode);
        }
        using (var unknown = await pedro.GetAsync($"/console/api/recordings/{id + 1000}"))
        {
            Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        }
        using (var again = await carlos.GetAsync($"/console/api/recordings/{id}"))
        {
            Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        }
        Assert.Equal([carlos.StaffId, carlos.StaffId], await connection.QueryAsync<int>(
            "SELECT actor_staff_id FROM case_timeline WHERE complaint_id = @complaint AND kind = 'voicemail.played' ORDER BY id", new { complaint }));
    }

    [Fact]
    public async Task The_callback_list_shows_the_investigators_languages_most_urgent_first_with_their_clocks()
    {
        await using var scenario = await VoiceScenario.StartAsync();
        await StaffSession.CreateStaffAsync(scenario.DataSource, "carlos@test.example", "investigator", languages: ["es"]);
        var first = await VoicemailCopyTests.LeaveVoicemailAsync(scenario, "+15555550142", seconds: 2);
        var second = await VoicemailCopyTests.LeaveVoicemailAsync(scenario, "+15555550143", seconds: 2);
        // A Bengali voicemail is not on a Spanish-speaking investigator's list.
        var bengali = await scenario.Simulator.CallAsync(from: "+15555550144");
        await bengali.PressAsync("4");
        await bengali.PressAsync("3");
        await bengali.RecordAsync(TimeSpan.FromSeconds(2));
        await bengali.WaitAsync(TimeSpan.FromSeconds(60));
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        Assert.Equal(3, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM callback_tasks"));
        // The second worker's callback is due sooner (say it was owed earlier).
        await connection.ExecuteAsync("""
            UPDATE callback_tasks SET due_at = now() + interval '5 minutes' WHERE call_id = (SELECT id FROM calls WHERE call_sid = @Sid)
            """, new { second.Sid });

        using var carlos = await SignInAsync(scenario, "carlos@test.example");
        var list = await carlos.GetJsonAsync<JsonElement>("/console/api/callbacks");
        var items = list.GetProperty("callbacks").EnumerateArray().ToList();
        var cases = await connection.QueryAsync<(string CallSid, string CaseNumber)>(
            "SELECT c.call_sid, k.case_number FROM calls c JOIN complaints k ON k.id = c.complaint_id");
        var caseOf = cases.ToDictionary(c => c.CallSid, c => c.CaseNumber);
        Assert.Equal([caseOf[second.Sid], caseOf[first.Sid]], items.Select(i => i.GetProperty("caseNumber").GetString()));
        Assert.All(items, item =>
        {
            Assert.Equal("es", item.GetProperty("languageCode").GetString());
            Assert.Equal("voicemail", item.GetProperty("reason").GetString());
        });
        var now = list.GetProperty("now").GetDateTimeOffset();
        var dueSoonest = items[0].GetProperty("dueAt").GetDateTime();
        Assert.InRange((new DateTimeOffset(dueSoonest, TimeSpan.Zero) - now).TotalMinutes, 3, 6);
        Assert.DoesNotContain(items, i => i.GetProperty("caseNumber").GetString() == caseOf[bengali.Sid]);
        Assert.DoesNotContain("+1555555014", list.GetRawText(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Closing_a_callback_by_hand_needs_a_reason_then_meets_its_clock_and_keeps_the_note_encrypted()
    {
        await using var scenario = await VoiceScenario.StartAsync();
        await StaffSession.CreateStaffAsync(scenario.DataSource, "carlos@test.example", "investigator", languages: ["es"]);
        var call = await VoicemailCopyTests.LeaveVoicemailAsync(scenario, Worker, seconds: 2);
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        var (taskId, complaint) = await connection.QuerySingleAsync<(long, long)>(
            "SELECT t.id, t.complaint_id FROM callback_tasks t JOIN calls c ON c.id = t.call_id WHERE c.call_sid = @Sid", new { call.Sid });
        using var carlos = await SignInAsync(scenario, "carlos@test.example");

        using (var noReason = await carlos.PostJsonAsync($"/console/api/callbacks/{taskId}/close", new { note = "Le escribí." }))
        {
            Assert.Equal(HttpStatusCode.BadRequest, noReason.StatusCode);
            Assert.Contains("needs a reason", await StaffSession.ProblemDetailAsync(noReason), StringComparison.Ordinal);
        }
        using (var otherWithoutNote = await carlos.PostJsonAsync($"/console/api/callbacks/{taskId}/close", new { reason = "other" }))
        {
            Assert.Equal(HttpStatusCode.BadRequest, otherWithoutNote.StatusCode);
        }
        using (var withoutToken = await carlos.PostJsonAsync($"/console/api/callbacks/{taskId}/close", new { reason = "reached_by_text" }, withCsrfToken: false))
        {
            Assert.Equal(HttpStatusCode.BadRequest, withoutToken.StatusCode);
        }
        Assert.Null(await connection.ExecuteScalarAsync<DateTime?>("SELECT done_at FROM callback_tasks WHERE id = @taskId", new { taskId }));

        const string note = "Le escribí por WhatsApp y contestó que está bien.";
        using (var closed = await carlos.PostJsonAsync($"/console/api/callbacks/{taskId}/close", new { reason = "reached_by_text", note }))
        {
            Assert.Equal(HttpStatusCode.NoContent, closed.StatusCode);
        }
        var task = await connection.QuerySingleAsync<(DateTime? DoneAt, int DoneBy, string How, string Reason, long NoteId)>(
            "SELECT done_at, done_by, closed_how, closed_reason, closed_note_id FROM callback_tasks WHERE id = @taskId", new { taskId });
        Assert.NotNull(task.DoneAt);
        Assert.Equal((carlos.StaffId, "by_hand", "reached_by_text"), (task.DoneBy, task.How, task.Reason));
        var clock = await connection.QuerySingleAsync<(DateTime? MetAt, string MetReason)>(
            "SELECT met_at, met_reason FROM deadlines WHERE callback_task_id = @taskId", new { taskId });
        Assert.NotNull(clock.MetAt);
        Assert.Equal("met", clock.MetReason);
        var stored = await connection.ExecuteScalarAsync<string>("SELECT body_encrypted FROM case_notes WHERE id = @NoteId", new { task.NoteId });
        Assert.DoesNotContain("WhatsApp", stored, StringComparison.Ordinal);
        var pii = scenario.Hotline.Factory.Services.GetRequiredService<PiiProtector>();
        Assert.Equal(note, pii.Decrypt(stored!, PiiPurpose.CaseNote));

        var timeline = await connection.QueryAsync<(string Kind, string Details)>(
            "SELECT kind, details::text FROM case_timeline WHERE complaint_id = @complaint ORDER BY id", new { complaint });
        Assert.Contains(timeline, t => t.Kind == "callback.closed" && t.Details.Contains("reached_by_text", StringComparison.Ordinal));
        Assert.Contains(timeline, t => t.Kind == "clock.met" && t.Details.Contains("\"callback\"", StringComparison.Ordinal));
        Assert.DoesNotContain(timeline, t => t.Details.Contains("WhatsApp", StringComparison.Ordinal));

        // Off the list, and not closed twice.
        var list = await carlos.GetJsonAsync<JsonElement>("/console/api/callbacks");
        Assert.Empty(list.GetProperty("callbacks").EnumerateArray());
        using var twice = await carlos.PostJsonAsync($"/console/api/callbacks/{taskId}/close", new { reason = "reached_by_text" });
        Assert.Equal(HttpStatusCode.Conflict, twice.StatusCode);
    }
}
