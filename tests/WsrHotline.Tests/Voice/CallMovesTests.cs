using Dapper;
using Microsoft.Extensions.DependencyInjection;
using WsrHotline.Voice;

namespace WsrHotline.Tests.Voice;

/// <summary>
/// Stage moves of concurrent webhooks share statements (<see cref="CallMoves"/>): every caller must
/// still end up where they went, in the language they chose, and hear it.
/// </summary>
public sealed class CallMovesTests
{
    [Fact]
    public async Task Callers_moving_at_the_same_moment_each_get_their_own_call_language_and_step()
    {
        await using var scenario = await VoiceScenario.StartAsync();
        var moves = scenario.Hotline.Factory.Services.GetRequiredService<CallMoves>();
        var languages = new[] { "en", "es", "ht", "bn" };
        var sids = Enumerable.Range(0, 40).Select(i => $"CAmoves{i:D4}").ToArray();
        await using (var connection = await scenario.DataSource.OpenConnectionAsync())
        {
            foreach (var sid in sids)
            {
                await connection.ExecuteAsync("""
                    WITH identity AS (INSERT INTO caller_identities (phone_lookup, phone_encrypted) VALUES (@lookup, @sid) RETURNING id)
                    INSERT INTO calls (call_sid, direction, caller_identity_id, status, status_rank, stage)
                    VALUES (@sid, 'inbound', (SELECT id FROM identity), 'in-progress', 4, 'incoming')
                    """, new { sid, lookup = System.Text.Encoding.UTF8.GetBytes(sid) });
            }
        }

        await using var reader = await scenario.DataSource.OpenConnectionAsync();

        // All at once, so that they share statements: each must come back with its own call.
        var moved = await Task.WhenAll(sids.Select((sid, i) =>
            moves.MoveAsync(sid, i % 2 == 0 ? "main_menu" : "status_check", languages[i % 4], CancellationToken.None)));

        for (var i = 0; i < sids.Length; i++)
        {
            var expected = (sids[i], i % 2 == 0 ? "main_menu" : "status_check", languages[i % 4]);
            Assert.Equal(expected, (moved[i]!.CallSid, moved[i]!.Stage, moved[i]!.LanguageCode));
            Assert.Equal((expected.Item2, expected.Item3, expected.Item3), await reader.QuerySingleAsync<(string, string, string)>("""
                SELECT c.stage, c.language_code, i.preferred_language
                FROM calls c JOIN caller_identities i ON i.id = c.caller_identity_id WHERE c.call_sid = @sid
                """, new { sid = sids[i] }));
        }
    }

    [Fact]
    public async Task A_move_for_a_call_never_seen_finds_nothing_and_a_repeated_move_finds_the_call()
    {
        await using var scenario = await VoiceScenario.StartAsync();
        var moves = scenario.Hotline.Factory.Services.GetRequiredService<CallMoves>();
        Assert.Null(await moves.MoveAsync("CAnever", "main_menu", "es", CancellationToken.None));

        var call = await scenario.Simulator.CallAsync(from: "+15555550123");
        // A retried webhook: the same move twice at once, both answered with the call.
        var both = await Task.WhenAll(
            moves.MoveAsync(call.Sid, "main_menu", "es", CancellationToken.None),
            moves.MoveAsync(call.Sid, "main_menu", "es", CancellationToken.None));
        Assert.All(both, row => Assert.Equal(("main_menu", "es"), (row!.Stage, row.LanguageCode)));
    }
}
