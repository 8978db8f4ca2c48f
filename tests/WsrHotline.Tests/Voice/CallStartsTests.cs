using System.Net;
using Dapper;
using Npgsql;
using WsrHotline.Tests.Infrastructure;

namespace WsrHotline.Tests.Voice;

/// <summary>
/// Concurrent call starts (<c>CallStarts</c>): every caller hears the language menu with their own
/// call stored exactly once, and a start the database refuses takes down no other caller.
/// </summary>
public sealed class CallStartsTests
{
    private const long Gate = 4242;
    private const string Menu = "https://hotline.test/twilio/voice/language?attempt=1";

    [Fact]
    public async Task Fifty_calls_at_once_and_a_retried_webhook_each_hear_the_menu_and_store_one_call_each()
    {
        // A long first-answer budget: the test holds the statements back on purpose.
        await using var scenario = await VoiceScenario.StartAsync(s => s["Voice:DatabaseBudget"] = "00:00:30");
        await InstallGateAsync(scenario, "");
        var sids = Enumerable.Range(0, 50).Select(i => $"CAstart{i:D4}").ToArray();
        // Two calls from one number share an identity; one caller withholds the number.
        string From(int i) => i switch { 49 => "+15555551047", 48 => "anonymous", _ => $"+1555555{1000 + i}" };

        var answers = await WhileGatedAsync(scenario, sids.Take(4).Select((sid, i) => IncomingAsync(scenario, sid, From(i))),
            () => [.. sids.Skip(4).Select((sid, i) => IncomingAsync(scenario, sid, From(i + 4))),
                // Twilio retried the webhook of call 7 while the first was still waiting.
                IncomingAsync(scenario, sids[7], From(7))]);

        Assert.All(answers, answer => Assert.Equal((HttpStatusCode.OK, true, false),
            (answer.Status, answer.Body.Contains(Menu, StringComparison.Ordinal), answer.Body.Contains("emergency", StringComparison.Ordinal))));
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        Assert.Equal(sids, await connection.QueryAsync<string>("SELECT call_sid FROM calls ORDER BY call_sid COLLATE \"C\""));
        Assert.Equal(1, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM calls WHERE caller_identity_id IS NULL"));
        Assert.Equal(48, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM caller_identities"));
        Assert.Equal(1, await connection.ExecuteScalarAsync<int>(
            "SELECT count(DISTINCT caller_identity_id) FROM calls WHERE call_sid IN ('CAstart0047', 'CAstart0049')"));
    }

    [Fact]
    public async Task A_call_start_the_database_refuses_or_cuts_sends_only_that_caller_the_emergency_way()
    {
        await using var scenario = await VoiceScenario.StartAsync(s => s["Voice:DatabaseBudget"] = "00:00:30");
        await InstallGateAsync(scenario, """
            IF NEW.call_sid LIKE 'CArefused%' THEN RAISE EXCEPTION 'refused by the test'; END IF;
            IF NEW.call_sid LIKE 'CAcut%' THEN PERFORM pg_terminate_backend(pg_backend_pid()); END IF;
            """);
        var plugs = Enumerable.Range(0, 4).Select(i => $"CAplug{i:D4}").ToArray();
        var batch = Enumerable.Range(0, 20).Select(i => $"CAbatch{i:D4}").ToArray();

        var answers = await WhileGatedAsync(scenario, plugs.Select((sid, i) => IncomingAsync(scenario, sid, $"+1555555{2000 + i}")),
            () => [.. batch.Select((sid, i) => IncomingAsync(scenario, sid, $"+1555555{2100 + i}")),
                IncomingAsync(scenario, "CArefused0001", "+15555552201"),
                IncomingAsync(scenario, "CAcut0001", "+15555552202")]);
        var later = await Task.WhenAll(Enumerable.Range(0, 5).Select(i => IncomingAsync(scenario, $"CAlater{i:D4}", $"+1555555{2300 + i}")));

        var heard = answers.Concat(later).ToDictionary(answer => answer.CallSid,
            answer => answer.Status == HttpStatusCode.OK && answer.Body.Contains(Menu, StringComparison.Ordinal) ? "menu"
                : answer.Status == HttpStatusCode.OK && answer.Body.Contains("/twilio/voice/emergency/screen", StringComparison.Ordinal) ? "emergency"
                : $"{answer.Status}: {answer.Body}");
        Assert.Equal(("emergency", "emergency"), (heard["CArefused0001"], heard["CAcut0001"]));
        Assert.All(heard.Where(pair => !pair.Key.StartsWith("CArefused", StringComparison.Ordinal) && !pair.Key.StartsWith("CAcut", StringComparison.Ordinal)),
            pair => Assert.Equal((pair.Key, "menu"), (pair.Key, pair.Value)));
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        Assert.Equal(plugs.Concat(batch).Concat(Enumerable.Range(0, 5).Select(i => $"CAlater{i:D4}")).Order(StringComparer.Ordinal),
            await connection.QueryAsync<string>("SELECT call_sid FROM calls ORDER BY call_sid COLLATE \"C\""));
    }

    private sealed record Answer(string CallSid, HttpStatusCode Status, string Body);

    private static async Task<Answer> IncomingAsync(VoiceScenario scenario, string callSid, string from)
    {
        using var response = await scenario.SignedPostAsync("/twilio/voice/incoming", ("CallSid", callSid), ("From", from), ("CallStatus", "ringing"));
        return new Answer(callSid, response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>
    /// A trigger on new calls that waits while the test holds its advisory lock (and then runs
    /// <paramref name="andThen"/>), so the test decides which starts arrive while statements are in flight.
    /// </summary>
    private static async Task InstallGateAsync(VoiceScenario scenario, string andThen)
    {
        await using var connection = await scenario.DataSource.OpenConnectionAsync();
        await connection.ExecuteAsync($"""
            CREATE FUNCTION test_gate() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM pg_advisory_xact_lock_shared({Gate});
                {andThen}
                RETURN NEW;
            END $$;
            CREATE TRIGGER test_gate BEFORE INSERT ON calls FOR EACH ROW EXECUTE FUNCTION test_gate();
            """);
    }

    /// <summary>
    /// Holds the gate while the first webhooks' statements start (and wait at it), then sends the
    /// others, which queue behind them; opens the gate and returns every answer.
    /// </summary>
    private static async Task<Answer[]> WhileGatedAsync(VoiceScenario scenario, IEnumerable<Task<Answer>> first, Func<List<Task<Answer>>> then)
    {
        await using var gate = await scenario.DataSource.OpenConnectionAsync();
        await gate.ExecuteAsync($"SELECT pg_advisory_lock({Gate})");
        var held = first.ToList();
        await WaitForStatementsAtGateAsync(gate, held.Count);
        var queued = then();
        // The webhooks reach the app and queue behind the held statements, unanswered.
        await WaitForStatementsAtGateAsync(gate, held.Count + queued.Count);
        Assert.All(held.Concat(queued), answer => Assert.False(answer.IsCompleted));
        await gate.ExecuteAsync($"SELECT pg_advisory_unlock({Gate})");
        return await Task.WhenAll(held.Concat(queued));
    }

    /// <summary>
    /// Waits until at least <paramref name="atLeast"/> statements wait: at the gate, or behind one that
    /// is (a second call from one number waits for the first's new caller identity).
    /// </summary>
    private static async Task WaitForStatementsAtGateAsync(NpgsqlConnection connection, int atLeast)
    {
        var count = 0;
        await Eventually.TrueAsync(async () =>
        {
            count = await connection.ExecuteScalarAsync<int>(
                """
                SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                WHERE NOT l.granted AND a.datname = current_database()
                """);
            return count >= atLeast;
        }, () => $"{atLeast} statements waiting at the gate (only {count})", TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(50));
    }
}
