using Dapper;
using Npgsql;
using WsrHotline.LiveEvents;

namespace WsrHotline.Voice;

/// <summary>An investigator on call, as the ringing tiers need them.</summary>
public sealed record OnCallStaff(int StaffId, string Phone);

/// <summary>A leg rung for a call: one investigator's phone.</summary>
public sealed record CallLeg(long Id, long CallId, int StaffId, int Tier, string? LegCallSid, string Status);

/// <summary>The rota lookup and the legs (outbound calls to investigators' phones) of each inbound call.</summary>
public sealed class CallLegs(NpgsqlDataSource dataSource)
{
    /// <summary>Who covers this language on this tier at this instant, with a phone to ring.</summary>
    public async Task<IReadOnlyList<OnCallStaff>> OnCallAsync(string language, int tier, DateTimeOffset at, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<OnCallStaff>(new CommandDefinition($"""
            SELECT DISTINCT s.id AS staff_id, s.phone_e164 AS phone
            FROM oncall_shifts o
            JOIN staff s ON s.id = o.staff_id
            WHERE o.language_code = @language AND o.tier = @tier
              AND o.starts_at <= @at AND o.ends_at > @at
              AND s.active AND s.phone_e164 IS NOT NULL
              AND {CallPresence.FreeForCalls("s")}
            ORDER BY s.id
            """, new { language, tier, at }, cancellationToken: cancellationToken));
        return [.. rows];
    }

    /// <summary>The tiers above <paramref name="afterTier"/> that anyone covers now, lowest first.</summary>
    public async Task<int?> NextCoveredTierAsync(string language, int afterTier, DateTimeOffset at, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.ExecuteScalarAsync<int?>(new CommandDefinition($"""
            SELECT min(o.tier)::int
            FROM oncall_shifts o JOIN staff s ON s.id = o.staff_id
            WHERE o.language_code = @language AND o.tier > @afterTier
              AND o.starts_at <= @at AND o.ends_at > @at AND s.active AND s.phone_e164 IS NOT NULL
              AND {CallPresence.FreeForCalls("s")}
            """, new { language, afterTier, at }, cancellationToken: cancellationToken));
    }

    /// <summary>
    /// Records that a tier is being rung and creates its legs; returns only the legs created now, so a
    /// repeated wait request never rings a phone twice.
    /// </summary>
    public async Task<IReadOnlyList<(CallLeg Leg, string Phone)>> StartTierAsync(
        long callId, int tier, int queueTime, IReadOnlyList<OnCallStaff> staff, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var moved = await connection.ExecuteAsync(new CommandDefinition("""
            UPDATE calls SET tier_rung = @tier, tier_rung_queue_time = @queueTime,
                             routing_started_at = coalesce(routing_started_at, now())
            WHERE id = @callId AND tier_rung < @tier
            """, new { callId, tier, queueTime }, transaction, cancellationToken: cancellationToken));
        var created = new List<(CallLeg, string)>();
        if (moved > 0)
        {
            foreach (var person in staff)
            {
                var leg = await connection.QuerySingleOrDefaultAsync<CallLeg>(new CommandDefinition("""
                    INSERT INTO call_legs (call_id, staff_id, tier) VALUES (@callId, @StaffId, @tier)
                    ON CONFLICT (call_id, staff_id, tier) DO NOTHING
                    RETURNING id, call_id, staff_id, tier::int AS tier, leg_call_sid, status
                    """, new { callId, person.StaffId, tier }, transaction, cancellationToken: cancellationToken));
                if (leg is not null)
                {
                    created.Add((leg, person.Phone));
                }
            }
        }
        await transaction.CommitAsync(cancellationToken);
        return created;
    }

    public async Task SetLegSidAsync(long legId, string? legCallSid, string status, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition("""
            UPDATE call_legs SET leg_call_sid = coalesce(@legCallSid, leg_call_sid), status = @status,
                                 status_rank = @rank, ended_at = CASE WHEN @rank = 5 THEN now() ELSE ended_at END
            WHERE id = @legId
            """, new { legId, legCallSid, status, rank = CallStore.StatusRank(status) }, cancellationToken: cancellationToken));
    }

    public async Task<CallLeg?> FindAsync(long legId, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<CallLeg>(new CommandDefinition(
            "SELECT id, call_id, staff_id, tier::int AS tier, leg_call_sid, status FROM call_legs WHERE id = @legId",
            new { legId }, cancellationToken: cancellationToken));
    }

    /// <summary>Whether every leg of the tier has ended without anyone accepting.</summary>
    public async Task<bool> TierExhaustedAsync(long callId, int tier, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.ExecuteScalarAsync<bool>(new CommandDefinition("""
            SELECT NOT EXISTS (SELECT 1 FROM call_legs
                               WHERE call_id = @callId AND tier = @tier
                                 AND status NOT IN ('declined', 'completed', 'busy', 'no-answer', 'canceled', 'failed'))
            """, new { callId, tier }, cancellationToken: cancellationToken));
    }

    /// <summary>
    /// The leg answered and its investigator pressed 1: the first to do so takes the call, is on it
    /// from now (no other call is offered to them), and the consoles that show its offer see it taken.
    /// </summary>
    public async Task<bool> ClaimAsync(CallLeg leg, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var claimed = await connection.QuerySingleOrDefaultAsync<(long? ComplaintId, string? LanguageCode, string? CaseNumber, string DisplayName)?>(new CommandDefinition("""
            WITH claimed AS (
                UPDATE calls SET answered_by = @StaffId, answered_at = now()
                WHERE id = @CallId AND answered_by IS NULL AND stage = 'connect' AND status_rank < 5
                RETURNING complaint_id, language_code
            )
            SELECT claimed.complaint_id, claimed.language_code, k.case_number, s.display_name
            FROM claimed JOIN staff s ON s.id = @StaffId LEFT JOIN complaints k ON k.id = claimed.complaint_id
            """, leg, transaction, cancellationToken: cancellationToken));
        if (claimed is { } call)
        {
            await connection.ExecuteAsync(new CommandDefinition(
                "UPDATE call_legs SET status = 'accepted', answered_at = coalesce(answered_at, now()) WHERE id = @Id",
                leg, transaction, cancellationToken: cancellationToken));
            await CallPresence.OnCallAsync(connection, transaction, leg.StaffId, leg.CallId, cancellationToken);
            if (call.LanguageCode is { } language)
            {
                await ConsoleEvents.AppendAsync(connection, transaction, ConsoleEventKinds.CallTaken, Audience.Language(language), call.ComplaintId,
                    new { callId = leg.CallId, caseNumber = call.CaseNumber, staffId = leg.StaffId, staffName = call.DisplayName }, cancellationToken);
            }
        }
        await transaction.CommitAsync(cancellationToken);
        return claimed is not null;
    }

    public async Task MarkAsync(long legId, string status, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE call_legs SET status = @status, answered_at = coalesce(answered_at, now()) WHERE id = @legId AND status <> 'accepted'",
            new { legId, status }, cancellationToken: cancellationToken));
    }

    /// <summary>Applies a leg's status callback; true when this is the one that ended it (first terminal status).</summary>
    public async Task<bool> ApplyStatusAsync(long legId, string status, int? durationSeconds, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rank = CallStore.StatusRank(status);
        // 'accepted' and 'declined' are our own outcomes of an answered leg: keep them, add the times.
        var changed = await connection.ExecuteAsync(new CommandDefinition("""
            UPDATE call_legs SET status = CASE WHEN status IN ('accepted', 'declined') THEN status ELSE @status END,
                                 status_rank = @rank,
                                 duration_seconds = coalesce(@durationSeconds, duration_seconds),
                                 ended_at = CASE WHEN @rank = 5 THEN now() ELSE ended_at END
            WHERE id = @legId AND status_rank < @rank
            """, new { legId, status, rank, durationSeconds }, cancellationToken: cancellationToken));
        return changed > 0 && rank == 5;
    }
}
