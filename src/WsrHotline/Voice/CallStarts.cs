using Dapper;
using Npgsql;
using WsrHotline.Database;
using WsrHotline.Intake;
using WsrHotline.Pii;

namespace WsrHotline.Voice;

/// <summary>
/// The first statement of every call: the caller's identity (unless the number is withheld) and the
/// call row, by CallSid. Concurrent calls share it (<see cref="SharedStatement{TItem, TResult}"/>):
/// each webhook answers once its own row is committed, and a retried webhook finds its row instead
/// of creating a second.
/// </summary>
public sealed class CallStarts(NpgsqlDataSource dataSource, CallStore calls, PiiProtector pii)
{
    private readonly SharedStatement<Start, CallRow> _statement = new(batch => StartTogetherAsync(dataSource, batch), start => start.CallSid);

    /// <summary>A call to store; the number is hashed and encrypted already, on the request's thread.</summary>
    private sealed record Start(string CallSid, byte[]? Lookup, string? Encrypted, string Status, short StatusRank, string Stage);

    /// <summary>The call for this CallSid, created in <paramref name="stage"/> on first sight.</summary>
    public async Task<CallRow> EnsureInboundAsync(VoiceForm form, string stage, CancellationToken cancellationToken)
    {
        var number = CallerNumber.Normalize(form.From);
        var status = string.IsNullOrEmpty(form.CallStatus) ? "ringing" : form.CallStatus;
        // The identity as CallerIdentities.FindOrCreateAsync makes it: keyed hash, encrypted number.
        var start = new Start(
            form.CallSid,
            number is null ? null : pii.LookupHash(number, PiiPurpose.CallerPhone),
            number is null ? null : pii.Encrypt(number, PiiPurpose.CallerPhone),
            status,
            CallStore.StatusRank(status),
            stage);
        return await _statement.RunAsync(start, cancellationToken)
            // Created by a concurrent webhook for the same CallSid that committed after this statement began.
            ?? await calls.FindAsync(form.CallSid, cancellationToken)
            ?? throw new InvalidOperationException("A call row was neither created nor found for its CallSid.");
    }

    private static async Task<IReadOnlyDictionary<string, CallRow>> StartTogetherAsync(NpgsqlDataSource dataSource, IReadOnlyList<Start> batch)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        // Rows in key order, so two statements in flight at once lock shared keys in the same order.
        // One identity per number even when two calls from it share the statement. The calls this
        // statement inserts are not visible to its last SELECT: that finds the ones that existed before.
        var rows = await connection.QueryAsync<CallRow>(new CommandDefinition($"""
            WITH input AS (
                SELECT * FROM unnest(@callSids::text[], @lookups::bytea[], @encrypted::text[], @statuses::text[], @ranks::smallint[], @stages::text[])
                    AS i(sid, lookup, encrypted, status, status_rank, stage)
            ), identity AS (
                INSERT INTO caller_identities (phone_lookup, phone_encrypted)
                SELECT DISTINCT ON (lookup) lookup, encrypted FROM input WHERE lookup IS NOT NULL ORDER BY lookup
                ON CONFLICT (phone_lookup) DO UPDATE SET phone_lookup = excluded.phone_lookup
                RETURNING id, phone_lookup
            ), inserted AS (
                INSERT INTO calls (call_sid, direction, caller_identity_id, status, status_rank, stage)
                SELECT input.sid, 'inbound', identity.id, input.status, input.status_rank, input.stage
                FROM input LEFT JOIN identity ON identity.phone_lookup = input.lookup
                ORDER BY input.sid
                ON CONFLICT (call_sid) DO NOTHING
                RETURNING {CallStore.CallColumns}
            )
            SELECT * FROM inserted
            UNION ALL
            SELECT {CallStore.CallColumns} FROM calls WHERE call_sid = ANY(@callSids)
            """,
            new
            {
                callSids = batch.Select(start => start.CallSid).ToArray(),
                lookups = batch.Select(start => start.Lookup).ToArray(),
                encrypted = batch.Select(start => start.Encrypted).ToArray(),
                statuses = batch.Select(start => start.Status).ToArray(),
                ranks = batch.Select(start => start.StatusRank).ToArray(),
                stages = batch.Select(start => start.Stage).ToArray(),
            }));
        return rows.ToDictionary(row => row.CallSid, StringComparer.Ordinal);
    }
}
