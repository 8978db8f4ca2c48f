using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using WsrHotline.LiveEvents;

namespace WsrHotline.Escalation;

/// <summary>
/// Keeping the 24/7 promise: every hour of the next 72 (<see cref="EscalationOptions.CoverageHorizon"/>)
/// in which an active hotline language is not covered from start to end by the shifts of active staff
/// (any tier) is a coverage gap. The gaps are kept in <c>coverage_gaps</c>; when they change, the
/// coordinators' dashboard is told.
/// </summary>
public sealed partial class CoverageCheck(
    NpgsqlDataSource dataSource, TimeProvider time, IOptions<EscalationOptions> options, ILogger<CoverageCheck> logger)
{
    /// <summary>Recomputes the gaps; returns how many there are now.</summary>
    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        // One coverage run at a time (two instances' jobs would fight over the same rows).
        await connection.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_xact_lock(7712)", transaction: transaction, cancellationToken: cancellationToken));
        var changes = await connection.QuerySingleAsync<(int Added, int Removed, int Total)>(new CommandDefinition("""
            WITH hours AS (
                SELECT h FROM generate_series(date_trunc('hour', @now), date_trunc('hour', @now) + @horizon - interval '1 hour', interval '1 hour') AS h
            ),
            covered AS (
                SELECT o.language_code, range_agg(tstzrange(o.starts_at, o.ends_at)) AS on_call
                FROM oncall_shifts o JOIN staff s ON s.id = o.staff_id AND s.active
                WHERE o.ends_at > date_trunc('hour', @now) AND o.starts_at < date_trunc('hour', @now) + @horizon
                GROUP BY o.language_code
            ),
            gaps AS (
                SELECT l.code AS language_code, hours.h AS hour_start
                FROM languages l CROSS JOIN hours LEFT JOIN covered c ON c.language_code = l.code
                WHERE l.active AND NOT coalesce(c.on_call @> tstzrange(hours.h, hours.h + interval '1 hour'), false)
            ),
            removed AS (
                DELETE FROM coverage_gaps g
                WHERE NOT EXISTS (SELECT 1 FROM gaps WHERE gaps.language_code = g.language_code AND gaps.hour_start = g.hour_start)
                RETURNING g.hour_start >= date_trunc('hour', @now) AS still_ahead
            ),
            added AS (
                INSERT INTO coverage_gaps (language_code, hour_start, detected_at)
                SELECT language_code, hour_start, @now FROM gaps
                ON CONFLICT DO NOTHING
                RETURNING 1
            )
            SELECT (SELECT count(*) FROM added)::int, (SELECT count(*) FROM removed WHERE still_ahead)::int, (SELECT count(*) FROM gaps)::int
            """, new { now, horizon = options.Value.CoverageHorizon }, transaction, cancellationToken: cancellationToken));
        if (changes.Added > 0 || changes.Removed > 0)
        {
            await ConsoleEvents.AppendAsync(connection, transaction, ConsoleEventKinds.Dashboard, Audience.Coordinators, null,
                new { reason = "coverage", gaps = changes.Total, added = changes.Added, filled = changes.Removed }, cancellationToken);
            LogChanged(logger, changes.Total, changes.Added, changes.Removed);
        }
        await transaction.CommitAsync(cancellationToken);
        return changes.Total;
    }

    [LoggerMessage(EventId = 6021, Level = LogLevel.Information, Message = "Coverage gaps in the rota: {Total} hour(s) ({Added} new, {Filled} filled)")]
    private static partial void LogChanged(ILogger logger, int total, int added, int filled);
}
