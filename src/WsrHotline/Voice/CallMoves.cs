using Dapper;
using Npgsql;

namespace WsrHotline.Voice;

/// <summary>The IVR's stage moves: one statement per webhook, answered once it is committed.</summary>
public sealed class CallMoves(NpgsqlDataSource dataSource)
{
    /// <summary>
    /// Moves the caller to an IVR step (and, when given, a language the worker's identity then
    /// prefers) and returns the call once that is committed; null for a CallSid never seen.
    /// </summary>
    public async Task<CallRow?> MoveAsync(string callSid, string stage, string? languageCode, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<CallRow>(new CommandDefinition($"""
            WITH moved AS (
                UPDATE calls SET stage = @stage, language_code = coalesce(@languageCode, language_code)
                WHERE call_sid = @callSid
                RETURNING *
            ), preference AS (
                UPDATE caller_identities SET preferred_language = @languageCode
                FROM moved
                WHERE @languageCode IS NOT NULL AND caller_identities.id = moved.caller_identity_id
                  AND caller_identities.preferred_language IS DISTINCT FROM @languageCode
            )
            SELECT {CallStore.CallColumns} FROM moved
            """,
            new { callSid, stage, languageCode }, cancellationToken: cancellationToken));
    }
}
