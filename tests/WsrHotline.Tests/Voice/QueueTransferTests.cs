using System.Net;
using Dapper;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using WsrHotline.Simulator;
using WsrHotline.Tests.Infrastructure;
using WsrHotline.Voice;

namespace WsrHotline.Tests.Voice;

/// <summary>
/// A transfer to the queue of another language (issue 15), through the console's API with the
/// simulator as Twilio: the call rings the consoles of those who may take it in that language, the
/// first to accept is dialled into the conference, the first investigator leaves, and the call is in
/// the new language from then on. Consoles are written as a console writes them (presence and a
/// fresh connection); Accept is the hub's service.
/// </summary>
public sealed class QueueTransferTests
{
    private const string Worker = "+15555550195";

    /// <summary>A staff member who can sign in, available in an open console, answering in the browser.</summary>
    private static async Task<int> InConsoleAsync(VoiceScenario scenario, string email, string language)
    {
        var id = await StaffSession.CreateStaffAsync(scenario.DataSource, email, "investigator", languages: [language]);
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        await connection.ExecuteAsync("""
            INSERT INTO staff_presence (staff_id, status, answer_mode) VALUES (@id, 'available', 'browser');
            INSERT INTO console_connections (connection_id, staff_id, instance_id) VALUES ('test-' || @id, @id, 'test');
            """, new { id });
        scenario.Simulator.Phone("client:staff-" + id).Behavior = PhoneBehavior.Answer(afterSeconds: 1);
        return id;
    }

    [Fact]
    public async Task A_call_transferred_to_the_haitian_creole_queue_is_taken_by_the_first_who_accepts_and_goes_on_in_haitian_creole()
    {
        await using var scenario = await VoiceScenario.StartAsync(s => s["Voice:ConsoleOfferDuration"] = "00:01:00");
        var carlos = await InConsoleAsync(scenario, "carlos@test.example", "es");
        var jean = await InConsoleAsync(scenario, "jean@test.example", "ht");
        var marie = await InConsoleAsync(scenario, "marie@test.example", "ht");
        var offers = scenario.Hotline.Factory.Services.GetRequiredService<ConsoleOffers>();
        var controls = scenario.Hotline.Factory.Services.GetRequiredService<CallControls>();

        // Carlos takes a Spanish call in the console and talks with the worker.
        var call = await scenario.Simulator.CallAsync(from: Worker);
        await call.PressAsync("2");
        await call.PressAsync("1");
        var callId = await scenario.ScalarAsync<long>("SELECT id FROM calls WHERE call_sid = @Sid", new { call.Sid });
        var complaint = await scenario.ScalarAsync<long>("SELECT complaint_id FROM calls WHERE id = @callId", new { callId });
        Assert.True((await offers.AcceptAsync(callId, carlos, seesEverything: false, new DefaultHttpContext().Request, CancellationToken.None)).Accepted);
        await call.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(VoiceScenario.TalkingWithInvestigator(call), string.Join("\n", call.Transcript));

        // The worker speaks Haitian Creole: Carlos transfers the call to that queue.
        using var session = await StaffSession.SignInAsync(scenario.Hotline.Factory, "carlos@test.example", baseAddress: new Uri(scenario.Hotline.BaseUrl));
        using (var transferred = await session.PostJsonAsync($"/console/api/calls/{callId}/transfer", new { language = "ht" }))
        {
            Assert.Equal(HttpStatusCode.NoContent, transferred.StatusCode);
        }
        // Offered like a new call, in Haitian Creole, in both Haitian Creole consoles.
        string[] offered;
        await using (var connection = await scenario.DataSource.OpenConnectionAsync())
        {
            offered = [.. await connection.QueryAsync<string>("""
                SELECT audience FROM console_events
                WHERE kind = 'call.offered' AND payload ->> 'language' = 'ht' AND (payload ->> 'queue')::boolean AND (payload ->> 'transfer')::boolean
                  AND (payload ->> 'callId')::bigint = @callId
                """, new { callId })];
        }
        Assert.Equal(new[] { $"staff:{jean}", $"staff:{marie}" }.Order(StringComparer.Ordinal), offered.Order(StringComparer.Ordinal));
        // Carlos still has the call until someone is in.
        Assert.Equal("es", await scenario.ScalarAsync<string>("SELECT language_code FROM calls WHERE id = @callId", new { callId }));

        // Jean accepts first; Marie's accept finds it taken, and her banner is withdrawn.
        var accepted = await offers.AcceptTransferAsync(callId, jean, controls, new DefaultHttpContext().Request, CancellationToken.None);
        Assert.True(accepted.Accepted, accepted.Reason);
        Assert.False((await offers.AcceptTransferAsync(callId, marie, controls, new DefaultHttpContext().Request, CancellationToken.None)).Accepted);
        Assert.Equal(1, await scenario.ScalarAsync<int>("""
            SELECT count(*) FROM console_events WHERE kind = 'call.taken' AND audience = 'lang:ht' AND (payload ->> 'staffId')::int = @jean
            """, new { jean }));

        await call.WaitAsync(TimeSpan.FromSeconds(10));
        await scenario.TakenOverAsync(call, callId, from: carlos, to: jean, "Bonswa, se Jean, m ap kontinye ak ou.");
        Assert.Equal(CallState.InConference, call.State);

        // The call is Jean's, in Haitian Creole; Carlos wraps up.
        await using (var connection = await scenario.DataSource.OpenConnectionAsync())
        {
            var row = await connection.QuerySingleAsync<(int AnsweredBy, string LanguageCode, int? TransferTo, string? TransferToLanguage)>(
                "SELECT answered_by, language_code, transfer_to_staff_id, transfer_to_language FROM calls WHERE id = @callId", new { callId });
            Assert.Equal((jean, "ht", (int?)null, (string?)null), row);
        }
        await Eventually.TrueAsync(async () => await scenario.ScalarAsync<string>(
            "SELECT activity FROM staff_presence WHERE staff_id = @carlos", new { carlos }) == "wrap_up", "the first investigator wraps up");

        var timeline = await scenario.TimelineAsync(complaint);
        string[] expected = ["call.transfer_offered", "call.transfer_accepted", "call.transferred"];
        Assert.Equal(expected, timeline.Where(kind => expected.Contains(kind)));
        Assert.Equal("ht", await scenario.ScalarAsync<string>(
            "SELECT details ->> 'to_language' FROM case_timeline WHERE complaint_id = @complaint AND kind = 'call.transfer_offered'", new { complaint }));
        Assert.Equal("ht", await scenario.ScalarAsync<string>(
            "SELECT details ->> 'to_language' FROM case_timeline WHERE complaint_id = @complaint AND kind = 'call.transferred'", new { complaint }));
    }
}
