using Dapper;
using Npgsql;
using WsrHotline.Intake;

namespace WsrHotline.Deadlines;

/// <summary>
/// A complaint's clocks: one <c>deadlines</c> row per stage, opened, met and recomputed in the
/// transaction of the change that causes it, each change on the timeline. The policy is
/// <c>clock_policies</c> (the "Clocks" configuration, copied at start). The ladder that acts on the
/// clocks is <see cref="Escalation.DeadlineSweep"/>.
/// </summary>
public static class ComplaintClocks
{
    /// <summary>The lifecycle in order, and the stage clocks each status meets (with the ones before it).</summary>
    private static readonly Dictionary<string, string[]> MetByStatus = new(StringComparer.Ordinal)
    {
        ["received"] = [],
        ["acknowledged"] = [ClockKinds.Acknowledged],
        ["investigating"] = [ClockKinds.Acknowledged, ClockKinds.InvestigationStarted],
        ["resolution_proposed"] = [ClockKinds.Acknowledged, ClockKinds.InvestigationStarted, ClockKinds.ResolutionProposed],
        ["resolved"] = [ClockKinds.Acknowledged, ClockKinds.InvestigationStarted, ClockKinds.ResolutionProposed, ClockKinds.Resolved],
        ["verified"] = [ClockKinds.Acknowledged, ClockKinds.InvestigationStarted, ClockKinds.ResolutionProposed, ClockKinds.Resolved, ClockKinds.Verified],
    };

    /// <summary>Statuses that end the complaint's own clocks (every one still open is closed).</summary>
    public static readonly IReadOnlySet<string> SideExits = new HashSet<string>(StringComparer.Ordinal)
    {
        "not_substantiated", "rejected", "referred",
    };

    /// <summary>
    /// Opens the clocks that run from the complaint's opening, per its severity; called by
    /// <see cref="Complaints.OpenAsync"/> in its transaction.
    /// </summary>
    public static async Task OpenForNewComplaintAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, long complaintId, CancellationToken cancellationToken)
    {
        var opened = await OpenStagesAsync(connection, transaction, complaintId, null, "opened",
            [ClockKinds.Acknowledged, ClockKinds.FirstContact, ClockKinds.InvestigationStarted, ClockKinds.ResolutionProposed, ClockKinds.Resolved],
            cancellationToken);
        if (opened.Count > 0)
        {
            await Timeline.AppendAsync(connection, transaction, complaintId, TimelineActor.System, null, "clocks.opened",
                new { clocks = opened }, cancellationToken);
        }
    }

    /// <summary>
    /// For the case-work code, in the transaction that moves the complaint to <paramref name="newStatus"/>
    /// (the caller updates <c>complaints.status</c> and writes its own transition entry): meets the stage
    /// clocks the status reaches, closes every clock on a side exit, and on resolution opens the
    /// verification clock, schedules the retaliation check-ins and sets <c>closed_at</c>.
    /// </summary>
    public static async Task OnStatusChangedAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, long complaintId, string newStatus, DateTimeOffset at,
        int? staffId, CancellationToken cancellationToken)
    {
        if (SideExits.Contains(newStatus))
        {
            await StopAsync(connection, transaction, complaintId, null, "closed", at, staffId, cancellationToken);
            await SetClosedAsync(connection, transaction, complaintId, at, cancellationToken);
            return;
        }
        if (!MetByStatus.TryGetValue(newStatus, out var met))
        {
            throw new ArgumentException($"Unknown complaint status '{newStatus}'.", nameof(newStatus));
        }
        await StopAsync(connection, transaction, complaintId, met, "met", at, staffId, cancellationToken);
        if (newStatus == "resolved")
        {
            // Resolved: whatever is still running (first contact never recorded) no longer applies.
            await StopAsync(connection, transaction, complaintId, null, "closed", at, staffId, cancellationToken);
            var opened = await OpenStagesAsync(connection, transaction, complaintId, at, "resolved", [ClockKinds.Verified], cancellationToken);
            if (opened.Count > 0)
            {
                await Timeline.AppendAsync(connection, transaction, complaintId, TimelineActor.System, null, "clocks.opened",
                    new { clocks = opened }, cancellationToken);
            }
            await SetClosedAsync(connection, transaction, complaintId, at, cancellationToken);
            await Escalation.RetaliationWatch.ScheduleAsync(connection, transaction, complaintId, at, cancellationToken);
        }
        else if (newStatus == "verified")
        {
            await SetClosedAsync(connection, transaction, complaintId, at, cancellationToken);
        }
    }

    /// <summary>
    /// An outbound message or call to the worker by staff: meets the first-contact clock (the
    /// messaging and console code call this in the transaction that records the contact).
    /// </summary>
    public static Task MeetFirstContactAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, long complaintId, DateTimeOffset at, int? staffId,
        CancellationToken cancellationToken) =>
        StopAsync(connection, transaction, complaintId, [ClockKinds.FirstContact], "met", at, staffId, cancellationToken);

    /// <summary>
    /// After a reclassification (the caller changed <c>complaints.severity</c> in this transaction):
    /// every open stage clock takes the new severity's length from its start, and the sweep looks at
    /// it again at once (a tighter clock may already be past its warning or due time).
    /// </summary>
    public static async Task RecomputeAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, long complaintId, DateTimeOffset at, int? staffId,
        CancellationToken cancellationToken)
    {
        var changed = (await connection.QueryAsync<(string Kind, DateTime OldDue, DateTime NewDue)>(new CommandDefinition("""
            WITH old AS (
                SELECT d.id, d.due_at FROM deadlines d
                WHERE d.complaint_id = @complaintId AND d.met_at IS NULL AND d.callback_task_id IS NULL
                FOR UPDATE
            )
            UPDATE deadlines d
            SET due_at = d.starts_at + p.due_after, next_check_at = @at
            FROM old, complaints c, clock_policies p
            WHERE d.id = old.id AND c.id = d.complaint_id AND p.severity = c.severity AND p.kind = d.kind
            RETURNING d.kind, old.due_at, d.due_at
            """, new { complaintId, at }, transaction, cancellationToken: cancellationToken))).ToList();
        if (changed.Count > 0)
        {
            await Timeline.AppendAsync(connection, transaction, complaintId, staffId is null ? TimelineActor.System : TimelineActor.Staff, staffId,
                "clocks.recomputed", new { clocks = changed.Select(c => new { kind = c.Kind, old_due_at = c.OldDue, due_at = c.NewDue }) },
                cancellationToken);
        }
    }

    /// <summary>
    /// A resolved or closed complaint reopened (the caller set its status and severity in this
    /// transaction): the verification clock closes and first contact, the proposal and the resolution
    /// run again from now, on the complaint's (new) severity.
    /// </summary>
    public static async Task OnReopenedAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, long complaintId, DateTimeOffset at, CancellationToken cancellationToken)
    {
        await StopAsync(connection, transaction, complaintId, [ClockKinds.Verified], "closed", at, null, cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE complaints SET closed_at = NULL WHERE id = @complaintId", new { complaintId }, transaction, cancellationToken: cancellationToken));
        var opened = await OpenStagesAsync(connection, transaction, complaintId, at, "opened",
            [ClockKinds.FirstContact, ClockKinds.ResolutionProposed, ClockKinds.Resolved], cancellationToken);
        await Timeline.AppendAsync(connection, transaction, complaintId, TimelineActor.System, null, "clocks.opened",
            new { clocks = opened, reopened = true }, cancellationToken);
    }

    private static Task<int> SetClosedAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, long complaintId, DateTimeOffset at, CancellationToken cancellationToken) =>
        connection.ExecuteAsync(new CommandDefinition(
            "UPDATE complaints SET closed_at = coalesce(closed_at, @at) WHERE id = @complaintId",
            new { complaintId, at }, transaction, cancellationToken: cancellationToken));

    /// <summary>Opens the named stage clocks from <paramref name="startsAt"/> (null: the complaint's opening); an open one stays.</summary>
    private static async Task<List<OpenedClock>> OpenStagesAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, long complaintId, DateTimeOffset? startsAt, string anchor,
        string[] kinds, CancellationToken cancellationToken) =>
        (await connection.QueryAsync<OpenedClock>(new CommandDefinition("""
            INSERT INTO deadlines (complaint_id, kind, starts_at, due_at, next_check_at)
            SELECT c.id, p.kind, s.starts_at, s.starts_at + p.due_after,
                   s.starts_at + (p.due_after * p.warn_fraction)
            FROM complaints c
            CROSS JOIN LATERAL (SELECT coalesce(@startsAt, c.opened_at) AS starts_at) s
            JOIN clock_policies p ON p.severity = c.severity AND p.anchor = @anchor AND p.kind = ANY(@kinds)
            WHERE c.id = @complaintId
            ON CONFLICT (complaint_id, kind) WHERE met_at IS NULL AND callback_task_id IS NULL DO NOTHING
            RETURNING kind, due_at
            """, new { complaintId, startsAt, anchor, kinds }, transaction, cancellationToken: cancellationToken))).ToList();

    /// <summary>Stops the open clocks of these kinds (null: every open clock) as met or closed, on the timeline.</summary>
    private static async Task StopAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, long complaintId, string[]? kinds, string reason,
        DateTimeOffset at, int? staffId, CancellationToken cancellationToken)
    {
        var stopped = (await connection.QueryAsync<(string Kind, DateTime DueAt, bool Late)>(new CommandDefinition("""
            UPDATE deadlines SET met_at = @at, met_reason = @reason, next_check_at = NULL
            WHERE complaint_id = @complaintId AND met_at IS NULL AND (@kinds::text[] IS NULL OR kind = ANY(@kinds))
            RETURNING kind, due_at, due_at < @at
            """, new { complaintId, kinds, reason, at }, transaction, cancellationToken: cancellationToken))).ToList();
        foreach (var clock in stopped)
        {
            await Timeline.AppendAsync(connection, transaction, complaintId, staffId is null ? TimelineActor.System : TimelineActor.Staff, staffId,
                reason == "met" ? "clock.met" : "clock.closed", new { kind = clock.Kind, due_at = clock.DueAt, late = clock.Late }, cancellationToken);
        }
    }

    /// <summary>
    /// A callback task was done in this transaction (Voice's <c>callback_tasks.done_at</c>; migration
    /// 0005's trigger met its clock): the met clock on the timeline, like every other clock's.
    /// </summary>
    public static async Task RecordCallbackMetAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, long complaintId, long callbackTaskId, int? staffId,
        CancellationToken cancellationToken)
    {
        var met = await connection.QuerySingleOrDefaultAsync<(DateTime DueAt, bool Late)?>(new CommandDefinition("""
            SELECT due_at, due_at < met_at FROM deadlines WHERE callback_task_id = @callbackTaskId AND met_reason = 'met'
            """, new { callbackTaskId }, transaction, cancellationToken: cancellationToken));
        if (met is { } clock)
        {
            await Timeline.AppendAsync(connection, transaction, complaintId, staffId is null ? TimelineActor.System : TimelineActor.Staff, staffId,
                "clock.met", new { kind = ClockKinds.Callback, due_at = clock.DueAt, late = clock.Late, callback_id = callbackTaskId }, cancellationToken);
        }
    }

    private sealed record OpenedClock(string Kind, DateTime DueAt);
}
