using Dapper;
using Npgsql;
using WsrHotline.Intake;

namespace WsrHotline.Voice;

/// <summary>
/// The first write of every call: the caller's identity (unless the number is withheld) and the call
/// row, by CallSid, in one transaction. A retried webhook finds its row instead of creating a second.
/// </summary>
public sealed class CallStarts(NpgsqlDataSource dataSource, CallStore calls, CallerIdentities identities)
{
    /// <summary>The call for this CallSid, created in <paramref name="stage"/> on first sight.</summary>
    public async Task<CallRow> EnsureInboundAsync(VoiceForm form, string stage, CancellationToken cancellationToken)
    {
        var number = CallerNumber.Normalize(form.From);
        var status = string.IsNullOrEmpty(form.CallStatus) ? "ringing" : form.CallStatus;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        long? identityId = number is null
            ? null
            : await identities.FindOrCreateAsync(connection, transaction, number, preferredLanguage: null, cancellationToken);
        var created = await connection.QuerySingleOrDefaultAsync<CallRow>(new CommandDefinition($"""
            INSERT INTO calls (call_sid, direction, caller_identity_id, status, status_rank, stage)
            VALUES (@CallSid, 'inbound', @identityId, @status, @rank, @stage)
            ON CONFLICT (call_sid) DO NOTHING
            RETURNING {CallStore.CallColumns}
            """,
            new { form.CallSid, identityId, status, rank = CallStore.StatusRank(status), stage },
            transaction, cancellationToken: cancellationToken));
        await transaction.CommitAsync(cancellationToken);
        return created
            // Created by an earlier or concurrent webhook for the same CallSid.
            ?? await calls.FindAsync(form.CallSid, cancellationToken)
            ?? throw new InvalidOperationException("A call row was neither created nor found for its CallSid.");
    }
}
