using System.Text.Json;
using Dapper;
using Npgsql;

namespace WsrHotline.Intake;

/// <summary>Who wrote a timeline entry.</summary>
public enum TimelineActor
{
    System,
    Staff,
    Worker,
    Buyer,
}

/// <summary>
/// The case file: every transition, message, call, note, escalation and disclosure is appended here,
/// in the same transaction as the change it records. The table refuses updates and deletes.
/// Details must never hold a worker's number, name or words in clear text.
/// </summary>
public static class Timeline
{
    public static Task AppendAsync(
        NpgsqlConnection connection, NpgsqlTransaction? transaction, long complaintId,
        TimelineActor actor, int? staffId, string kind, object? details, CancellationToken cancellationToken) =>
        connection.ExecuteAsync(new CommandDefinition("""
            INSERT INTO case_timeline (complaint_id, actor_kind, actor_staff_id, kind, details)
            VALUES (@complaintId, @actor, @staffId, @kind, @details::jsonb)
            """,
            new
            {
                complaintId,
                actor = actor.ToString().ToLowerInvariant(),
                staffId,
                kind,
                details = JsonSerializer.Serialize(details ?? new { }),
            },
            transaction, cancellationToken: cancellationToken));

    /// <summary>
    /// Many entries of one kind, by the system, at one time, in one statement: the deadline sweep
    /// records thousands of breaches at once. Each entry is a complaint and its details, already JSON.
    /// </summary>
    public static Task AppendManyAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, string kind, DateTimeOffset occurredAt,
        IReadOnlyList<(long ComplaintId, string Details)> entries, CancellationToken cancellationToken) =>
        connection.ExecuteAsync(new CommandDefinition("""
            INSERT INTO case_timeline (complaint_id, occurred_at, actor_kind, kind, details)
            SELECT u.complaint_id, @occurredAt, 'system', @kind, u.details::jsonb
            FROM unnest(@complaintIds, @details) AS u (complaint_id, details)
            """,
            new
            {
                occurredAt,
                kind,
                complaintIds = entries.Select(e => e.ComplaintId).ToArray(),
                details = entries.Select(e => e.Details).ToArray(),
            },
            transaction, cancellationToken: cancellationToken));
}
