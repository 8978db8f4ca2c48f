using Dapper;
using Npgsql;
using WsrHotline.Database;

namespace WsrHotline.Voice;

/// <summary>
/// The IVR's stage moves, written together (<see cref="GroupCommit{TItem, TResult}"/>): each webhook's
/// move waits for its own row to be committed, but the moves that arrive while a write is in flight
/// share the next statement and commit instead of paying one each.
/// </summary>
public sealed class CallMoves
{
    private readonly NpgsqlDataSource dataSource;
    private readonly GroupCommit<PendingMove, CallRow?> writes;

    public CallMoves(NpgsqlDataSource dataSource)
    {
        this.dataSource = dataSource;
        writes = new GroupCommit<PendingMove, CallRow?>(MoveTogetherAsync, move => move.CallSid);
    }

    private sealed record PendingMove(string CallSid, string Stage, string? LanguageCode);

    /// <summary>
    /// Moves the caller to an IVR step (and, when given, a language the worker's identity then
    /// prefers) and returns the call once that is committed; null for a CallSid never seen.
    /// </summary>
    public Task<CallRow?> MoveAsync(string callSid, string stage, string? languageCode, CancellationToken cancellationToken) =>
        writes.WriteAsync(new PendingMove(callSid, stage, languageCode), cancellationToken);

    private async Task<IReadOnlyList<CallRow?>> MoveTogetherAsync(IReadOnlyList<PendingMove> batch)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        var rows = await connection.QueryAsync<CallRow>(new CommandDefinition($"""
            WITH input AS (
                SELECT * FROM unnest(@callSids::text[], @stages::text[], @languageCodes::text[]) AS i(sid, new_stage, new_language)
            ), moved AS (
                UPDATE calls SET stage = input.new_stage, language_code = coalesce(input.new_language, calls.language_code)
                FROM input WHERE calls.call_sid = input.sid
                RETURNING calls.*, input.new_language
            ), preference AS (
                UPDATE caller_identities SET preferred_language = moved.new_language
                FROM moved
                WHERE moved.new_language IS NOT NULL AND caller_identities.id = moved.caller_identity_id
                  AND caller_identities.preferred_language IS DISTINCT FROM moved.new_language
            )
            SELECT {CallStore.CallColumns} FROM moved
            """,
            new
            {
                callSids = batch.Select(move => move.CallSid).ToArray(),
                stages = batch.Select(move => move.Stage).ToArray(),
                languageCodes = batch.Select(move => move.LanguageCode).ToArray(),
            }));
        var moved = rows.ToDictionary(row => row.CallSid, StringComparer.Ordinal);
        return [.. batch.Select(move => moved.GetValueOrDefault(move.CallSid))];
    }
}
